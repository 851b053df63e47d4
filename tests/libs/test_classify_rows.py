"""The marketing classifiers' rows on tiny DataFrames: customer x category with its label window, and treated
contacts with the features of their campaign's start."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession

from pmkt.libs.classify import rows

CUTOFF = dt.date(2025, 3, 1)


def test_category_rows_carry_the_customers_share_of_each_category(spark: SparkSession) -> None:
    features = spark.createDataFrame(
        [("C1", {"shoes": 0.7, "bags": 0.3}), ("C2", None)], "customer_id string, category_shares map<string,double>"
    )
    got = {
        (r.customer_id, r.category): r.category_share for r in rows.category_rows(features, ["shoes", "hats"]).collect()
    }
    assert got == {("C1", "shoes"): 0.7, ("C1", "hats"): 0.0, ("C2", "shoes"): 0.0, ("C2", "hats"): 0.0}


def test_category_labels_count_purchases_in_the_horizon_only(spark: SparkSession) -> None:
    t = dt.datetime
    lines = spark.createDataFrame(
        [
            ("C1", "P1", t(2025, 3, 1)),  # on the cutoff: inside
            ("C1", "P2", t(2025, 3, 30, 23)),  # last hour of a 30-day horizon
            ("C1", "P1", t(2025, 3, 2)),  # the same category again: one label
            ("C2", "P2", t(2025, 3, 31)),  # at the horizon's end: outside
            ("C3", "P1", t(2025, 2, 28, 23)),  # before the cutoff: the features' side
            ("C4", "P9", t(2025, 3, 5)),  # a product without a category row
        ],
        "customer_id string, product_id string, order_ts timestamp",
    )
    products = spark.createDataFrame([("P1", "shoes"), ("P2", "bags")], "product_id string, category string")
    labels = rows.category_labels(lines, products, CUTOFF, 30)
    assert sorted((r.customer_id, r.category, r._bought) for r in labels.collect()) == [
        ("C1", "bags", 1.0),
        ("C1", "shoes", 1.0),
    ]


def test_contact_rows_are_treated_contacts_with_features_as_of_the_campaign_start(spark: SparkSession) -> None:
    contacts = spark.createDataFrame(
        [("K1", "A", "C1", "treatment", 1), ("K2", "A", "C2", "control", 0), ("K3", "B", "C1", None, 0)],
        "contact_id string, campaign_id string, customer_id string, group string, converted int",
    )
    campaigns = spark.createDataFrame(
        [("A", "shoes", CUTOFF), ("B", "bags", dt.date(2025, 4, 1))],
        "campaign_id string, offer_category string, start_date date",
    )
    features = spark.createDataFrame(
        [
            ("C1", CUTOFF, 10.0, {"shoes": 0.6}, 3),
            ("C1", dt.date(2025, 4, 1), 40.0, {"shoes": 0.5}, 4),
            ("C2", CUTOFF, 5.0, {"bags": 1.0}, 1),
        ],
        "customer_id string, snapshot_date date, recency_days double, category_shares map<string,double>, "
        "campaign_contacts int",
    )
    got = {
        r.contact_id: (r.recency_days, r.offer_category, r.offer_category_share)
        for r in rows.contact_rows(features, contacts, campaigns).collect()
    }
    # K2 was a control; K3 has no group, so it was a plain send; each row sees its own campaign's snapshot.
    assert got == {"K1": (10.0, "shoes", 0.6), "K3": (40.0, "bags", 0.0)}
