"""`pmkt attribution` on a hand-built lake: the Markov credit, ROI and budget suggestion, exactly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pmkt.jobs import attribution
from pmkt.libs import tables
from pmkt.libs.lake import Lake
from tests.conftest import seed, test_config
from tests.libs.test_attribution import at


def test_the_job_credits_channels_by_removal_effect_and_splits_the_budget_by_credited_revenue(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = test_config(tmp_path)
    lake = Lake(spark, config.lake)
    contacts = [  # the journeys of the Markov oracle: c1 A→B→order, c2 A, c3 B; a control contact is never sent
        ("c1", at(1), "A", "treatment", 1.0),
        ("c1", at(2), "B", None, 3.0),
        ("c2", at(1), "A", "treatment", 1.0),
        ("c3", at(1), "B", "treatment", 3.0),
        ("c4", at(1), "A", "control", 0.0),
    ]
    seed(
        lake,
        spark.createDataFrame(
            contacts, "customer_id string, sent_ts timestamp, channel string, group string, cost double"
        ),
        tables.SILVER["campaign_contacts"],
    )
    lines = [("c1", "o1", at(3), 30.0), ("c9", "o2", at(100), 5.0), ("c4", "o3", at(2), 8.0)]  # c9, c4: organic
    seed(
        lake,
        spark.createDataFrame(lines, "customer_id string, order_id string, order_ts timestamp, amount double"),
        tables.SILVER["transactions"],
    )
    attribution.run(spark, config)
    rows = {(r.model, r.channel): r for r in lake.read(tables.ATTRIBUTION).collect()}  # 5 models x 2 channels at most
    a, b = rows[("markov", "A")], rows[("markov", "B")]
    assert (a.removal_effect, b.removal_effect) == (pytest.approx(0.5), pytest.approx(1.0))
    assert (a.conversions, b.conversions) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert (a.revenue, b.revenue) == (pytest.approx(10.0), pytest.approx(20.0))
    assert (a.touches, a.cost, b.touches, b.cost) == (2, 2.0, 2, 6.0)
    assert (a.roi, b.roi) == (pytest.approx((10 - 2) / 2), pytest.approx((20 - 6) / 6))
    assert (a.suggested_budget, b.suggested_budget) == (pytest.approx(8 * 10 / 30), pytest.approx(8 * 20 / 30))
    assert rows[("last_touch", "B")].conversions == 1.0 and rows[("first_touch", "A")].conversions == 1.0
    assert rows[("first_touch", "A")].suggested_budget is None
    assert {r.period_end for r in rows.values()} == {at(100) + dt.timedelta(seconds=1)}
