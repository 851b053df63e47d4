"""`report`: one self-contained HTML page (plots embedded) with what every job found."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from pyspark.sql import SparkSession

from pmkt.libs.config import Config
from pmkt.libs.errors import UserError
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.report import page, plots, sections
from pmkt.libs.runner import run_job

log = get_logger(__name__)
Rows = list[dict[str, Any]]


def report_path(config: Config) -> str:
    path = config.report.path or f"{config.lake.root.rstrip('/')}/reports/index.html"
    if "://" in path and not path.startswith("file:"):
        raise UserError(f"report.path '{path}' must be a local or mounted path (e.g. /dbfs/... on Databricks)")
    return path.removeprefix("file:")


def run(spark: SparkSession, config: Config) -> str:
    lake = Lake(spark, config.lake)
    path = report_path(config)
    with timed(log, "report"):
        parts = [
            _data(lake),
            _quality(lake),
            _segments(lake),
            _rfm(lake),
            _recommendations(lake, config),
            _rules(lake, config),
            _churn(lake),
            _campaigns(lake),
            _fairness(lake),
        ]
        body = page.document("Precision marketing report", [p for p in parts if p])
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            out.write(body)
    log.info("report written to %s", os.path.abspath(path))
    return path


def _data(lake: Lake) -> str:
    rows = sections.data_summary(lake)
    return page.section(
        "Data",
        page.table(rows, ["table", "rows", "from", "to", "quarantined"]),
        page.note("Rows in each silver table and the rows ingest set aside in silver.quarantine, with a reason."),
    )


def _quality(lake: Lake) -> str:
    checks, drifted = sections.quality(lake)
    if not checks and not drifted:
        return ""
    parts = (
        [
            page.table(
                checks,
                ["table", "rule", "column", "severity", "failing share", "allowed", "result"],
                {"failing share": "pct", "allowed": "pct"},
            )
        ]
        if checks
        else []
    )
    if drifted:
        parts += [
            page.table(drifted, ["table", "column", "from", "to", "psi", "level"]),
            page.note(
                "Population stability index between the two latest snapshots: warn from "
                "quality.psi_warn, alert from quality.psi_alert. The 15 largest are shown."
            ),
        ]
    return page.section("Data quality and drift", *parts)


def _fairness(lake: Lake) -> str:
    rows = sections.fairness(lake)
    if not rows:
        return ""
    columns = ["decision", "by", "group", "customers", "selection rate", "disparate impact", "TPR", "FPR", "flag"]
    return page.section(
        "Fairness",
        page.table(rows, columns, {"selection rate": "pct", "TPR": "pct", "FPR": "pct"}),
        page.note(
            "Flags follow fairness.min_disparate_impact (four-fifths rule), "
            "max_parity_difference and max_equalised_odds_difference; 40 rows at most."
        ),
    )


def _segments(lake: Lake) -> str:
    found = sections.segments(lake)
    if not found:
        return ""
    profiles, curve = found
    features = [
        k
        for k in ("recency_days", "frequency", "monetary", "avg_order_value", "sessions_per_month", "conversion_rate")
        if profiles and k in profiles[0]
    ]
    images = [
        page.image(
            plots.bars([p["segment"] for p in profiles], [p["customers"] for p in profiles], "Customers per segment"),
            "segment sizes",
        )
    ]
    if curve:
        images.append(page.image(plots.k_curve(curve), "k selection"))
    return page.section(
        "Segments",
        f'<div class="plots">{"".join(images)}</div>',
        page.table(profiles, ["segment", "customers", "share", *features, "distinguishing"], {"share": "pct"}),
    )


def _rfm(lake: Lake) -> str:
    found = sections.rfm_grid(lake)
    if not found:
        return ""
    cells, named = found
    return page.section(
        "RFM",
        f'<div class="plots">{page.image(plots.rfm_heatmap(cells), "RFM grid")}</div>',
        page.table(
            named,
            ["rfm_segment", "customers", "avg_spend"],
            headers={"rfm_segment": "RFM segment", "avg_spend": "average spend"},
        ),
    )


def _recommendations(lake: Lake, config: Config) -> str:
    rows = [r for r in sections.model_metrics(lake, "recommend") if r["split"] == "test" and r["variant"] != "all"]
    if not rows:
        return ""
    k = config.recommend.top_k
    methods = list(dict.fromkeys(r["variant"] for r in rows))
    wide = [{"method": m, **{r["metric"]: r["value"] for r in rows if r["variant"] == m}} for m in methods]
    metrics = [f"ndcg@{k}", f"precision@{k}", f"recall@{k}", f"map@{k}", "coverage"]
    chart = plots.bars(methods, [w.get(f"ndcg@{k}", 0.0) for w in wide], f"nDCG@{k} on the test period", fmt="{:.3f}")
    return page.section(
        "Recommendations against baselines",
        page.image(chart, "recommender ndcg"),
        page.table(wide, ["method", *metrics]),
        page.note(
            f"Trained before the last {config.recommend.test_days} days, tested on what customers did in them; "
            "every method goes through the same serving rules. Popularity is the baseline."
        ),
    )


def _rules(lake: Lake, config: Config) -> str:
    rules = sections.top_rules(lake, config.report.top_rules)
    if rules is None:
        return ""
    return page.section(
        "Top association rules",
        page.table(
            rules,
            ["if bought", "then", "support", "confidence", "lift", "orders"],
            {"support": "pct", "confidence": "pct"},
        ),
    )


def _churn(lake: Lake) -> str:
    points = sections.churn_curves(lake)
    if not points:
        return ""

    images = [page.image(uri, f"churn {name}") for name, uri in plots.classifier_curves(points).items()]
    metrics = [
        r
        for r in sections.model_metrics(lake, "churn")
        if r["metric"] in ("roc_auc", "pr_auc", "brier", "top_decile_lift")
    ]
    variants = list(dict.fromkeys(r["variant"] for r in metrics))
    wide = [{"model": v, **{r["metric"]: r["value"] for r in metrics if r["variant"] == v}} for v in variants]
    return page.section(
        "Churn",
        f'<div class="plots">{"".join(images)}</div>',
        page.table(wide, ["model", "roc_auc", "pr_auc", "brier", "top_decile_lift"]),
    )


def _campaigns(lake: Lake) -> str:
    found = sections.campaigns(lake)
    if not found:
        return ""
    totals, by_segment, plan = found
    kinds = {
        "cvr": "pct",
        "control_cvr": "pct",
        "uplift": "pp",
        "uplift_ci_low": "pp",
        "uplift_ci_high": "pp",
        "p_value": "p",
        "p_holm": "p",
        "open_rate": "pct",
        "ctr": "pct",
    }
    cols = [
        "campaign_name",
        "treated",
        "control",
        "open_rate",
        "ctr",
        "cvr",
        "control_cvr",
        "uplift",
        "uplift_ci_low",
        "uplift_ci_high",
        "p_value",
        "revenue",
        "cost",
        "incremental_revenue",
        "roi",
        "cost_per_acquisition",
        "revenue_per_contact",
    ]
    parts = [
        page.image(plots.uplift(totals), "campaign uplift"),
        page.image(
            plots.bars(
                [t["campaign_name"] for t in totals],
                [t["roi"] or 0.0 for t in totals],
                "ROI on incremental revenue",
                fmt="{:+.1f}",
            ),
            "campaign ROI",
        ),
        page.table(
            totals,
            cols,
            kinds,
            {"campaign_name": "campaign", "uplift_ci_low": "95% CI low", "uplift_ci_high": "95% CI high"},
        ),
        "<h3>Uplift by segment</h3>",
        page.table(
            by_segment,
            [
                "campaign_id",
                "segment",
                "channel",
                "treated",
                "control",
                "cvr",
                "control_cvr",
                "uplift",
                "p_holm",
                "significant",
            ],
            kinds,
            {"p_holm": "p (Holm)"},
        ),
    ]
    if plan:
        parts += [
            "<h3>Next campaign plan</h3>",
            page.table(plan, ["campaign_name", "group", "customers", "cost", "expected_profit", "avg_p_convert"]),
        ]
    return page.section("Campaigns", *parts)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("report", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
