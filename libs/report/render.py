"""The report's HTML: one section per job's findings, each rendered from the rows `sections` reads (a section
with nothing to show is left out)."""

from __future__ import annotations

from pmkt.libs.config import Config
from pmkt.libs.lake import Lake
from pmkt.libs.report import page, plots, sections
from pmkt.libs.report.sections import Rows

TITLE = "Precision marketing report"


def document(lake: Lake, config: Config) -> str:
    """The whole page for the lake's latest results."""
    parts = [
        data(sections.data_summary(lake)),
        quality(*sections.quality(lake)),
        segments(sections.segments(lake)),
        rfm(sections.rfm_grid(lake)),
        recommendations(sections.model_metrics(lake, "recommend"), config.recommend.top_k, config.recommend.test_days),
        rules(sections.top_rules(lake, config.report.top_rules)),
        churn(sections.churn_curves(lake), sections.model_metrics(lake, "churn")),
        uplift(sections.uplift_curves(lake), sections.model_metrics(lake, "uplift")),
        ctr(sections.model_metrics(lake, "ctr")),
        clv(sections.clv(lake), sections.model_metrics(lake, "clv")),
        campaigns(sections.campaigns(lake)),
        attribution(sections.attribution(lake)),
        fairness(sections.fairness(lake)),
    ]
    return page.document(TITLE, [p for p in parts if p])


def data(rows: Rows) -> str:
    return page.section(
        "Data",
        page.table(rows, ["table", "rows", "from", "to", "quarantined"]),
        page.note("Rows in each silver table and the rows ingest set aside in silver.quarantine, with a reason."),
    )


def quality(checks: Rows, drifted: Rows) -> str:
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


def fairness(rows: Rows) -> str:
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


def segments(found: tuple[Rows, Rows] | None) -> str:
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


def rfm(found: tuple[Rows, Rows] | None) -> str:
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


def recommendations(metrics: Rows, k: int, test_days: int) -> str:
    rows = [r for r in metrics if r["split"] == "test" and r["variant"] != "all"]
    if not rows:
        return ""
    methods = list(dict.fromkeys(r["variant"] for r in rows))
    wide = [{"method": m, **{r["metric"]: r["value"] for r in rows if r["variant"] == m}} for m in methods]
    shown = [f"ndcg@{k}", f"precision@{k}", f"recall@{k}", f"map@{k}", "coverage"]
    chart = plots.bars(methods, [w.get(f"ndcg@{k}", 0.0) for w in wide], f"nDCG@{k} on the test period", fmt="{:.3f}")
    return page.section(
        "Recommendations against baselines",
        page.image(chart, "recommender ndcg"),
        page.table(wide, ["method", *shown]),
        page.note(
            f"Trained before the last {test_days} days, tested on what customers did in them; "
            "every method goes through the same serving rules. Popularity is the baseline."
        ),
    )


def rules(found: Rows | None) -> str:
    if found is None:
        return ""
    if not found:
        return page.section(
            "Top association rules",
            page.note(
                "No rule was kept: none reached basket.min_confidence. The basket step's log names the most "
                "confident rule the frequent itemsets give."
            ),
        )
    return page.section(
        "Top association rules",
        page.table(
            found,
            ["if bought", "then", "support", "confidence", "lift", "orders"],
            {"support": "pct", "confidence": "pct"},
        ),
    )


def churn(points: Rows | None, metrics: Rows) -> str:
    if not points:
        return ""
    images = [page.image(uri, f"churn {name}") for name, uri in plots.classifier_curves(points).items()]
    kept = [r for r in metrics if r["metric"] in ("roc_auc", "pr_auc", "brier", "top_decile_lift")]
    variants = list(dict.fromkeys(r["variant"] for r in kept))
    wide = [{"model": v, **{r["metric"]: r["value"] for r in kept if r["variant"] == v}} for v in variants]
    return page.section(
        "Churn",
        f'<div class="plots">{"".join(images)}</div>',
        page.table(wide, ["model", "roc_auc", "pr_auc", "brier", "top_decile_lift"]),
    )


