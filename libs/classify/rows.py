"""Rows of the marketing classifiers: one per customer and category (propensity) with its label, and one per
treated campaign contact (response), each with the customer's features as of the right date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def category_rows(features: DataFrame, categories: Sequence[str]) -> DataFrame:
    """One row per customer and category, with that customer's revenue share of the category."""
    cats = F.array(*[F.lit(c) for c in categories])
    return features.select("*", F.explode(cats).alias("category")).withColumn(
        "category_share", F.coalesce(F.element_at(F.col("category_shares"), F.col("category")), F.lit(0.0))
    )


def category_labels(lines: DataFrame, products: DataFrame, cutoff: dt.date, horizon_days: int) -> DataFrame:
    """(customer, category, _bought = 1.0) for each category the customer bought in [cutoff, cutoff + horizon)."""
    start = dt.datetime.combine(cutoff, dt.time())
    end = start + dt.timedelta(days=horizon_days)
    bought = lines.where((F.col("order_ts") >= F.lit(start)) & (F.col("order_ts") < F.lit(end)))
    return (
        bought.join(F.broadcast(products.select("product_id", "category")), on="product_id", how="inner")
        .select("customer_id", "category")
        .distinct()
        .withColumn("_bought", F.lit(1.0))
    )


def contact_rows(features: DataFrame, contacts: DataFrame, campaigns: DataFrame) -> DataFrame:
    """Treated contacts with the customer's features as of the campaign start and the offer's attributes."""
    offers = campaigns.select("campaign_id", "offer_category", F.col("start_date").alias("snapshot_date"))
    treated = contacts.where(F.coalesce(F.col("group"), F.lit("treatment")) == "treatment").join(
        F.broadcast(offers), on="campaign_id", how="inner"
    )
    joined = treated.join(features.drop("campaign_contacts"), on=["customer_id", "snapshot_date"], how="left")
    return joined.withColumn(
        "offer_category_share", F.coalesce(F.element_at(F.col("category_shares"), F.col("offer_category")), F.lit(0.0))
    )
