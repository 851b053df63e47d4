"""Rows of the marketing classifiers: one per customer and category (propensity) with its label, and one per
treated campaign contact (response), each with the customer's features as of the right date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.c360 import inputs as c360_inputs
from pmkt.libs.config import FeaturesConfig
from pmkt.libs.errors import MissingInput
from pmkt.libs.lake import Lake


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


def contact_rows(
    features: DataFrame, contacts: DataFrame, campaigns: DataFrame, treated_only: bool = True
) -> DataFrame:
    """Contacts (treated ones only, by default) with their `group`, the customer's features as of the campaign
    start and the offer's attributes."""
    offers = campaigns.select("campaign_id", "offer_category", F.col("start_date").alias("snapshot_date"))
    grouped = contacts.withColumn("group", F.coalesce(F.col("group"), F.lit("treatment")))
    chosen = grouped.where(F.col("group") == "treatment") if treated_only else grouped
    joined = chosen.join(F.broadcast(offers), on="campaign_id", how="inner").join(
        features.drop("campaign_contacts"), on=["customer_id", "snapshot_date"], how="left"
    )
    return joined.withColumn(
        "offer_category_share", F.coalesce(F.element_at(F.col("category_shares"), F.col("offer_category")), F.lit(0.0))
    )


def campaign_history(
    lake: Lake, cfg: FeaturesConfig, model: str, treated_only: bool = True
) -> tuple[list[dt.date], DataFrame]:
    """The campaigns' start dates, at least two (earlier campaigns to train on, the last to test on), and their
    contacts with the customer's features as of each start (`contact_rows`); `model` names the job in errors."""
    for needed in ("campaign_contacts", "campaigns"):
        if not lake.exists(tables.SILVER[needed]):
            raise MissingInput(f"no silver.{tables.SILVER[needed].name} for {model}: ingest a {needed} source first")
    starts = c360_inputs.campaign_starts(lake)
    if len(starts) < 2:
        raise MissingInput(f"{model}: at least two campaigns are needed, earlier ones to train on, the last to test on")
    features = c360_inputs.materialise_snapshots(lake, c360_inputs.load(lake), starts, cfg)
    contacts, campaigns = lake.read(tables.SILVER["campaign_contacts"]), lake.read(tables.SILVER["campaigns"])
    return starts, contact_rows(features, contacts, campaigns, treated_only)
