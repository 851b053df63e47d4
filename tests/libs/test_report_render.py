"""The report's sections rendered from tiny rows: what each shows, in which order and format, and that a
section with nothing to show is left out."""

from __future__ import annotations

import re

from pmkt.libs.report import render


def _cells(section: str) -> list[list[str]]:
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", section) if "<td>" in row]


def test_recommendations_show_the_test_split_per_method_in_order() -> None:
    metrics = [
        {"variant": "popular", "metric": "ndcg@10", "value": 0.09, "split": "test"},
        {"variant": "als", "metric": "ndcg@10", "value": 0.18, "split": "test"},
        {"variant": "als", "metric": "coverage", "value": 0.965, "split": "test"},
        {"variant": "als_r6", "metric": "ndcg@10", "value": 0.5, "split": "validation"},  # a tuning trial
        {"variant": "all", "metric": "test_customers", "value": 7198.0, "split": "test"},
    ]
    section = render.recommendations(metrics, 10, 30)
    assert section.count("<img") == 1 and "Trained before the last 30 days" in section
    assert _cells(section) == [
        ["popular", "0.0900", "–", "–", "–", "–"],
        ["als", "0.1800", "–", "–", "–", "0.9650"],
    ]
    assert render.recommendations([m for m in metrics if m["split"] != "test"], 10, 30) == ""


def test_churn_shows_its_three_curves_and_the_headline_metrics_only() -> None:
    points = [
        {"kind": kind, "variant": "logreg", "x": x, "y": x, "point": i}
        for kind in ("roc", "lift", "calibration")
        for i, x in enumerate((0.0, 0.5, 1.0))
    ]
    metrics = [
        {"variant": "logreg", "metric": "roc_auc", "value": 0.87, "split": "s"},
        {"variant": "logreg", "metric": "base_rate", "value": 0.21, "split": "s"},  # not a headline
        {"variant": "gbt", "metric": "roc_auc", "value": 0.9, "split": "s"},
    ]
    section = render.churn(points, metrics)
    assert section.count("<img") == 3 and "0.21" not in section
    assert _cells(section) == [["logreg", "0.8700", "–", "–", "–"], ["gbt", "0.9000", "–", "–", "–"]]
    assert render.churn(None, metrics) == "" and render.churn([], metrics) == ""


def test_rules_format_shares_as_percentages_and_empty_sections_are_left_out() -> None:
    rule = {"if bought": "P1", "then": "P2", "support": 0.0123, "confidence": 0.5, "lift": 4.2, "orders": 1234}
    assert _cells(render.rules([rule])) == [["P1", "P2", "1.2%", "50.0%", "4.2000", "1,234"]]
    assert render.rules(None) == ""
    assert "No rule was kept: none reached basket.min_confidence" in render.rules([])
    assert "<table>" not in render.rules([])
    assert render.quality([], []) == ""
    assert render.segments(None) == "" and render.rfm(None) == "" and render.campaigns(None) == ""
    assert render.fairness([]) == ""
