"""`campaign`: audiences, the budgeted next-best-offer plan with control groups, and trigger actions.

It also evaluates past campaigns against their control groups.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs import models, tables
from pmkt.libs.campaign import audience, evaluation, messages, offers, triggers
from pmkt.libs.config import CampaignSpec, Config
from pmkt.libs.errors import UserError
from pmkt.libs.frames import one, union_all
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.runner import run_job

log = get_logger(__name__)


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.campaign
    lake = Lake(spark, config.lake)
    day = lake.latest_snapshot(tables.CUSTOMER_FEATURES, cfg.snapshot)
    view = audience.customer_view(lake, day).persist(StorageLevel.MEMORY_AND_DISK)
    ok = audience.eligible(view, audience.suppressed(spark, cfg))
    with timed(log, f"audiences as of {day}") as stats:
        lake.write_snapshot(audience.members(ok, cfg.audiences, day), tables.AUDIENCES, day)
        stats["rows"] = lake.read_snapshot(tables.AUDIENCES, day).count()
    members = lake.read_snapshot(tables.AUDIENCES, day)
    for spec in cfg.campaigns:
        with timed(log, f"plan {spec.id} for audience {spec.audience}") as stats:
            stats["rows"] = _plan(spark, lake, config, spec, view, members, day)
    if cfg.triggers:
        with timed(log, f"{len(cfg.triggers)} triggers"):
            _actions(lake, config, ok, day)
    if lake.exists(tables.SILVER["campaign_contacts"]) and lake.exists(tables.SILVER["campaigns"]):
        with timed(log, "campaign evaluation against control groups"):
            _evaluate(spark, lake, config)
    view.unpersist()


def _plan(
    spark: SparkSession,
    lake: Lake,
    config: Config,
    spec: CampaignSpec,
    view: DataFrame,
    members: DataFrame,
    day: dt.date,
) -> int:
    cfg = config.campaign
    channels = {name: cfg.channels[name] for name in spec.channels}
    chosen = members.where(F.col("audience") == spec.audience).select("customer_id").distinct()
    chosen = chosen.join(
        offers.capped(_recent_contacts(lake, spec.id, day, cfg.cap_window_days), cfg.max_contacts),
        on="customer_id",
        how="left_anti",
    )
    people = chosen.join(view, on="customer_id", how="inner").withColumn(
        "group",
        F.when(offers.control_draw(spec.id) < spec.control_share, F.lit("control")).otherwise(F.lit("treatment")),
    )
    products = lake.read(tables.SILVER["products"]) if lake.exists(tables.SILVER["products"]) else None
    if products is None:
        raise UserError("next best offer needs silver.products (prices and margins)")
    candidates = offers.offers(
        lake.read_if_exists(tables.RECOMMENDATIONS),
        lake.read_if_exists(tables.CROSS_SELL),
        _latest(lake, tables.PROPENSITY_SCORES, day),
        products,
        cfg.offers_per_source,
        spec.offer_types,
    )
    model, meta, _ = models.load(config, "response_converted")
    known = [c for c in meta["numeric"] if c in view.columns]  # offer_category_share comes with the offer
    rows = offers.options(
        people.select("customer_id", "group", "segment_name", "category_shares", *known).join(
            candidates, on="customer_id", how="inner"
        ),
        channels,
    )
    rows = rows.withColumn("offer_category", F.col("category")).withColumn(
        "offer_category_share", F.coalesce(F.element_at("category_shares", F.col("category")), F.lit(0.0))
    )
    best = offers.best_offer(
        offers.convert_probability(model, rows, tuple(meta["numeric"]), tuple(meta["categorical"]))
    ).persist(StorageLevel.MEMORY_AND_DISK)
    treated = offers.within_limits(best.where(F.col("group") == "treatment"), spec, channels).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    # The control group is held to the same selection as the treated: their expected profit clears
    # the lowest one that got a contact, so the two groups stay comparable.
    floor = one(treated.agg(F.min("expected_profit")))[0]  # one value
    control = best.where(
        (F.col("group") == "control")
        & (F.col("expected_profit") >= F.lit(floor if floor is not None else float("inf")))
    )
    names = products.select("product_id", "product_name")
    plan = (
        treated.unionByName(control)
        .join(names, on="product_id", how="left")
        .select(
            F.lit(spec.id).alias("campaign_id"),
            F.lit(spec.name or spec.id).alias("campaign_name"),
            F.lit(day).alias("snapshot_date"),
            "customer_id",
            "group",
            "segment_name",
            "channel",
            "offer_type",
            "product_id",
            "product_name",
            "category",
            "offer_reason",
            "p_convert",
            "value",
            F.when(F.col("group") == "treatment", F.col("contact_cost")).otherwise(0.0).alias("cost"),
            "expected_profit",
            F.current_timestamp().alias("planned_at"),
        )
    )
    plan = plan.withColumn("message", F.when(F.col("group") == "treatment", messages.render(plan, cfg.templates)))
    lake.write(
        plan, tables.CAMPAIGN_PLAN, mode="overwrite", replace_where=f"campaign_id = '{spec.id}'", merge_schema=True
    )
    best.unpersist()
    treated.unpersist()
    stored = lake.read(tables.CAMPAIGN_PLAN).where(F.col("campaign_id") == spec.id)
    summary = (
        stored.groupBy("group")
        .agg(F.count(F.lit(1)).alias("n"), F.sum("cost").alias("cost"), F.sum("expected_profit").alias("profit"))
        .collect()  # two rows
    )
    for r in summary:
        log.info(
            "%s %-9s %7s customers, cost %.2f, expected profit %.2f",
            spec.id,
            r.group,
            f"{r.n:,}",
            r.cost or 0.0,
            r.profit or 0.0,
        )
    return sum(r.n for r in summary)


def _recent_contacts(lake: Lake, campaign_id: str, day: dt.date, window_days: int) -> DataFrame:
    """Contacts in the cap window: sent ones from history, and planned treatments of other campaigns."""
    start = dt.datetime.combine(day - dt.timedelta(days=window_days), dt.time())
    parts = []
    if lake.exists(tables.SILVER["campaign_contacts"]):
        sent = lake.read(tables.SILVER["campaign_contacts"])
        parts.append(
            sent.where(
                (F.coalesce(F.col("group"), F.lit("treatment")) == "treatment")
                & (F.col("sent_ts") >= F.lit(start))
                & (F.col("sent_ts") < F.lit(dt.datetime.combine(day, dt.time())))
            ).select("customer_id")
        )
    if lake.exists(tables.CAMPAIGN_PLAN):
        planned = lake.read(tables.CAMPAIGN_PLAN)
        parts.append(
            planned.where(
                (F.col("group") == "treatment")
                & (F.col("campaign_id") != campaign_id)
                & (F.col("snapshot_date") > F.lit(day - dt.timedelta(days=window_days)))
            ).select("customer_id")
        )
    if not parts:
        return lake.spark.createDataFrame([], "customer_id string")
    return union_all(parts)


def _actions(lake: Lake, config: Config, ok: DataFrame, day: dt.date) -> None:
    as_of = dt.datetime.combine(day, dt.time())
    found = []
    for rule in config.campaign.triggers:
        if rule.kind == "cart_abandoned" and lake.exists(tables.SILVER["events"]):
            found.append(triggers.cart_abandoned(lake.read(tables.SILVER["events"]), rule, as_of))
        elif rule.kind == "churn_risk_high" and lake.exists(tables.CHURN_SCORES):
            found.append(
                triggers.churn_risk_high(
                    lake.read(tables.CHURN_SCORES).where(F.col("snapshot_date") <= F.lit(day)), rule
                )
            )
        elif rule.kind == "birthday" and lake.exists(tables.SILVER["customers"]):
            found.append(triggers.birthday(lake.read(tables.SILVER["customers"]), rule, day))
        elif rule.kind == "first_purchase" and lake.exists(tables.SILVER["transactions"]):
            found.append(triggers.first_purchase(lake.read(tables.SILVER["transactions"]), rule, as_of))
        else:
            log.warning("trigger %s skipped: its input table does not exist", rule.name)
    if not found:
        return
    actions = union_all(found)
    allowed = actions.join(ok.select("customer_id"), on="customer_id", how="left_semi").withColumn(
        "triggered_at", F.current_timestamp()
    )
    merged = lake.merge(allowed, tables.ACTIONS, keys=["rule", "customer_id", "period"], update=False)
    log.info("actions: %s new", f"{merged['inserted']:,}")


def _evaluate(spark: SparkSession, lake: Lake, config: Config) -> None:
    segments = lake.latest_rows(tables.SEGMENTS)
    counted = evaluation.cells(
        lake.read(tables.SILVER["campaign_contacts"]), lake.read(tables.SILVER["campaigns"]), segments
    )
    lake.write(
        evaluation.metrics(spark, counted, config.campaign.alpha).withColumn("evaluated_at", F.current_timestamp()),
        tables.CAMPAIGN_METRICS,
        mode="overwrite",
    )
    for r in (
        lake.read(tables.CAMPAIGN_METRICS).where(F.col("segment") == evaluation.ALL).orderBy("campaign_id").collect()
    ):  # one per campaign
        log.info(
            "%s %-28s uplift %+.3f [%+.3f, %+.3f] p %.2g  ROI %s",
            r.campaign_id,
            r.campaign_name,
            r.uplift or 0.0,
            r.uplift_ci_low or 0.0,
            r.uplift_ci_high or 0.0,
            r.p_value if r.p_value is not None else float("nan"),
            f"{r.roi:+.1f}" if r.roi is not None else "n/a",
        )


def _latest(lake: Lake, table: tables.TableId, day: dt.date) -> DataFrame | None:
    return lake.read_snapshot(table, day) if lake.exists(table) else None


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("campaign", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
