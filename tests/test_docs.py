"""The documented examples run as written, and the generated reference pages match the code."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs import reference, tables
from pmkt.libs.config import load_config
from pmkt.libs.lake import Lake

ROOT = Path(__file__).resolve().parent.parent
BYOD, RECS = "bring-your-own-data.md", "recommendations.md"


def doc_example(page: str, name: str) -> str:
    """The code block marked `<!-- doc-example: name -->` in docs/<page>."""
    text = (ROOT / "docs" / page).read_text()
    match = re.search(rf"<!-- doc-example: {re.escape(name)} -->\n```[a-z]*\n(.*?)```", text, re.S)
    assert match, f"example {name} not found in docs/{page}"
    return match.group(1)


def test_byod_example(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    shutil.copy(ROOT / "conf" / "local.yaml", tmp_path / "conf" / "local.yaml")
    (tmp_path / "conf" / "myshop.yaml").write_text(doc_example(BYOD, "myshop.yaml"))
    (tmp_path / "exports" / "orders").mkdir(parents=True)
    (tmp_path / "exports" / "orders" / "2025-02.csv").write_text(doc_example(BYOD, "orders.csv"))
    # Exactly the documented command, from the folder holding conf/ and exports/.
    pmkt = [sys.executable, "-m", "pmkt.jobs.cli", "ingest", "--conf-file", "conf/myshop.yaml"]
    done = subprocess.run(
        pmkt, cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    claimed = re.search(r"the run logs\n`(.*?)`", (ROOT / "docs" / BYOD).read_text()).group(1)
    assert claimed in done.stderr

    config = load_config(tmp_path / "conf" / "myshop.yaml", [f"lake.root={tmp_path / 'lakehouse' / 'myshop'}"])
    lake = Lake(spark, config.lake)
    [report] = lake.read(tables.INGEST_RUNS).collect()
    assert (report.input, report.inserted, report.quarantined, report.duplicates, report.unchanged) == (3, 2, 1, 0, 0)
    silver = lake.read(tables.SILVER["transactions"])
    assert sorted((r.order_id, r.product_id, r.amount, r.Filiale) for r in silver.collect()) == [
        ("B100", "A-7", 1120.0, "Berlin"),  # 1.120,00
        ("B100", "A-9", 19.98, "Berlin"),
    ]
    assert [r.reason for r in lake.read(tables.QUARANTINE).select("reason").collect()] == ["negative_value"]
    assert silver.where(F.col("order_ts").isNull()).count() == 0


def test_ratings_example(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    shutil.copy(ROOT / "conf" / "local.yaml", tmp_path / "conf" / "local.yaml")
    (tmp_path / "conf" / "ratings.yaml").write_text(doc_example(RECS, "ratings.yaml"))
    (tmp_path / "exports" / "ratings").mkdir(parents=True)
    ratings = doc_example(RECS, "ratings.csv")
    (tmp_path / "exports" / "ratings" / "ratings.csv").write_text(ratings)
    pmkt = [sys.executable, "-m", "pmkt.jobs.cli", "pipeline", "--conf-file", "conf/ratings.yaml"]
    done = subprocess.run(
        pmkt, cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert done.returncode == 0, done.stderr[-2000:]

    lake = Lake(
        spark, load_config(tmp_path / "conf" / "ratings.yaml", [f"lake.root={tmp_path / 'lakehouse' / 'ratings'}"]).lake
    )
    recs = lake.read(tables.RECOMMENDATIONS).collect()
    rated = {(u, m) for u, m, r, _ in (line.split(",") for line in ratings.strip().splitlines()[1:])}
    users = {u for u, _ in rated}
    assert sorted(r.customer_id for r in recs) == sorted(
        u for u in users for _ in range(3)
    )  # three each, as the docs say
    assert ("1", "31") in rated  # user 1 rated movie 31 a 2.5, below min_rating: still never recommended back
    assert not {(r.customer_id, r.product_id) for r in recs} & rated


def test_configuration_reference_is_generated_from_the_code() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert reference.render(page) == page, "docs/configuration.md differs from libs/config: run `make docs`"
    generated = reference.config_reference()
    assert "| `basket.min_support` | float | `0.001` | share of baskets an itemset needs |" in generated
    assert "| `pipeline.steps` | list of string | `[]` |" in generated
    assert "| `path` | string | required |" in generated  # an ingest source's own field


def test_every_config_key_says_what_it_means() -> None:
    helps = reference.field_help()
    bare = [f"{cls}.{name}" for (cls, name), text in helps.items() if not text and cls != "Config"]
    assert bare == []
    assert helps[("BasketConfig", "min_count")].startswith("and at least this many baskets")


def test_the_table_catalogue_is_generated_from_the_contracts() -> None:
    page = (ROOT / "docs" / "tables.md").read_text()
    assert reference.render_tables(page) == page, "docs/tables.md differs from libs/contracts: run `make docs`"
    sections = re.findall(r"^### (\S+)$", page, re.M)
    assert sections == [str(t) for t in (*tables.CATALOGUE, tables.LAKE_LOCK)]
    features = page.split("### gold.customer_features", 1)[1].split("###", 1)[0]
    assert "| `orders_<n>d` | `int` |" in features
    assert "| `category_shares` | `map<string,double>` |" in features
    customers = page.split("### silver.customers", 1)[1].split("###", 1)[0]
    assert "| `name_pseudo` | `string` |" in customers
    assert not {"`name`", "`email`", "`phone`"} & set(re.findall(r"^\| (`\w+`)", customers, re.M))  # raw PII