def uplift(points: Rows | None, metrics: Rows) -> str:
    if not points:
        return ""
    series = {
        v: ([p["fraction"] for p in points if p["variant"] == v], [p["qini"] for p in points if p["variant"] == v])
        for v in dict.fromkeys(p["variant"] for p in points)
    }
    first = next(iter(series))
    series["random"] = (
        [p["fraction"] for p in points if p["variant"] == first],
        [p["random"] for p in points if p["variant"] == first],
    )
    names = list(dict.fromkeys(m["metric"] for m in metrics if m["metric"] != "chosen"))
    wide = [
        {
            "method": v,
            "chosen": any(m["variant"] == v and m["metric"] == "chosen" for m in metrics),
            **{m["metric"]: m["value"] for m in metrics if m["variant"] == v},
        }
        for v in series
        if v != "random"
    ]
    split = next((m["split"] for m in metrics), "")
    return page.section(
        "Uplift",
        page.image(
            plots.lines(
                series, "Qini curves on the held-out campaign", "share of contacts targeted", "incremental conversions"
            ),
            "uplift Qini curves",
        ),
        page.table(wide, ["method", *names, "chosen"], {n: "pp" for n in names if n.startswith("uplift@")}),
        page.note(
            f"Contacts ranked by predicted uplift ({split}); the chosen method scores campaigns with targeting: uplift."
        ),
    )


def ctr(metrics: Rows) -> str:
    if not metrics:
        return ""
    methods = list(dict.fromkeys(m["variant"] for m in metrics))
    wide = [
        {
            "model": v,
            **{m["metric"]: m["value"] for m in metrics if m["variant"] == v},
            "chosen": any(m["variant"] == v and m["metric"] == "chosen" for m in metrics),
        }
        for v in methods
    ]
    return page.section(
        "Click-through",
        page.table(
            wide,
            ["model", "roc_auc", "log_loss", "click_rate", "contacts", "chosen"],
            {"click_rate": "pct"},
            {"logreg": "logistic regression"},
        ),
        page.note(
            f"P(click) on the held-out campaign ({metrics[0]['split']}): a factorization machine and a "
            "logistic regression on the same hashed features. The chosen model gives the plan's p_click."
        ),
    )


def clv(found: tuple[Rows, Rows, str] | None, metrics: Rows) -> str:
    if not found:
        return ""
    buckets, deciles, by = found
    parts = []
    if buckets:
        labels = [b["frequency_bucket"] for b in buckets]
        points = list(range(len(labels)))
        series = {
            "predicted": (points, [b["predicted"] for b in buckets]),
            "actual": (points, [b["actual"] for b in buckets]),
        }
        split = next((m["split"] for m in metrics if m["variant"] == "holdout"), "")
        parts += [
            page.image(
                plots.lines(
                    series,
                    "Hold-out purchases by past frequency",
                    f"repeat purchases before the hold-out (0 … {labels[-1]})",
                    "mean purchases in the hold-out",
                ),
                "CLV calibration",
            ),
            page.table(buckets, ["frequency_bucket", "customers", "predicted", "actual"]),
            page.note(
                f"BG/NBD fitted on the purchases before the hold-out ({split}), then its forecast of each "
                "customer's purchases in the hold-out period against what they bought."
            ),
        ]
    money = ["mean_clv", "total_clv"] if by == "clv" else []
    parts += [
        f"<h3>Customers by {'CLV' if by == 'clv' else 'expected purchases'} decile</h3>",
        page.table(deciles, ["decile", "customers", *money, "mean_p_alive", "mean_expected_purchases"]),
    ]
    if not money:
        parts.append(page.note("No order values: BG/NBD's expected purchases and P(alive) only, no CLV."))
    fitted = [m for m in metrics if m["variant"] in ("bgnbd", "gamma_gamma") and m["metric"] not in ("patterns",)]
    parts.append(page.table(fitted, ["variant", "metric", "value"]))
    return page.section("Customer lifetime value", *parts)


def attribution(rows: Rows | None) -> str:
    if not rows:
        return ""
    models = ["first_touch", "last_touch", "linear", "time_decay", "markov"]
    return page.section(
        "Attribution",
        page.image(
            plots.bars(
                [r["channel"] for r in rows],
                [r.get("markov") or 0.0 for r in rows],
                "Markov share of conversions",
                fmt="{:.1%}",
            ),
            "attribution",
        ),
        page.table(
            rows,
            ["channel", "touches", *models, "removal_effect", "cost", "roi", "suggested_budget"],
            {m: "pct" for m in models},
        ),
        page.note(
            "Each model's share of the orders that came within attribution.window_days of a campaign touch. The "
            "Markov removal effect is the share of conversions lost without the channel; the suggested budget "
            "splits the period's contact cost by the revenue the Markov model credits to each channel."
        ),
    )


def campaigns(found: tuple[Rows, Rows, Rows] | None) -> str:
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
