"""Small, bounded aggregates the report shows: each function returns plain Python rows, or None when
the job that writes its table hasn't run."""

from __future__ import annotations

from typing import Any

from pyspark.ml.feature import QuantileDiscretizer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.frames import one
from pmkt.libs.lake import Lake

Rows = list[dict[str, Any]]


def _latest_run(df: DataFrame) -> DataFrame:
    return df.where(F.col("run_id") == one(df.agg(F.max("run_id")))[0])  # run ids sort by time


def data_summary(lake: Lake) -> Rows:
    """Rows and time span of every silver table, and quarantined rows per entity (one row per table)."""
    quarantined: dict[str, int] = {}
    if lake.exists(tables.QUARANTINE):
        quarantined = {
            r.entity: r.n
            for r in lake.read(tables.QUARANTINE).groupBy("entity").agg(F.count(F.lit(1)).alias("n")).collect()
        }  # one row per entity
    spans = {"events": "event_ts", "transactions": "order_ts", "campaign_contacts": "sent_ts", "ratings": "rated_ts"}
    out = []
    for entity, table in tables.SILVER.items():
        if not lake.exists(table):
            continue
        df = lake.read(table)
        aggs = [F.count(F.lit(1)).alias("rows")]
        if entity in spans:
            aggs += [F.min(spans[entity]).alias("first"), F.max(spans[entity]).alias("last")]
        r = one(df.agg(*aggs))
        out.append(
            {
                "table": str(table),
                "rows": r["rows"],
                "from": str(r["first"])[:10] if entity in spans and r["first"] else "",
                "to": str(r["last"])[:10] if entity in spans and r["last"] else "",
                "quarantined": quarantined.get(entity, 0),
            }
        )
    return out


def segments(lake: Lake) -> tuple[Rows, Rows] | None:
    """Segment sizes and profiles, and the k-selection curve."""
    latest = lake.latest_rows(tables.SEGMENT_PROFILES)
    if latest is None:
        return None
    profiles = latest.orderBy("segment_id").collect()  # k rows
    shown = [
        {
            "segment": r.segment_name,
            "customers": r.size,
            "share": r.share,
            "distinguishing": ", ".join(r.distinguishing or []),
            **{k: v for k, v in sorted((r.feature_means or {}).items())},
        }
        for r in profiles
    ]
    curve = []
    if lake.exists(tables.SEGMENT_K_SELECTION):
        ks = _latest_run(lake.read(tables.SEGMENT_K_SELECTION))
        curve = [
            {"k": r.k, "silhouette": r.silhouette, "chosen": r.chosen}
            for r in ks.orderBy("k").collect()  # k_max rows
        ]
    return shown, curve


def rfm_grid(lake: Lake) -> tuple[Rows, Rows] | None:
    """Customers per (R, F) score cell, and per named RFM segment."""
    profiles = lake.latest_rows(tables.CUSTOMER_PROFILES)
    if profiles is None:
        return None
    cells = (
        profiles.where(F.col("r_score").isNotNull())
        .groupBy("r_score", "f_score")
        .agg(F.count(F.lit(1)).alias("customers"))
    )
    named = profiles.groupBy("rfm_segment").agg(
        F.count(F.lit(1)).alias("customers"), F.avg("monetary").alias("avg_spend")
    )
    return (
        [r.asDict() for r in cells.collect()],  # at most 25 cells
        [r.asDict() for r in named.orderBy(F.desc("customers")).collect()],
    )  # one per named segment


def model_metrics(lake: Lake, model: str) -> Rows:
    if not lake.exists(tables.MODEL_METRICS):
        return []
    from pmkt.libs.metrics import latest_metrics

    return [
        r.asDict() for r in latest_metrics(lake, model).select("variant", "metric", "value", "split").collect()
    ]  # one run


def top_rules(lake: Lake, n: int) -> Rows | None:
    """The `n` strongest rules, with product names where silver.products has them."""
    if not lake.exists(tables.ASSOCIATION_RULES):
        return None
    rules = lake.read(tables.ASSOCIATION_RULES).orderBy(F.desc("lift"), F.desc("support")).limit(n).collect()  # n rows
    ids = sorted({i for r in rules for i in (*r.antecedent, *r.consequent)})
    names: dict[str, str] = {}
    if ids and lake.exists(tables.SILVER["products"]):
        found = (
            lake.read(tables.SILVER["products"])
            .where(F.col("product_id").isin(ids))
            .select("product_id", "product_name")
            .collect()  # <= ids
        )
        names = {r.product_id: f"{r.product_name} ({r.product_id})" for r in found if r.product_name}

    def label(items: list[str]) -> str:
        return " + ".join(names.get(i, i) for i in items)

    return [
        {
            "if bought": label(r.antecedent),
            "then": label(r.consequent),
            "support": r.support,
            "confidence": r.confidence,
            "lift": r.lift,
            "orders": r.rule_count,
        }
        for r in rules
    ]


def churn_curves(lake: Lake) -> Rows | None:
    """ROC points, lift and calibration per decile of the latest churn evaluation (about a thousand rows)."""
    if not lake.exists(tables.CHURN_EVALUATION):
        return None
    return [
        r.asDict()
        for r in _latest_run(lake.read(tables.CHURN_EVALUATION)).orderBy("variant", "kind", "point").collect()
    ]  # MLlib bins the curves: about a thousand points


def uplift_curves(lake: Lake) -> Rows | None:
    """The latest Qini curves of both uplift methods (a few dozen points)."""
    if not lake.exists(tables.UPLIFT_EVALUATION):
        return None
    return [r.asDict() for r in lake.read(tables.UPLIFT_EVALUATION).orderBy("variant", "point").collect()]


