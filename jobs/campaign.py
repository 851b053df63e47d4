"""`campaign`: audiences, the budgeted next-best-offer plan with control groups, and trigger actions.

It also evaluates past campaigns against their control groups.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Sequence

from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs import models, tables
from pmkt.libs.campaign import audience, evaluation, offers, plan, triggers
from pmkt.libs.config import CampaignSpec, ChannelConfig, Config, CtrConfig
from pmkt.libs.errors import MissingInput, UserError
from pmkt.libs.frames import union_all
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.runner import run_job

log = get_logger(__name__)
# The response model; the uplift model and its method; the CTR model and its config (each None when not saved).
Scorers = tuple[offers.Scorer, tuple[offers.Scorer, str] | None, tuple[PipelineModel, CtrConfig] | None]


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.campaign
    lake = Lake(spark, config.lake)
    day = lake.latest_snapshot(tables.CUSTOMER_FEATURES, cfg.snapshot)
    view = audience.customer_view(lake, day).persist(StorageLevel.MEMORY_AND_DISK)
    ok = audience.eligible(view, audience.suppressed(spark, cfg))
    with timed(log, f"audiences as of {day}") as stats:
        lake.write_snapshot(audience.members(ok, cfg.audiences, day), tables.AUDIENCES, day)
        stats["rows"] = lake.read_snapshot(tables.AUDIENCES, day).count()
    nobody = audience.nobody_note(view, ok) if stats["rows"] == 0 else None
    if nobody:
        log.warning("audiences are empty: %s", nobody)
    if cfg.campaigns:
        _plans(spark, lake, config, view, lake.read_snapshot(tables.AUDIENCES, day), day)
    if cfg.triggers:
        with timed(log, f"{len(cfg.triggers)} triggers"):
            _actions(lake, config, ok, day)
    if lake.exists(tables.SILVER["campaign_contacts"]) and lake.exists(tables.SILVER["campaigns"]):
        with timed(log, "campaign evaluation against control groups"):
            _evaluate(spark, lake, config)
    view.unpersist()


def _plans(spark: SparkSession, lake: Lake, config: Config, view: DataFrame, members: DataFrame, day: dt.date) -> None:
    """Plan each campaign the lake has the models and tables for; one it lacks them for is left out with a warning
    that says what is missing, and the audiences, the other campaigns and the triggers go ahead. A shop with no
    campaign history has no response model yet: only campaigns with `targeting: explore`, which need none, are
    planned then."""
    specs = config.campaign.campaigns
    scorers: Scorers | None = None
    try:
        scorers = _scorers(config)
    except MissingInput as exc:
        waiting = [s.id for s in specs if s.targeting != "explore"]
        if waiting:
            log.warning(
                "no campaign planned (%s): %s; a campaign with `targeting: explore` needs no model (a first, "
                "randomised campaign the models then learn from)",
                ", ".join(waiting),
                exc,
            )
    for spec in specs:
        if scorers is None and spec.targeting != "explore":
            continue
        try:
            with timed(log, f"plan {spec.id} for audience {spec.audience} by {spec.targeting}") as stats:
                stats["rows"] = _plan(spark, lake, config, spec, view, members, day, scorers)
        except MissingInput as exc:
            log.warning("campaign %s not planned: %s", spec.id, exc)


def _plan(
    spark: SparkSession,
    lake: Lake,
    config: Config,
    spec: CampaignSpec,
    view: DataFrame,
    members: DataFrame,
    day: dt.date,
    scorers: Scorers | None,
) -> int:
    cfg = config.campaign
    channels = {name: cfg.channels[name] for name in spec.channels}
    recent = plan.recent_contacts(
        lake.read_if_exists(tables.SILVER["campaign_contacts"]),
        lake.read_if_exists(tables.CAMPAIGN_PLAN),
        spec.id,
        day,
        cfg.cap_window_days,
    )
    people = plan.in_reach(members, view, spec, recent, cfg.max_contacts)
    products = lake.read(tables.SILVER["products"]) if lake.exists(tables.SILVER["products"]) else None
    if products is None:
        raise MissingInput("next best offer needs silver.products (prices and margins)")
    candidates = offers.offers(
        lake.read_if_exists(tables.RECOMMENDATIONS),
        lake.read_if_exists(tables.CROSS_SELL),
        _latest(lake, tables.PROPENSITY_SCORES, day),
        products,
        cfg.offers_per_source,
        spec.offer_types,
    )
    best = _best(people, candidates, channels, spec, scorers).persist(StorageLevel.MEMORY_AND_DISK)
    treated = offers.within_limits(best.where(F.col("group") == "treatment"), spec, channels).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    control = plan.matched_control(best, treated, offers.ranked_by(spec))
    rows = plan.rows(treated, control, products, spec, day, cfg.templates)
    lake.write(
        rows, tables.CAMPAIGN_PLAN, mode="overwrite", replace_where=f"campaign_id = '{spec.id}'", merge_schema=True
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
            "%s %-9s %7s customers, cost %.2f, expected profit %s",
            spec.id,
            r.group,
            f"{r.n:,}",
            r.cost or 0.0,
            "unknown (exploring)" if spec.targeting == "explore" else f"{r.profit or 0.0:.2f}",
        )
    return sum(r.n for r in summary)


def _best(
    people: DataFrame,
    candidates: DataFrame,
    channels: dict[str, ChannelConfig],
    spec: CampaignSpec,
    scorers: Scorers | None,
) -> DataFrame:
    """Each customer's one (offer, channel): drawn at random when exploring, else the most profitable by the models."""
    if spec.targeting == "explore":
        return offers.explore_offers(people, candidates, channels, spec)
    if scorers is None:  # _plans leaves such a campaign out before it gets here
        raise MissingInput("it targets by a model, and the response model is not saved")
    response, uplift, ctr = scorers
    if spec.targeting == "uplift" and uplift is None:
        raise MissingInput("it targets by uplift: run `pmkt uplift` first to fit the uplift model")
    return offers.best_offers(people, candidates, channels, response, uplift, spec.targeting, ctr)


def _scorers(config: Config) -> Scorers:
    """The response model; the uplift model with its method and the CTR model, when their jobs have saved
    them: the plan records every score, whichever a campaign targets by."""
    model, meta, _ = models.load(config, "response_converted")
    response = offers.Scorer(model, tuple(meta["numeric"]), tuple(meta["categorical"]))
    uplift, ctr = None, None
    with contextlib.suppress(UserError):
        fitted, found, _ = models.load(config, "uplift")
        uplift = offers.Scorer(fitted, tuple(found["numeric"]), tuple(found["categorical"])), found["method"]
    with contextlib.suppress(UserError):
        ctr = models.load(config, "ctr")[0], config.ctr
    return response, uplift, ctr


def _actions(lake: Lake, config: Config, ok: DataFrame, day: dt.date) -> None:
    inputs = {
        "events": lake.read_if_exists(tables.SILVER["events"]),
        "churn_scores": lake.read_if_exists(tables.CHURN_SCORES),
        "customers": lake.read_if_exists(tables.SILVER["customers"]),
        "order_lines": lake.read_if_exists(tables.SILVER["transactions"]),
        "customer_profiles": lake.latest_rows(tables.CUSTOMER_PROFILES),
    }
    found = []
    for rule in config.campaign.triggers:
        actions = triggers.detect(rule, inputs, day)
        if actions is None:
            log.warning("trigger %s skipped: its input table does not exist", rule.name)
        else:
            found.append(actions)
    if not found:
        return
    log.info("actions: %s new", f"{triggers.record(lake, union_all(found), ok):,}")


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
