"""A day of new events for `pmkt stream`: browsing sessions of known customers and of a few new ones, after the
lake's latest event, generated with Spark and landed as JSON-lines files the way an app would drop them."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.frames import one
from pmkt.libs.lake import Lake
from pmkt.libs.synth.rand import Rng

CART_SHARE = 0.6  # sessions that end with the last viewed product in the cart
PURCHASE_SHARE = 0.4  # carts bought within the session
NEW_PREFIX = "N"  # new customers' ids: N<seed>-<n>, unknown to silver and to the ALS model


def latest_event(lake: Lake) -> dt.datetime:
    """The latest event time in silver: where a new day of events starts."""
    latest = one(lake.read(tables.SILVER["events"]).agg(F.max("event_ts")))[0]  # one value
    if latest is None:
        raise ValueError("silver.events is empty: run generate and ingest first")
    return latest


def day_of_events(lake: Lake, start: dt.datetime, sessions: int, new_customers: int, seed: int) -> DataFrame:
    """Event rows (the events export's columns, as strings) in the 24 hours after `start`.

    Each session views one to four products of one category over a few minutes, puts the last one in the cart
    (CART_SHARE) and buys it (PURCHASE_SHARE of carts) ten minutes later. `new_customers` of the sessions
    belong to customers nobody has seen before; the rest to known customers drawn by a hash of the seed.
    """
    rng = Rng(seed)
    spark = lake.spark
    known = (
        lake.read(tables.SILVER["customers"])
        .select("customer_id")
        .orderBy(F.xxhash64(F.lit(seed), "customer_id"))
        .limit(sessions - new_customers)  # bounded by the sessions asked for
    )
    numbered = Window.orderBy("customer_id")  # over the few sessions' customers, on one partition
    known = known.select("customer_id", (F.row_number().over(numbered) - 1 + new_customers).alias("session"))
    new = spark.range(new_customers).select(
        F.concat(F.lit(f"{NEW_PREFIX}{seed}-"), F.col("id").cast("string")).alias("customer_id"),
        F.col("id").alias("session"),
    )
    products = (
        lake.read(tables.SILVER["products"])
        .groupBy("category")
        .agg(
            F.sort_array(F.collect_list("product_id")).alias("catalogue")  # bounded by the catalogue
        )
    )
    categories = products.select(F.sort_array(F.collect_list("category")).alias("categories"))
    s = F.col("session").cast("string")
    chosen = (
        known.unionByName(new)
        .crossJoin(categories)
        .select("customer_id", "session", rng.pick("category", F.col("categories"), s).alias("category"))
        .join(products, on="category", how="inner")
        .withColumn("begin", F.lit(start) + F.make_dt_interval(secs=F.floor(rng.uniform("begin", s) * 86_000)))
        .withColumn("views", (F.floor(rng.uniform("views", s) * 4) + 1).cast("int"))
    )
    step = F.col("step")
    views = chosen.select("*", F.explode(F.sequence(F.lit(0), F.col("views") - 1)).alias("step")).select(
        "customer_id",
        "session",
        F.lit("view").alias("event_type"),
        rng.pick("product", F.col("catalogue"), s, step.cast("string")).alias("product_id"),
        (F.col("begin") + F.make_dt_interval(mins=step * 2)).alias("ts"),
        step,
    )
    last = views.join(chosen.select("session", (F.col("views") - 1).alias("step")), on=["session", "step"], how="inner")
    carted = last.where(rng.uniform("cart", s) < CART_SHARE)

    def then(df: DataFrame, event_type: str, minutes: int, step: int) -> DataFrame:
        """`event_type` on the same product, `minutes` after each row of `df`."""
        later = F.col("ts") + F.make_dt_interval(mins=F.lit(minutes))
        return df.select(
            "customer_id",
            "session",
            F.lit(event_type).alias("event_type"),
            "product_id",
            later.alias("ts"),
            F.lit(step).alias("step"),
        )

    carts = then(carted, "add_to_cart", 1, 100)
    bought = then(carted.where(rng.uniform("buy", s) < PURCHASE_SHARE), "purchase", 10, 101)
    events = views.unionByName(carts).unionByName(bought)
    return events.select(
        F.concat_ws("-", F.lit(f"L{seed}"), s, F.col("step").cast("string")).alias("event_id"),
        "customer_id",
        "product_id",
        "event_type",
        F.date_format("ts", "yyyy-MM-dd'T'HH:mm:ss").alias("event_ts"),
        rng.choice("device", ("mobile", "desktop"), (0.6, 0.4), s).alias("device"),
        F.concat(F.lit(f"L{seed}-"), s).alias("session_id"),
    )


def land(events: DataFrame, landing: str, files: int, start: dt.datetime) -> list[Path]:
    """Write `events` into `files` JSON-lines files in `landing`, one per equal slice of the day, each moved in
    whole (a rename), oldest first, so a stream never reads half a file. A local folder only (the demo's)."""
    folder = Path(landing)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}-staging"
    hours = 24 / files
    offset = (F.unix_timestamp(F.to_timestamp("event_ts")) - F.unix_timestamp(F.lit(start))) / 3600.0
    sliced = events.withColumn("_slice", F.least(F.floor(offset / hours), F.lit(files - 1)).cast("int"))
    written = []
    now = dt.datetime.now().timestamp()
    for k in range(files):
        part = staging / str(k)
        sliced.where(F.col("_slice") == k).drop("_slice").orderBy("event_ts", "event_id").coalesce(1).write.mode(
            "overwrite"
        ).json(str(part))
        target = folder / f"events-{start:%Y%m%d}-{k:02d}.json"
        os.replace(next(part.glob("part-*.json")), target)
        os.utime(target, (now + k, now + k))  # a stream takes files oldest first: the day's order
        written.append(target)
    shutil.rmtree(staging, ignore_errors=True)
    return written