def clv(lake: Lake) -> tuple[Rows, Rows, str] | None:
    """The latest CLV hold-out calibration by frequency bucket, and deciles of the latest snapshot by CLV (by
    expected purchases without order values), with the column they rank by."""
    if not lake.exists(tables.CLV):
        return None
    calibration = lake.latest_rows(tables.CLV_CALIBRATION) if lake.exists(tables.CLV_CALIBRATION) else None
    ordered = calibration.orderBy(F.length("frequency_bucket"), "frequency_bucket") if calibration else None
    buckets = [r.asDict() for r in ordered.collect()] if ordered else []  # one row per frequency bucket
    scores = lake.latest_rows(tables.CLV)
    assert scores is not None
    # Deciles by approximate quantiles (MLlib), so no window sorts every customer in one partition.
    by = "clv" if scores.where(F.col("clv").isNotNull()).limit(1).count() else "expected_purchases"
    binned = QuantileDiscretizer(numBuckets=10, inputCol=by, outputCol="_bucket", relativeError=0.001)
    deciles = (
        binned.fit(scores)
        .transform(scores)
        .groupBy((F.lit(10) - F.col("_bucket")).cast("int").alias("decile"))
        .agg(
            F.count(F.lit(1)).alias("customers"),
            F.avg("clv").alias("mean_clv"),
            F.avg("p_alive").alias("mean_p_alive"),
            F.avg("expected_purchases").alias("mean_expected_purchases"),
            F.sum("clv").alias("total_clv"),
        )
        .orderBy("decile")
        .collect()
    )  # ten rows
    return buckets, [r.asDict() for r in deciles], by


def attribution(lake: Lake) -> Rows | None:
    """One row per channel: each model's share of the conversions, and the Markov effect, ROI and budget."""
    if not lake.exists(tables.ATTRIBUTION):
        return None
    rows = lake.read(tables.ATTRIBUTION).collect()  # models x channels
    wide: dict[str, dict[str, Any]] = {}
    for r in rows:
        row = wide.setdefault(r.channel, {"channel": r.channel, "touches": r.touches, "cost": r.cost})
        row[r.model] = r.share
        if r.model == "markov":
            row.update(removal_effect=r.removal_effect, roi=r.roi, suggested_budget=r.suggested_budget)
    return sorted(wide.values(), key=lambda r: -(r.get("markov") or 0.0))


def campaigns(lake: Lake) -> tuple[Rows, Rows, Rows] | None:
    """Campaign totals, uplift by segment, and the plan per campaign and group."""
    if not lake.exists(tables.CAMPAIGN_METRICS):
        return None
    metrics = lake.read(tables.CAMPAIGN_METRICS)
    totals = [
        r.asDict() for r in metrics.where(F.col("segment") == "all").orderBy("campaign_id").collect()
    ]  # one per campaign
    by_segment = [
        r.asDict() for r in metrics.where(F.col("segment") != "all").orderBy("campaign_id", "segment").collect()
    ]  # bounded cells
    plan = []
    if lake.exists(tables.CAMPAIGN_PLAN):
        agg = (
            lake.read(tables.CAMPAIGN_PLAN)
            .groupBy("campaign_id", "campaign_name", "group")
            .agg(
                F.count(F.lit(1)).alias("customers"),
                F.sum("cost").alias("cost"),
                F.sum("expected_profit").alias("expected_profit"),
                F.avg("p_convert").alias("avg_p_convert"),
            )
        )
        plan = [r.asDict() for r in agg.orderBy("campaign_id", "group").collect()]  # two per campaign
    return totals, by_segment, plan


def quality(lake: Lake) -> tuple[Rows, Rows]:
    """The latest quality run's expectations and the latest drift run's non-ok columns (bounded by the conf)."""
    checks: Rows = []
    if lake.exists(tables.DATA_QUALITY):
        runs = lake.read(tables.DATA_QUALITY)
        last = one(runs.agg(F.max("evaluated_at")))[0]
        rows = runs.where(F.col("evaluated_at") == F.lit(last)).orderBy("passed", "table", "rule").collect()  # per rule
        checks = [
            {
                "table": r.table,
                "rule": r.rule,
                "column": r.column or "",
                "severity": r.severity,
                "failing share": r.failing_share,
                "allowed": r.allowed_share,
                "result": "pass" if r.passed else ("FAIL" if r.severity == "fail" else "warn"),
            }
            for r in rows
        ]
    drifted: Rows = []
    if lake.exists(tables.DRIFT):
        runs = lake.read(tables.DRIFT)
        last_run = one(runs.agg(F.max("run_id")))[0]
        rows = runs.where(F.col("run_id") == last_run).orderBy(F.desc("psi")).limit(15).collect()
        drifted = [
            {
                "table": r.table,
                "column": r.column,
                "from": str(r.reference_snapshot),
                "to": str(r.current_snapshot),
                "psi": r.psi,
                "level": r.level,
            }
            for r in rows
        ]
    return checks, drifted


def fairness(lake: Lake) -> Rows:
    """The latest audit's rows, flagged first (bounded: decisions x groups)."""
    if not lake.exists(tables.FAIRNESS_AUDIT):
        return []
    runs = lake.read(tables.FAIRNESS_AUDIT)
    last = one(runs.agg(F.max("run_id")))[0]
    rows = runs.where(F.col("run_id") == last).orderBy(F.desc("flagged"), "decision", "attribute", "group").limit(40)
    return [
        {
            "decision": r.decision,
            "by": r.attribute,
            "group": r.group,
            "customers": r.customers,
            "selection rate": r.selection_rate,
            "disparate impact": r.disparate_impact,
            "TPR": r.tpr,
            "FPR": r.fpr,
            "flag": r.reason if r.flagged else "",
        }
        for r in rows.collect()
    ]
