"""The fairness audit catches a planted biased selection, passes an unbiased one, and gets error rates exact."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.jobs import fairness as fairness_job
from pmkt.libs import fairness, tables
from pmkt.libs.config import Config, load_config
from pmkt.libs.errors import MissingInput
from pmkt.libs.lake import Lake
from tests.conftest import seed

DAY = dt.date(2025, 6, 1)


def _auc(pairs: list[tuple[float, bool]]) -> float:
    """Brute force over every (positive, negative) pair; ties count half."""
    pos = [s for s, y in pairs if y]
    neg = [s for s, y in pairs if not y]
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


@pytest.fixture(scope="module")
def audited(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, dict]:
    tmp_path = tmp_path_factory.mktemp("fairness")
    conf = tmp_path / "f.yaml"
    conf.write_text(f"lake:\n  root: {tmp_path / 'lake'}\nfairness:\n  groups: [gender]\n")
    config = load_config(conf)
    lake = Lake(spark, config.lake)
    # 400 customers, 200 F and 200 M; half of each group churned (label).
    people = [(f"C{i:03d}", "F" if i % 2 else "M", i % 4 < 2) for i in range(400)]
    seed(
        lake,
        spark.createDataFrame(
            [(DAY, c, g) for c, g, _ in people], "snapshot_date date, customer_id string, gender string"
        ),
        tables.CUSTOMER_FEATURES,
        mode="overwrite",
    )
    seed(
        lake,
        spark.createDataFrame([(c, y) for c, _, y in people], "customer_id string, churn_label boolean"),
        tables.SILVER["customers"],
        mode="overwrite",
    )
    # Campaign "biased" picks 40% of men and 10% of women; "fair" picks every fourth customer of each.
    plan = []
    for n, (c, g, _) in enumerate(people):
        k = n // 2  # the customer's position within its gender
        if (g == "M" and k % 10 < 4) or (g == "F" and k % 10 < 1):
            plan.append(("biased", DAY, c, "treatment"))
        if k % 4 == 0:
            plan.append(("fair", DAY, c, "treatment"))
    seed(
        lake,
        spark.createDataFrame(plan, "campaign_id string, snapshot_date date, customer_id string, group string"),
        tables.CAMPAIGN_PLAN,
        mode="overwrite",
    )
    # Churn's high band: women's churners 80% caught, men's 50%; 20% false alarms in both.
    churn, scored = [], {}
    for n, (c, g, y) in enumerate(people):
        k = n // 4  # position within (gender, label)
        high = (k % 10 < 8) if (y and g == "F") else (k % 10 < 5) if y else (k % 10 < 2)
        churn.append((DAY, c, 0.9 if high else 0.1, "high" if high else "low"))
        scored.setdefault(g, []).append((0.9 if high else 0.1, y))
    seed(
        lake,
        spark.createDataFrame(churn, "snapshot_date date, customer_id string, probability double, risk_band string"),
        tables.CHURN_SCORES,
        mode="overwrite",
    )
    fairness_job.run(spark, config)
    rows = {(r.decision, r.group): r for r in lake.read(tables.FAIRNESS_AUDIT).collect()}
    return config, {"rows": rows, "auc": {g: _auc(p) for g, p in scored.items()}}


def test_a_planted_biased_selection_is_flagged(audited: tuple) -> None:
    rows = audited[1]["rows"]
    women, men = rows[("campaign biased", "F")], rows[("campaign biased", "M")]
    assert (women.customers, women.selected, men.selected) == (200, 20, 80)
    assert women.selection_rate == pytest.approx(0.1) and men.selection_rate == pytest.approx(0.4)
    assert women.disparate_impact == pytest.approx(0.25) and men.disparate_impact == pytest.approx(1.0)
    assert women.parity_difference == pytest.approx(0.3)
    assert women.flagged and "disparate impact 0.25 < 0.8" in women.reason


def test_an_unbiased_selection_passes(audited: tuple) -> None:
    rows = audited[1]["rows"]
    for group in ("F", "M"):
        row = rows[("campaign fair", group)]
        assert (row.selected, row.disparate_impact, row.parity_difference, row.flagged) == (50, 1.0, 0.0, False)


def test_error_rates_and_auc_per_group_where_labels_exist(audited: tuple) -> None:
    rows, auc = audited[1]["rows"], audited[1]["auc"]
    women, men = rows[("churn high risk", "F")], rows[("churn high risk", "M")]
    assert (women.tpr, women.fpr, men.tpr, men.fpr) == (
        pytest.approx(0.8),
        pytest.approx(0.2),
        pytest.approx(0.5),
        pytest.approx(0.2),
    )
    assert women.auc == pytest.approx(auc["F"]) and men.auc == pytest.approx(auc["M"])
    assert women.equalised_odds_difference == pytest.approx(0.3) and women.flagged


def test_protected_attributes_stay_out_of_features_unless_readmitted(
    caplog: pytest.LogCaptureFixture, audited: tuple
) -> None:
    cfg = audited[0].fairness
    assert fairness.admitted(("recency_days", "gender", "age_band"), cfg, "churn") == ("recency_days",)
    with caplog.at_level(logging.WARNING, logger="pmkt"):
        again = fairness.admitted(("recency_days", "gender"), replace(cfg, allow_protected_features=True), "churn")
    assert again == ("recency_days", "gender")
    assert "churn uses protected attribute(s) gender" in caplog.text


def _customers_only_lake(spark: SparkSession, tmp: Path, customers: list[tuple], groups: str) -> tuple[Config, Lake]:
    """A labelled customer table and its churn scores, and no feature snapshot (features never ran)."""
    (tmp / "f.yaml").write_text(f"lake:\n  root: {tmp / 'lake'}\nfairness:\n  groups: {groups}\n")
    config = load_config(tmp / "f.yaml")
    lake = Lake(spark, config.lake)
    seed(
        lake,
        spark.createDataFrame(
            [(c, g, b, s, y) for c, g, b, s, y, _ in customers],
            "customer_id string, gender string, birth_date date, senior boolean, churn_label boolean",
        ).withColumn("city", F.lit(None).cast("string")),
        tables.SILVER["customers"],
    )
    seed(
        lake,
        spark.createDataFrame(
            [(dt.date.today(), c, 0.9 if high else 0.1, "high" if high else "low") for c, *_, high in customers],
            "snapshot_date date, customer_id string, probability double, risk_band string",
        ),
        tables.CHURN_SCORES,
    )
    return config, lake


def test_a_labelled_customer_table_alone_is_audited_from_silver_customers(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """No feature snapshot: gender, an extra column and the age band today come from silver.customers."""
    young, old = (dt.date.today() - dt.timedelta(days=round(years * 365.25)) for years in (21.5, 70.5))
    customers = []  # (id, gender, birth date, senior, churned, high risk)
    for i in range(240):
        gender, senior = ("F" if i % 2 else "M"), i % 3 == 0
        churned = i % 4 < 2
        high = churned and (i % 8 < 2 if gender == "M" else True)  # women's churners all caught, men's half
        customers.append((f"T{i:03d}", gender, old if senior else young, senior, churned, high))
    config, lake = _customers_only_lake(
        spark, tmp_path_factory.mktemp("labelled"), customers, "[gender, age_band, senior, city]"
    )
    with caplog.at_level(logging.INFO, logger="pmkt"):
        fairness_job.run(spark, config)
    assert "no customer has a value for city: not audited" in caplog.text
    # one row per attribute and group: seven
    rows = {(r.attribute, r.group): r for r in lake.read(tables.FAIRNESS_AUDIT).collect()}
    assert {a for a, _ in rows} == {"gender", "age_band", "senior"}
    group_of = {
        "gender": lambda c: c[1],
        "senior": lambda c: str(c[3]).lower(),
        "age_band": lambda c: "65+" if c[3] else "18-24",
    }
    for (attribute, group), row in rows.items():
        members = [c for c in customers if group_of[attribute](c) == group]
        churners = [c for c in members if c[4]]
        assert (row.decision, row.customers, row.selected) == (
            "churn high risk",
            len(members),
            sum(c[5] for c in members),
        ), (attribute, group)
        assert row.tpr == pytest.approx(sum(c[5] for c in churners) / len(churners)), (attribute, group)
    assert {g for a, g in rows if a == "age_band"} == {"18-24", "65+"}
    assert {g for a, g in rows if a == "senior"} == {"true", "false"}
    assert (rows[("gender", "F")].tpr, rows[("gender", "M")].tpr) == (1.0, 0.5)


def test_an_age_in_years_gives_the_age_band_where_the_snapshot_has_none(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An export with an `Age` column and no birth date: the snapshot's age band is empty, silver's age gives it."""
    ages = (17, 18, 24, 25, 64, 65, 90, None)
    band = {17: "<18", 18: "18-24", 24: "18-24", 25: "25-34", 64: "55-64", 65: "65+", 90: "65+", None: "unknown"}
    people = [(f"A{i:03d}", ages[i % len(ages)], i % 3 == 0) for i in range(240)]  # (id, age, high risk)
    tmp = tmp_path_factory.mktemp("ages")
    (tmp / "f.yaml").write_text(f"lake:\n  root: {tmp / 'lake'}\nfairness:\n  groups: [age_band]\n")
    config = load_config(tmp / "f.yaml")
    lake = Lake(spark, config.lake)
    seed(
        lake,
        spark.createDataFrame([(c, a) for c, a, _ in people], "customer_id string, Age int"),
        tables.SILVER["customers"],
    )
    snapshot = "snapshot_date date, customer_id string, age_band string"
    seed(lake, spark.createDataFrame([(DAY, c, None) for c, *_ in people], snapshot), tables.CUSTOMER_FEATURES)
    scores = [(DAY, c, 0.9 if high else 0.1, "high" if high else "low") for c, _, high in people]
    seed(
        lake,
        spark.createDataFrame(scores, "snapshot_date date, customer_id string, probability double, risk_band string"),
        tables.CHURN_SCORES,
    )
    fairness_job.run(spark, config)
    found = {
        r.group: (r.customers, r.selected)
        for r in lake.read(tables.FAIRNESS_AUDIT).where(F.col("attribute") == "age_band").collect()  # 6 bands
    }
    expected: dict[str, tuple[int, int]] = {}
    for _, age, high in people:
        n, k = expected.get(band[age], (0, 0))
        expected[band[age]] = (n + 1, k + high)
    assert found == expected
    assert set(found) == {"<18", "18-24", "25-34", "55-64", "65+", "unknown"}


