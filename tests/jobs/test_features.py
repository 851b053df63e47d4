"""Point-in-time features and hand-computed RFM."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.c360 import inputs as c360_inputs
from pmkt.libs.c360 import profiles, snapshot
from pmkt.libs.churn import labels
from pmkt.libs.config import FeaturesConfig, load_config
from pmkt.libs.errors import ConfigError, UserError
from pmkt.libs.lake import Lake
from tests.conftest import GeneratedLake, seed

CUTOFF = dt.date(2025, 7, 1)


def _shift_after(df: DataFrame, ts: str, key: str, cutoff: dt.date) -> DataFrame:
    """Copies of rows moved to the cutoff instant itself and later, with new keys."""
    start = dt.datetime.combine(cutoff, dt.time())
    moved = df.withColumn(ts, F.lit(start) + F.make_interval(days=(F.abs(F.hash(F.col(key))) % 60).cast("int")))
    return moved.withColumn(key, F.concat(F.lit("future-"), F.col(key)))


@pytest.mark.slow
def test_rows_after_the_cutoff_change_nothing(spark: SparkSession, generated: GeneratedLake) -> None:
    lake = Lake(spark, generated.config.lake)
    base = c360_inputs.load(lake)
    cutoff = dt.date(2025, 10, 1)
    later = snapshot.Inputs(
        lines=base.lines.unionByName(_shift_after(base.lines, "order_ts", "order_id", cutoff)),
        events=base.events.unionByName(_shift_after(base.events, "event_ts", "event_id", cutoff)),
        customers=base.customers,
        products=base.products,
        contacts=base.contacts.unionByName(_shift_after(base.contacts, "sent_ts", "contact_id", cutoff)),
    )
    cfg = FeaturesConfig()
    before = snapshot.build(base, cutoff, cfg)
    after = snapshot.build(later, cutoff, cfg)
    assert before.count() == after.count() > 500
    assert_df_equality(before.drop("category_shares"), after.drop("category_shares"), ignore_row_order=True)
    shares = before.select("customer_id", F.to_json("category_shares").alias("s"))
    assert shares.exceptAll(after.select("customer_id", F.to_json("category_shares").alias("s"))).count() == 0
    # ...while a later cutoff does see them: the comparison above is not vacuous.
    moved_on = snapshot.build(later, cutoff + dt.timedelta(days=61), cfg)
    assert moved_on.agg(F.sum("frequency")).first()[0] > before.agg(F.sum("frequency")).first()[0]


def _tiny(spark: SparkSession) -> snapshot.Inputs:
    orders = [  # customer, number of orders, last order, amount per order
        ("A", 5, dt.date(2025, 6, 30), 100.0),
        ("B", 4, dt.date(2025, 6, 20), 50.0),
        ("C", 3, dt.date(2025, 5, 1), 30.0),
        ("D", 2, dt.date(2025, 3, 1), 20.0),
        ("E", 1, dt.date(2024, 12, 1), 10.0),
    ]
    rows = []
    for cust, n, last, amount in orders:
        for i in range(n):
            day = last - dt.timedelta(days=7 * i)
            rows.append((f"{cust}{i}", "1", cust, dt.datetime.combine(day, dt.time(12)), "P1", 1, amount, amount))
    rows.append(("A-late", "1", "A", dt.datetime(2025, 7, 5, 9), "P1", 1, 999.0, 999.0))  # after the cutoff
    rows.append(("guest", "1", None, dt.datetime(2025, 6, 1, 9), "P1", 1, 80.0, 80.0))  # a guest order: no customer
    lines = spark.createDataFrame(
        rows,
        "order_id string, line_id string, customer_id string, order_ts timestamp, product_id string, quantity int, "
        "unit_price double, amount double",
    )
    customers = spark.createDataFrame(
        [(c, dt.date(2024, 1, 1), dt.date(1990, 5, 5)) for c in "ABCDEF"],
        "customer_id string, signup_date date, birth_date date",
    ).select(
        "customer_id",
        "signup_date",
        "birth_date",
        *[F.lit(None).cast("string").alias(c) for c in ("gender", "city", "email_domain", "channel")],
        F.lit(True).alias("consent"),
    )
    return snapshot.Inputs(lines=lines, customers=customers)


@pytest.mark.slow
def test_several_cutoffs_in_one_pass_equal_one_pass_each(spark: SparkSession, generated: GeneratedLake) -> None:
    inputs = c360_inputs.load(Lake(spark, generated.config.lake))
    cfg, cutoffs = FeaturesConfig(), [dt.date(2025, 8, 1), dt.date(2025, 11, 1)]

    def comparable(df: DataFrame) -> DataFrame:  # maps can't be sorted or compared as sets: sorted entries can
        return df.withColumn("category_shares", F.array_sort(F.map_entries("category_shares")))

    together = comparable(snapshot.build_many(inputs, cutoffs, cfg))
    apart = comparable(snapshot.build(inputs, cutoffs[0], cfg).unionByName(snapshot.build(inputs, cutoffs[1], cfg)))
    counts = {r.snapshot_date: r["count"] for r in together.groupBy("snapshot_date").count().collect()}  # 2 rows
    assert set(counts) == set(cutoffs) and counts[cutoffs[0]] < counts[cutoffs[1]]  # later sign-ups join
    # Sums may add in another order: equal to 1e-6, far below any feature's resolution.
    assert_approx_df_equality(together, apart, 1e-6, ignore_row_order=True, allow_nan_equality=True)


def test_rfm_values_scores_and_named_segments_by_hand(spark: SparkSession) -> None:
    feats = snapshot.build(_tiny(spark), CUTOFF, FeaturesConfig())
    rfm = {r.customer_id: (r.recency_days, r.frequency, r.monetary, r.tenure_days, r.age_band) for r in feats.collect()}
    assert rfm == {
        "A": (1, 5, 500.0, 547, "35-44"),
        "B": (11, 4, 200.0, 547, "35-44"),
        "C": (61, 3, 90.0, 547, "35-44"),
        "D": (122, 2, 40.0, 547, "35-44"),
        "E": (212, 1, 10.0, 547, "35-44"),
        "F": (None, 0, 0.0, 547, "35-44"),
    }
    cfg = load_config(None).profiles
    out = {
        r.customer_id: (r.r_score, r.f_score, r.m_score, r.rfm_cell, r.rfm_segment, r.tags)
        for r in profiles.build(feats, cfg).collect()
    }
    assert out == {
        "A": (5, 5, 5, "555", "Champions", ["high value"]),
        "B": (4, 4, 4, "444", "Loyal", []),
        "C": (3, 3, 3, "333", "Need Attention", []),
        "D": (2, 2, 2, "222", "Hibernating", []),
        "E": (1, 1, 1, "111", "Lost", []),
        "F": (None, None, None, None, "Prospect", []),
    }


def test_events_alone_make_features(spark: SparkSession) -> None:
    """A clickstream export with no orders (views, carts and purchases as events) still gets a snapshot."""
    events = spark.createDataFrame(
        [
            ("e1", "A", "P1", "view", dt.datetime(2025, 6, 1, 10), "mobile", "s1"),
            ("e2", "A", "P1", "add_to_cart", dt.datetime(2025, 6, 1, 10, 5), "mobile", "s1"),
            ("e3", "A", "P2", "view", dt.datetime(2025, 6, 20, 18), "desktop", "s2"),
            ("e4", "B", "P2", "view", dt.datetime(2025, 6, 29, 9), None, "s3"),
            ("e5", "B", "P2", "purchase", dt.datetime(2025, 7, 2, 9), None, "s4"),  # after the cutoff
        ],
        "event_id string, customer_id string, product_id string, event_type string, event_ts timestamp, "
        "device string, session_id string",
    )
    feats = snapshot.build(snapshot.Inputs(lines=None, events=events), CUTOFF, FeaturesConfig())
    got = {
        r.customer_id: (r.views, r.carts, r.purchases, r.sessions, r.events, r.days_since_last_event, r.frequency)
        for r in feats.collect()  # two rows
    }
    assert got == {"A": (2, 1, 0, 2, 3, 11, 0), "B": (1, 0, 0, 1, 1, 2, 0)}
    assert feats.where(F.col("tenure_days").isNotNull()).count() == 0  # no orders, no signup: unknown, not 0


def test_bad_tag_condition_names_the_key(spark: SparkSession) -> None:
    feats = snapshot.build(_tiny(spark), CUTOFF, FeaturesConfig())
    cfg = load_config(None, ["profiles.tags=[{name: x, when: 'no_such_column > 1'}]"]).profiles
    with pytest.raises(ConfigError, match=r"config key 'profiles.tags\[0\]' \(x\) does not resolve"):
        profiles.build(feats, cfg)


def test_undated_order_lines_are_named_as_the_reason_there_is_no_cutoff(spark: SparkSession) -> None:
    """Baskets exported as order and product ids only ingest fine; features then say what is missing."""
    undated = spark.createDataFrame(
        [("o1", "p1", None), ("o1", "p2", None), ("o2", "p1", None)],
        "order_id string, product_id string, order_ts timestamp",
    )
    with pytest.raises(
        UserError, match=r"^silver.order_lines holds 3 lines and none has an order_ts: .*columns.order_ts"
    ):
        c360_inputs.default_cutoff(snapshot.Inputs(lines=undated))
    with pytest.raises(UserError, match=r"^silver has no orders or events to build features from$"):
        c360_inputs.default_cutoff(snapshot.Inputs(lines=undated.limit(0)))
    dated = undated.withColumn("order_ts", F.lit(dt.datetime(2025, 3, 4, 23, 59)))
    assert c360_inputs.default_cutoff(snapshot.Inputs(lines=dated)) == dt.date(2025, 3, 5)


def test_rerunning_a_cutoff_replaces_only_that_snapshot(spark: SparkSession, tmp_path: Path) -> None:
    config = load_config(None, [f"lake.root={tmp_path}", "features.cutoffs=[2025-06-01, 2025-07-01]"])
    lake = Lake(spark, config.lake)
    tiny = _tiny(spark)
    for cutoff in (dt.date(2025, 6, 1), CUTOFF):
        lake.write_snapshot(snapshot.build(tiny, cutoff, config.features), tables.CUSTOMER_FEATURES, cutoff)
    lake.write_snapshot(snapshot.build(tiny, CUTOFF, config.features), tables.CUSTOMER_FEATURES, CUTOFF)
    counts = {
        r.snapshot_date: r["count"]
        for r in lake.read(tables.CUSTOMER_FEATURES).groupBy("snapshot_date").count().collect()
    }
    assert counts == {dt.date(2025, 6, 1): 6, CUTOFF: 6}
    assert lake.version(tables.CUSTOMER_FEATURES) == 2


def test_a_stored_snapshot_is_reused_only_while_its_inputs_config_and_code_stand(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = load_config(None, [f"lake.root={tmp_path}"])
    lake = Lake(spark, config.lake)
    tiny = _tiny(spark)
    seed(lake, tiny.lines, tables.SILVER["transactions"], mode="overwrite")
    seed(lake, tiny.customers, tables.SILVER["customers"], mode="overwrite")
    days = [dt.date(2025, 6, 1), CUTOFF]

    def materialise(cfg: FeaturesConfig, wanted: list[dt.date]) -> dict[dt.date, int]:
        stored = c360_inputs.materialise_snapshots(lake, c360_inputs.load(lake), wanted, cfg)
        assert c360_inputs.BUILT_FROM not in stored.columns  # the stamp stays in the table, out of the models
        return {r.snapshot_date: r["count"] for r in stored.groupBy("snapshot_date").count().collect()}

    assert materialise(config.features, days) == {dt.date(2025, 6, 1): 6, CUTOFF: 6}  # A-F signed up in 2024
    built = lake.version(tables.CUSTOMER_FEATURES)
    assert materialise(config.features, [CUTOFF]) == {CUTOFF: 6}
    assert lake.version(tables.CUSTOMER_FEATURES) == built  # same silver, config and code: nothing written

    # A customer's first order moves into silver before the cutoff: that snapshot must be rebuilt.
    late = (
        tiny.lines.where(F.col("order_id") == "A-late")
        .withColumn("customer_id", F.lit("G"))
        .withColumn("order_id", F.lit("G0"))
        .withColumn("order_ts", F.lit(dt.datetime(2025, 6, 15, 9)))
    )
    seed(lake, late, tables.SILVER["transactions"], mode="append")
    assert materialise(config.features, [CUTOFF]) == {CUTOFF: 7}
    assert lake.version(tables.CUSTOMER_FEATURES) == built + 1
    # Another features config gives other rows: rebuilt again, though silver did not change.
    assert materialise(FeaturesConfig(windows=(7, 30)), [CUTOFF]) == {CUTOFF: 7}
    assert lake.version(tables.CUSTOMER_FEATURES) == built + 2
    stamps = (
        lake.read(tables.CUSTOMER_FEATURES)
        .groupBy("snapshot_date")
        .agg(F.countDistinct(c360_inputs.BUILT_FROM).alias("n"), F.first(c360_inputs.BUILT_FROM).alias("stamp"))
    )
    by_day = {r.snapshot_date: r.stamp for r in stamps.collect() if r.n == 1}
    assert set(by_day) == set(days) and by_day[CUTOFF] != by_day[dt.date(2025, 6, 1)]


def test_the_features_step_builds_every_cutoff_the_pipeline_models_read() -> None:
    config = load_config(
        None,
        [
            "pipeline.steps=[features, churn, propensity, response]",
            "churn.horizon_days=120",
            "churn.train_cutoffs=2",
            "churn.step_days=30",
            "propensity.horizon_days=30",
            "propensity.train_cutoffs=1",
        ],
    )
    last = dt.date(2026, 4, 2)
    starts = [dt.date(2025, 9, 1), dt.date(2025, 11, 1)]
    planned = labels.planned_cutoffs(config, last, starts, has_products=True)
    churn_test, propensity_test = last - dt.timedelta(days=120), last - dt.timedelta(days=30)
    assert planned == sorted(
        {
            churn_test - dt.timedelta(days=120),
            churn_test - dt.timedelta(days=150),
            churn_test,
            propensity_test - dt.timedelta(days=30),
            propensity_test,
            *starts,
        }
    )
    # Train cutoffs are exactly what the models ask for; scoring-only or absent steps ask for nothing.
    assert set(labels.rolling_cutoffs(last, config.churn)[0]) <= set(planned)
    idle = load_config(None, ["pipeline.steps=[features, churn, response]", "churn.mode=score"])
    assert labels.planned_cutoffs(idle, last, starts[:1], has_products=True) == []
