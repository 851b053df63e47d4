"""Reason codes in words: a category is named by the customer's own value, pushes add up per feature."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.functions import vector_to_array
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs.classify import model as cm
from pmkt.libs.classify.model import LABEL
from pmkt.libs.errors import MissingInput

CONTRACTS = ("Month-to-month", "One year", "Two year")


def _rows(spark: SparkSession):
    # Churn follows the contract (month-to-month churns) and short tenure; MonthlyCharges is noise.
    rows = []
    for i in range(240):
        contract = CONTRACTS[i % 3]
        tenure = float((i * 7) % 60)
        churned = 1.0 if (contract == "Month-to-month" and tenure < 40) or (i % 17 == 0) else 0.0
        rows.append((f"c{i}", "2025-01-01", tenure, float(20 + (i * 13) % 80), contract, churned))
    return spark.createDataFrame(
        rows,
        "customer_id string, snapshot_date string, tenure double, MonthlyCharges double, contract string, "
        f"{LABEL} double",
    )


def test_reasons_name_the_customers_own_category_and_sum_pushes_per_feature(spark: SparkSession) -> None:
    spec = cm.Spec(("tenure", "MonthlyCharges"), ("contract",))
    data = cm.prepare(_rows(spark), spec, balance=False)
    fitted = cm.fit_logistic(data, spec, reg=0.01)
    scored = fitted.transform(data).select(
        "customer_id",
        "contract",
        vector_to_array(cm.SCALED).alias("x"),
        cm.reason_codes(fitted, spec, {"tenure": "short tenure"}, top=3).alias("reasons"),
    )
    coefs = np.array(fitted.stages[-1].coefficients)
    widths = [1, 1, len(coefs) - 2]
    for row in scored.collect():
        contract_words = [r for r in row.reasons if r.startswith("contract: ")]
        assert contract_words in ([], [f"contract: {row.contract}"])  # never a level the customer doesn't have
        push = np.array(row.x) * coefs
        per_feature = [push[0], push[1], push[2:].sum()]
        words = ["short tenure", "monthly charges", f"contract: {row.contract}"]
        expected = [w for p, w in sorted(zip(per_feature, words, strict=True), key=lambda t: -t[0]) if p > 0]
        assert row.reasons == expected
    assert sum(widths) == len(coefs)
    month = scored.where(F.col("contract") == "Month-to-month").first()
    assert "contract: Month-to-month" in month.reasons


def test_humanise_makes_column_names_words() -> None:
    assert [cm.humanise(c) for c in ("MonthlyCharges", "days_since_last_event", "SeniorCitizen", "tenure")] == [
        "monthly charges",
        "days since last event",
        "senior citizen",
        "tenure",
    ]
    with pytest.raises(ValueError):
        cm.reason_codes(
            type("M", (), {"stages": [type("S", (), {"coefficients": [1.0]})()]})(), cm.Spec(("a", "b"), ()), {}
        )


def test_the_comparison_gbt_has_the_configured_trees_and_depth(spark: SparkSession) -> None:
    spec = cm.Spec(("tenure", "MonthlyCharges"), ("contract",))
    fitted = cm.gbt(cm.prepare(_rows(spark), spec), spec, seed=3, trees=3, depth=2)
    booster = fitted.stages[-1]
    assert booster.getNumTrees == 3
    assert max(tree.depth for tree in booster.trees) <= 2


def test_model_input_lays_the_same_rows_out_alike_whatever_order_they_arrive_in(spark: SparkSession) -> None:
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import VectorAssembler

    rows = _rows(spark)
    # The same rows, arriving as another table layout would deliver them: other partitions, another order.
    shuffled = rows.repartition(3, F.rand(seed=11)).orderBy(F.rand(seed=5))
    first, second = cm.model_input(rows), cm.model_input(shuffled)
    assert first.rdd.glom().collect() == second.rdd.glom().collect()  # bounded: 240 tiny rows
    assert first.rdd.getNumPartitions() == spark.sparkContext.defaultParallelism
    # A forest draws each tree's bag per partition, so the layout decides the model: here it is the same model.
    forest = RandomForestClassifier(labelCol=LABEL, numTrees=5, maxDepth=3, seed=1)
    assembler = VectorAssembler(inputCols=["tenure", "MonthlyCharges"], outputCol="features")
    scores = [
        forest.fit(assembler.transform(df)).transform(assembler.transform(rows)).orderBy("customer_id")
        for df in (first, second)
    ]
    a, b = ([float(r[0][1]) for r in s.select("probability").collect()] for s in scores)  # bounded: 240 rows
    assert a == b
    # Without the layout, the same forest on the rows as they arrived is another model.
    arrived = forest.fit(assembler.transform(shuffled.coalesce(2))).transform(assembler.transform(rows))
    c = [float(r[0][1]) for r in arrived.orderBy("customer_id").select("probability").collect()]  # bounded
    assert c != a


def test_features_with_no_value_are_left_out_before_the_imputer_sees_them(spark: SparkSession) -> None:
    """Transactions without events (CDNOW): the snapshot's event features exist and are null in every row."""
    rows = spark.createDataFrame(
        [("A", 3.0, None, "x", 1.0), ("B", None, None, None, 0.0), ("C", 1.0, None, "y", 1.0)],
        "customer_id string, frequency double, views double, channel string, label double",
    )
    spec = cm.Spec(("frequency", "views"), ("channel",))
    kept = cm.observed(spec, rows)
    assert kept == cm.Spec(("frequency",), ("channel",))
    fitted = cm.fit_logistic(cm.prepare(rows.withColumn("snapshot_date", F.current_date()), kept), kept, reg=0.1)
    assert len(fitted.stages[-1].coefficients) == 1 + 4  # frequency; then x, y, "unknown" and the unseen level
    with pytest.raises(MissingInput, match="none of the model's features has a value"):
        cm.observed(cm.Spec(("views",), ()), rows)
