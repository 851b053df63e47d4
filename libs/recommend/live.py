"""Fresh ALS recommendations for customers with new interactions: fold their factor in against the saved item
factors (no retraining) and rescore, new customers included."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from pmkt.libs import models, tables
from pmkt.libs.config import Config
from pmkt.libs.errors import UserError
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger
from pmkt.libs.recommend import als, interactions
from pmkt.libs.recommend.als import ITEM, RATING, USER

log = get_logger(__name__)
MODEL = "recommend_als"  # the registered ALS model `recommend` saves


@dataclass(frozen=True)
class Folding:
    """The ALS model whose item factors the stream folds customers in against."""

    model: ALSModel
    alpha: float
    reg_param: float
    version: int


def load(config: Config) -> Folding | None:
    """The registered ALS model (models.alias or models.version), or None when `recommend` has not saved one."""
    try:
        pipeline, meta, version = models.load(config, MODEL)
    except UserError as exc:
        log.warning("no fresh recommendations: %s", exc)
        return None
    model = pipeline.stages[0]
    if not isinstance(model, ALSModel):
        raise UserError(f"{MODEL} version {version} is not an ALS model")
    return Folding(model, float(meta["alpha"]), float(meta["reg_param"]), version)


def refresh(lake: Lake, config: Config, folding: Folding, customers: DataFrame, as_of: dt.datetime) -> DataFrame:
    """gold.recommendations_live rows for `customers` (customer_id): each one's `stream.top_k` best items by
    a factor folded in from every interaction in silver up to `as_of`, with the conf's exclusions (what they
    bought, or saw) left out. A customer none of whose items the model knows gets no row."""
    cfg = config.recommend
    contacts = interactions.load(lake, cfg).contacts.join(customers, on="customer_id", how="left_semi")
    strengths = interactions.strengths(contacts, cfg, as_of + dt.timedelta(microseconds=1))
    # Numbers for this batch's customers only: fold-in needs ints, and new customers have no index yet.
    users = customers.select("customer_id").distinct()
    users = users.select("customer_id", (F.dense_rank().over(Window.orderBy("customer_id")) - 1).alias(USER))
    items = lake.read(tables.PRODUCT_INDEX).select("product_id", ITEM)
    rows = (
        strengths.join(items, on="product_id", how="inner")
        .join(users, on="customer_id", how="inner")
        .select(USER, ITEM, F.col("strength").alias(RATING))
    )
    factors = als.fold_in(folding.model, rows, folding.alpha, folding.reg_param)
    excluded = interactions.excluded(contacts, cfg)
    seen = None
    if excluded is not None:
        seen = excluded.join(items, on="product_id", how="inner").join(users, on="customer_id", how="inner")
    top = als.candidates(folding.model, users, config.stream.top_k, seen=seen, user_factors=factors)
    trained = (
        lake.read(tables.CUSTOMER_INDEX)
        .join(folding.model.userFactors.select(F.col("id").alias("user_idx")), on="user_idx", how="inner")
        .select("customer_id", F.lit(False).alias("new_customer"))
    )
    ranked = F.sort_array(F.collect_list(F.struct(F.col("score"), F.col("product_id"))), asc=False)
    return (
        top.join(users, on=USER, how="inner")
        .join(items, on=ITEM, how="inner")
        .groupBy("customer_id")
        .agg(
            F.transform(
                ranked, lambda x: F.struct(x["product_id"].alias("product_id"), x["score"].alias("score"))
            ).alias("items")
        )
        .join(trained, on="customer_id", how="left")
        .select(
            "customer_id",
            "items",
            F.coalesce(F.col("new_customer"), F.lit(True)).alias("new_customer"),
            F.lit(as_of).alias("as_of"),
            F.lit(folding.version).alias("model_version"),
            F.current_timestamp().alias("folded_at"),
        )
    )
