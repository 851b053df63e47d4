"""Typing of landed text: numbers written with an export's own decimal and thousands marks."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs import schemas
from pmkt.libs.ingest.validate import typed_value

NBSP, NARROW_NBSP = "\u00a0", "\u202f"


@pytest.mark.parametrize(
    ("decimal", "thousands", "written"),
    [
        # Spark's own marks: the text is read as Spark reads it.
        (".", None, {"1234.5": 1234.5, "-2": -2.0, "1e3": 1000.0, ".5": 0.5, "1,234.5": None, "12,5": None}),
        (",", None, {"1234,5": 1234.5, ",75": 0.75, "-0,5": -0.5, "12.50": None, "1.234,5": None, "1,2,3": None}),
        (
            ",",
            ".",
            {"1.234,5": 1234.5, "1.234.567": 1234567.0, "12,5": 12.5, "1.23,4": None, "12.50": None, "1.2345": None},
        ),
        (".", ",", {"1,234.5": 1234.5, "1,234,567": 1234567.0, "12.5": 12.5, "12,34": None, "1,2345.6": None}),
        (".", "'", {"1'234.50": 1234.5, "1'234'567": 1234567.0, "12'34": None}),
        (",", " ", {"1 234,5": 1234.5, f"1{NBSP}234,5": 1234.5, f"12{NARROW_NBSP}345": 12345.0, "1 23,4": None}),
    ],
)
def test_numbers_read_with_the_sources_marks_or_not_at_all(
    spark: SparkSession, decimal: str, thousands: str | None, written: dict[str, float | None]
) -> None:
    texts = spark.createDataFrame([(t,) for t in written], "text string")
    value = typed_value(schemas.DOUBLE, F.col("text"), None, decimal, thousands)
    read = {r.text: r.value for r in texts.select("text", value.alias("value")).collect()}  # a handful of rows
    assert read == written


def test_an_int_column_takes_grouped_whole_numbers_only(spark: SparkSession) -> None:
    written = {"1.000": 1000, "2": 2, "2,5": None, "2,0": 2, "1.00": None}
    texts = spark.createDataFrame([(t,) for t in written], "text string")
    value = typed_value(schemas.INT, F.col("text"), None, ",", ".")
    read = {r.text: r.value for r in texts.select("text", value.alias("value")).collect()}  # a handful of rows
    assert read == written
