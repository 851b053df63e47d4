"""Plots as base64 PNG data URIs, drawn with matplotlib's non-interactive Agg backend."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

Rows = list[dict[str, Any]]
COLOURS = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#718096")


def _png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=96)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def bars(labels: Sequence[str], values: Sequence[float], title: str, xlabel: str = "", fmt: str = "{:,.0f}") -> str:
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(labels) + 1.2))
    ax.barh(list(labels)[::-1], list(values)[::-1], color=COLOURS[0])
    for i, v in enumerate(list(values)[::-1]):
        ax.text(v, i, " " + fmt.format(v), va="center", fontsize=8)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.margins(x=0.15)
    return _png(fig)


def k_curve(curve: Rows) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot([r["k"] for r in curve], [r["silhouette"] for r in curve], marker="o", color=COLOURS[0])
    for r in curve:
        if r["chosen"]:
            ax.scatter(
                [r["k"]],
                [r["silhouette"]],
                s=140,
                facecolors="none",
                edgecolors=COLOURS[1],
                linewidths=2,
                label=f"chosen k={r['k']}",
            )
    ax.set_xlabel("k")
    ax.set_ylabel("silhouette")
    ax.set_title("Choosing the number of segments")
    ax.legend()
    return _png(fig)


def rfm_heatmap(cells: Rows) -> str:
    grid = [[0] * 5 for _ in range(5)]
    for c in cells:
        grid[5 - c["r_score"]][c["f_score"] - 1] = c["customers"]
    fig, ax = plt.subplots(figsize=(5, 4))
    image = ax.imshow(grid, cmap="Blues")
    for i in range(5):
        for j in range(5):
            ax.text(
                j,
                i,
                f"{grid[i][j]:,}",
                ha="center",
                va="center",
                fontsize=8,
                color="black" if grid[i][j] < max(map(max, grid)) * 0.6 else "white",
            )
    ax.set_xticks(range(5), [str(f) for f in range(1, 6)])
    ax.set_yticks(range(5), [str(r) for r in range(5, 0, -1)])
    ax.set_xlabel("frequency score (F)")
    ax.set_ylabel("recency score (R)")
    ax.set_title("Customers per RFM cell")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _png(fig)


def lines(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    xlabel: str,
    ylabel: str,
    diagonal: bool = False,
) -> str:
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    for i, (name, (x, y)) in enumerate(series.items()):
        ax.plot(x, y, marker="o" if len(x) <= 20 else None, markersize=3, label=name, color=COLOURS[i % len(COLOURS)])
    if diagonal:
        ax.plot([0, 1], [0, 1], linestyle="--", color="#a0aec0", label="chance" if "ROC" in title else "perfect")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return _png(fig)


def uplift(rows: Rows, label: str = "campaign_name") -> str:
    """Uplift in conversion with its 95% interval, one row per campaign or cell."""
    shown = [r for r in rows if r["uplift"] is not None]
    fig, ax = plt.subplots(figsize=(6.4, 0.5 * len(shown) + 1.4))
    for i, r in enumerate(shown[::-1]):
        colour = COLOURS[2] if r["significant"] else "#a0aec0"
        ax.errorbar(
            [r["uplift"]],
            [i],
            xerr=[[r["uplift"] - r["uplift_ci_low"]], [r["uplift_ci_high"] - r["uplift"]]],
            fmt="o",
            color=colour,
            capsize=4,
        )
    ax.axvline(0, color="#4a5568", linewidth=1)
    ax.set_yticks(range(len(shown)), [str(r[label]) for r in shown[::-1]])
    ax.set_xlabel("uplift in conversion rate, treatment - control (95% CI; green: significant)")
    ax.set_title("Campaign lift against control groups")
    return _png(fig)


def classifier_curves(points: Rows) -> dict[str, str]:
    """ROC, lift by decile and calibration of each variant, from `gold.churn_evaluation` rows (kind, variant, x, y)."""

    def series(kind: str) -> dict[str, tuple[list[float], list[float]]]:
        variants = sorted({p["variant"] for p in points if p["kind"] == kind})
        return {
            v: (
                [p["x"] for p in points if p["kind"] == kind and p["variant"] == v],
                [p["y"] for p in points if p["kind"] == kind and p["variant"] == v],
            )
            for v in variants
        }

    return {
        "roc": lines(series("roc"), "ROC", "false positive rate", "true positive rate", diagonal=True),
        "lift": lines(series("lift"), "Lift by decile", "decile (1 = highest risk)", "lift"),
        "calibration": lines(
            series("calibration"), "Calibration", "mean predicted", "observed churn rate", diagonal=True
        ),
    }


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
