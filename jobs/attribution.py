"""`attribution`: which channel earns the orders: first/last touch, linear, time decay and Markov removal effects."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession, Window, WindowSpec
from pyspark.sql import functions as F

from pmkt.libs import tables, tracking
from pmkt.libs.attribution import credit, markov, paths
from pmkt.libs.config import Config
from pmkt.libs.errors import MissingInput
from pmkt.libs.frames import one
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.metrics import Metric, append_metrics
from pmkt.libs.runner import run_job

log = get_logger(__name__)
MODEL = "attribution"


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.attribution
    lake = Lake(spark, config.lake)
    for needed in ("campaign_contacts", "transactions"):
        if not lake.exists(tables.SILVER[needed]):
            raise MissingInput(f"attribution needs silver.{tables.SILVER[needed].name}: ingest a {needed} source first")
    contacts, lines = lake.read(tables.SILVER["campaign_contacts"]), lake.read(tables.SILVER["transactions"])
    latest = one(contacts.agg(F.max("sent_ts")))[0]
    if latest is None:
        raise MissingInput("silver.campaign_contacts has no contacts to attribute")
    end = max(latest, one(lines.agg(F.max("order_ts")))[0] or latest) + dt.timedelta(seconds=1)
    start = end - dt.timedelta(days=cfg.days)
    with (
        tracking.model_run(lake, config, MODEL, cfg) as run_id,
        timed(log, f"attribution of orders from {start:%Y-%m-%d} to {end:%Y-%m-%d}") as stats,
    ):
        touched = paths.touches(contacts, start, end).cache()
        found = paths.paths(touched, paths.orders(lines, start, end), cfg.window_days, end).cache()
        counts = one(
            found.agg(
                F.count(F.lit(1)),
                F.sum(F.col("converted").cast("int")),
                F.sum(F.col("censored").cast("int")),
                F.sum("revenue"),
            )
        )
        n_paths, conversions, censored, revenue = counts[0], counts[1] or 0, counts[2] or 0, counts[3] or 0.0
        if not conversions:
            found.unpersist()  # the pipeline's session may go on without this step
            touched.unpersist()
            raise MissingInput(f"no order came within attribution.window_days ({cfg.window_days:g}) of a contact")
        modelled = found.where(~F.col("censored"))
        chain = markov.Chain.from_counts(
            [(r.src, r.dst, r.n) for r in markov.transitions(modelled).collect()]  # channels² steps at most
        )
        effects = chain.removal_effects()
        credited = markov.credit(effects, float(conversions))
        markov_rows = [
            ("markov", c, credited[c], revenue * credited[c] / conversions, effects[c]) for c in chain.channels
        ]
        rules = credit.rule_credit(modelled, cfg.half_life_days).withColumn(
            "removal_effect", F.lit(None).cast("double")
        )
        credits = rules.unionByName(
            spark.createDataFrame(markov_rows, f"{credit.CREDIT}, removal_effect double")  # one row per channel
        )
        per_channel = touched.groupBy("channel").agg(F.count(F.lit(1)).alias("touches"), F.sum("cost").alias("cost"))
        lake.write(_table(credits, per_channel, start, end, run_id), tables.ATTRIBUTION, mode="overwrite")
        stats["rows"] = lake.read(tables.ATTRIBUTION).count()
        log.info(
            "%s paths, %s converted, %s censored; Markov removal effects: %s",
            f"{n_paths:,}",
            f"{conversions:,}",
            f"{censored:,}",
            ", ".join(f"{c} {e:.3f}" for c, e in effects.items()),
        )
        split = f"{start:%Y-%m-%d}..{end:%Y-%m-%d}"
        append_metrics(
            spark,
            lake,
            [
                Metric(MODEL, "paths", "paths", float(n_paths), split),
                Metric(MODEL, "paths", "converted", float(conversions), split),
                Metric(MODEL, "paths", "censored", float(censored), split),
                Metric(MODEL, "markov", "conversion_probability", chain.conversion_probability(), split),
                *(Metric(MODEL, "markov", f"removal_effect_{c}", e, split) for c, e in effects.items()),
            ],
            run_id,
        )
        found.unpersist()
        touched.unpersist()


def _table(credits: DataFrame, per_channel: DataFrame, start: dt.datetime, end: dt.datetime, run_id: str) -> DataFrame:
    """gold.attribution's rows: every model's credit per channel, with the channel's cost, ROI and, under the
    Markov credit, the period's total cost split by credited revenue."""
    total_cost = F.sum("cost").over(_all_channels("model"))
    total_revenue = F.sum("revenue").over(_all_channels("model"))
    is_markov = F.col("model") == "markov"
    return (
        credits.join(per_channel, on="channel", how="left")
        .withColumn("touches", F.coalesce(F.col("touches"), F.lit(0)))
        .withColumn("cost", F.coalesce(F.col("cost"), F.lit(0.0)))
        .select(
            "model",
            "channel",
            "touches",
            "conversions",
            "revenue",
            (F.col("conversions") / F.sum("conversions").over(_all_channels("model"))).alias("share"),
            "removal_effect",
            "cost",
            F.when(F.col("cost") > 0, (F.col("revenue") - F.col("cost")) / F.col("cost")).alias("roi"),
            F.when(is_markov & (total_revenue > 0), total_cost * F.col("revenue") / total_revenue).alias(
                "suggested_budget"
            ),
            F.lit(start).alias("period_start"),
            F.lit(end).alias("period_end"),
            F.lit(run_id).alias("run_id"),
        )
    )


def _all_channels(by: str) -> WindowSpec:
    return Window.partitionBy(by).rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("attribution", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
