"""`generate`: synthetic raw exports (CSV and JSON files) plus ground-truth Delta tables."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pmkt.libs import tables
from pmkt.libs.config import Config
from pmkt.libs.frames import union_all
from pmkt.libs.ingest.readers import CSV_DEFAULTS
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.runner import run_job
from pmkt.libs.synth import corrupt, facts
from pmkt.libs.synth.world import World

log = get_logger(__name__)

# Raw export layout: entity -> (file format, columns as exported, natural key, holds PII).
EXPORTS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], bool]] = {
    "products": (
        "csv",
        ("product_id", "product_name", "category", "brand", "price", "margin", "description", "active"),
        ("product_id",),
        False,
    ),
    "customers": (
        "csv",
        ("customer_id", "name", "email", "phone", "birth_date", "gender", "city", "signup_date", "channel", "consent"),
        ("customer_id",),
        True,
    ),
    "events": (
        "json",
        ("event_id", "customer_id", "product_id", "event_type", "event_ts", "device", "session_id"),
        ("event_id",),
        False,
    ),
    "transactions": (
        "csv",
        ("order_id", "line_id", "customer_id", "order_ts", "product_id", "quantity", "unit_price"),
        ("order_id", "line_id"),
        False,
    ),
    "campaigns": (
        "csv",
        ("campaign_id", "campaign_name", "channel", "start_date", "end_date", "offer_category", "cost_per_contact"),
        ("campaign_id",),
        False,
    ),
    "campaign_contacts": (
        "csv",
        (
            "contact_id",
            "campaign_id",
            "customer_id",
            "channel",
            "sent_ts",
            "group",
            "opened",
            "clicked",
            "converted",
            "cost",
            "revenue",
        ),
        ("contact_id",),
        False,
    ),
}
TS_FORMAT = {
    "events": "yyyy-MM-dd'T'HH:mm:ss",
    "transactions": "yyyy-MM-dd HH:mm:ss",
    "campaign_contacts": "yyyy-MM-dd HH:mm:ss",
}
BAD_ROWS_DIR = "bad-rows"  # read with recursiveFileLookup; names starting with "_" would be skipped


def run(spark: SparkSession, config: Config, bad_rows_per_class: int | None = None) -> None:
    """Write raw exports under `generate.landing` and truth tables under the lake's `truth` layer."""
    cfg = config.generate
    lake = Lake(spark, config.lake)
    lake.check_writable()
    world = World(spark, cfg)
    per_class = bad_rows_per_class if bad_rows_per_class is not None else _per_class(cfg.customers)
    with timed(log, f"generate {cfg.customers:,} customers, seed {cfg.seed}") as stats:
        products = world.products().cache()
        customers = world.customers().cache()
        views = world.views(world.sessions(customers)).cache()
        lines, rule_lines = facts.order_lines(world, views, products)
        lines = lines.cache()
        campaign_df = facts.campaigns(world)
        raw = {
            "products": products,
            "customers": customers,
            "events": facts.events(views, rule_lines),
            "transactions": lines,
            "campaigns": campaign_df,
            "campaign_contacts": facts.contacts(world, customers, campaign_df),
        }
        truth_parts: list[DataFrame] = []
        written = 0
        for entity, df in raw.items():
            bad = truth_parts if cfg.bad_rows and entity in corrupt.CLASSES else None
            written += _export(spark, cfg.landing, entity, df, per_class if bad is not None else 0, world, bad)
        _write_truth(lake, world, customers, products, lines, campaign_df, truth_parts)
        stats["rows"] = written
    for df in (products, customers, views, lines):
        df.unpersist()
    log.info(
        "raw exports in %s; ground truth in %s", cfg.landing, lake.location(tables.TRUTH_SEGMENTS).rsplit("/", 1)[0]
    )


def _per_class(customers: int) -> int:
    """A few hundred bad rows in the demo; a handful per class on tiny test data."""
    return max(3, min(15, customers // 1000))


def _as_strings(entity: str, df: DataFrame) -> DataFrame:
    _, columns, _, _ = EXPORTS[entity]
    fmt = TS_FORMAT.get(entity)
    out = []
    for name in columns:
        col = F.col(name)
        if fmt is not None and isinstance(df.schema[name].dataType, T.TimestampType):
            col = F.date_format(col, fmt)
        out.append(col.cast("string").alias(name))
    return df.select(*out)


def _export(
    spark: SparkSession, landing: str, entity: str, df: DataFrame, per_class: int, world: World, truth: list | None
) -> int:
    fmt, columns, keys, pii = EXPORTS[entity]
    rows = _as_strings(entity, df)
    path = f"{landing.rstrip('/')}/{entity}"
    n_files = world.cfg.files_per_table if entity in ("events", "transactions", "customers", "campaign_contacts") else 1
    if per_class and truth is not None:
        bad_lines, bad_truth = corrupt.plant(rows, entity, keys, fmt, per_class, world.rng, pii)
        truth.append(bad_truth)
    writer = rows.repartition(n_files, *[F.col(k) for k in keys]).sortWithinPartitions(*keys).write.mode("overwrite")
    if fmt == "csv":
        writer.options(**CSV_DEFAULTS).csv(path)
    else:
        writer.json(path)
    # Counted in the files just written (before the bad rows join them): a line count, not a rerun of the world.
    written = spark.read.option("header", "true").csv(path) if fmt == "csv" else spark.read.text(path)
    n_rows = written.count()
    if per_class and truth is not None:
        header = spark.createDataFrame([(",".join(columns), -1)], "line string, _i int") if fmt == "csv" else None
        bad = bad_lines if header is None else header.unionByName(bad_lines)
        bad.orderBy("_i").coalesce(1).select("line").write.mode("overwrite").text(f"{path}/{BAD_ROWS_DIR}")
    return n_rows


def _write_truth(
    lake: Lake,
    world: World,
    customers: DataFrame,
    products: DataFrame,
    lines: DataFrame,
    campaign_df: DataFrame,
    bad_truth: Sequence[DataFrame],
) -> None:
    lake.write(
        customers.select("customer_id", "segment", "segment_name", "taste_a", "taste_b"),
        tables.TRUTH_SEGMENTS,
        mode="overwrite",
    )
    lake.write(
        customers.where(F.col("churn_date").isNotNull()).select("customer_id", "segment", "churn_date"),
        tables.TRUTH_CHURN,
        mode="overwrite",
    )
    lake.write(facts.rule_truth(world, lines), tables.TRUTH_RULES, mode="overwrite")
    lake.write(facts.uplift_truth(world, campaign_df), tables.TRUTH_UPLIFT, mode="overwrite")
    lake.write(facts.bias_truth(world, campaign_df), tables.TRUTH_BIAS, mode="overwrite")
    lake.write(
        products.select("product_id", "category", "taste_cluster", "tier"), tables.TRUTH_PRODUCTS, mode="overwrite"
    )
    if bad_truth:
        lake.write(union_all(bad_truth), tables.TRUTH_BAD_ROWS, mode="overwrite")


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("generate", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