def test_no_value_for_any_group_is_missing_input(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> None:
    customers = [(f"U{i}", None, None, None, i % 2 == 0, i % 3 == 0) for i in range(20)]
    config, _ = _customers_only_lake(spark, tmp_path_factory.mktemp("nogroups"), customers, "[gender, age_band, city]")
    with pytest.raises(MissingInput, match=r"none of fairness.groups \(gender, age_band, city\) has a value"):
        fairness_job.run(spark, config)


def test_the_generators_planted_bias_is_caught_and_nothing_else_is_flagged(spark: SparkSession, c360) -> None:
    """The generated world's past campaigns: one reached women at a quarter of the rate (truth.planted_bias)."""
    lake = Lake(spark, c360.config.lake)
    cfg = c360.config.fairness
    [planted] = lake.read(tables.TRUTH_BIAS).collect()
    groups, attributes = fairness.groups(lake, cfg)
    assert attributes == list(cfg.groups)  # each has values in the generated world
    flagged, impact = set(), {}
    contacts = [(d, frame) for d, frame in fairness.decisions(lake, cfg, groups) if d.startswith("contacts ")]
    for (decision, attribute), stats in fairness.group_stats(contacts, groups, attributes).items():
        for row in fairness.audit_rows("t", decision, attribute, stats, cfg):
            if row[13]:  # flagged
                flagged.add((decision, attribute))
            if row[14] and "disparate impact" in row[14]:
                impact[(decision, attribute, row[3])] = row[7]
    # 4 campaigns x (gender, age band, 10 cities): chance gaps in groups of ~60 are not flagged; the plant is.
    assert flagged == {(f"contacts {planted.campaign_id}", planted.attribute)}
    assert set(impact) == {(f"contacts {planted.campaign_id}", planted.attribute, planted.group)}
    assert list(impact.values())[0] == pytest.approx(planted.reach_factor, abs=0.1)
