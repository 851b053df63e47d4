"""The report renders in a real browser: every image decodes and the key numbers are on the page."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.jobs import campaign, report
from pmkt.libs import tables
from pmkt.libs.lake import Lake
from pmkt.libs.metrics import latest_metrics
from pmkt.libs.report.page import fmt
from tests.conftest import GeneratedLake, own_copy

BROWSER = ("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")


def _browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "the report test needs Chromium: `make setup` installs the Debian chromium package"
    return found


def test_report_renders_with_every_image_and_the_key_numbers(
    spark: SparkSession, modelled: GeneratedLake, tmp_path: Path
) -> None:
    config = own_copy(modelled, tmp_path).config
    campaign.run(spark, config)
    path = Path(report.run(spark, config))
    assert path == Path(config.lake.root) / "reports" / "index.html"
    url = path.resolve().as_uri()
    chrome = _browser()
    dom = subprocess.run(
        [chrome, *BROWSER[1:], "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert loaded, "the page's load handler did not run"
    assert (
        loaded.group(1) == loaded.group(2) and int(loaded.group(2)) >= 12
    )  # segments x2, RFM, recs, churn x3, uplift, CLV calibration, campaigns x2, attribution
    shot = tmp_path / "report.png"
    subprocess.run(
        [chrome, *BROWSER[1:], "--hide-scrollbars", "--window-size=1280,3000", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000

    lake = Lake(spark, config.lake)
    text = re.sub(r"<[^>]+>", " ", dom)
    hybrid = (
        latest_metrics(lake, "recommend")
        .where((F.col("variant") == "hybrid") & (F.col("metric") == "ndcg@10"))
        .first()
        .value
    )
    assert fmt(hybrid) in text
    best_rule = lake.read(tables.ASSOCIATION_RULES).orderBy(F.desc("lift"), F.desc("support")).first()
    assert fmt(best_rule.lift) in text
    auc = (
        latest_metrics(lake, "churn")
        .where((F.col("variant") == "logreg") & (F.col("metric") == "roc_auc"))
        .first()
        .value
    )
    assert fmt(auc) in text
    for row in lake.read(tables.CAMPAIGN_METRICS).where(F.col("segment") == "all").collect():
        assert row.campaign_name in text and fmt(row.uplift, "pp") in text
    qini = latest_metrics(lake, "uplift").where(F.col("metric") == "qini").collect()  # one per method
    assert qini and all(fmt(r.value) in text for r in qini)
    aucs = latest_metrics(lake, "ctr").where(F.col("metric") == "roc_auc").collect()  # one per model
    assert len(aucs) == 2 and all(fmt(r.value) in text for r in aucs)
    clv = {r.metric: r.value for r in latest_metrics(lake, "clv").collect()}  # one run's few dozen rows
    assert fmt(clv["r"]) in text and fmt(clv["q"]) in text
    markov = lake.read(tables.ATTRIBUTION).where(F.col("model") == "markov").collect()  # one row per channel
    assert markov and all(fmt(r.suggested_budget) in text for r in markov)
    silver_orders = lake.read(tables.SILVER["transactions"]).count()
    assert fmt(silver_orders) in text
    for section in (
        "Data",
        "Segments",
        "RFM",
        "Recommendations against baselines",
        "Top association rules",
        "Churn",
        "Campaigns",
    ):
        assert f"<h2>{section}</h2>" in dom
