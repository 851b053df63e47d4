"""Typing of landed text: numbers written with an export's own decimal and thousands marks."""

from __future__ import annotations

import datetime as dt

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


def test_excel_serial_dates_read_as_days_since_its_epoch(spark: SparkSession) -> None:
    texts = spark.createDataFrame([("45000",), ("45000.5",), ("1",)], "text string")
    value = typed_value(schemas.TS, F.col("text"), "days since 1899-12-30")
    read = {r.text: r.value for r in texts.select("text", value.alias("value")).collect()}  # three rows
    # Excel's serial 45000 is 2023-03-15. Excel counts a 29 February 1900 that never was, so its serials before
    # 61 (1 March 1900) are a day off this epoch: its 1 is 1900-01-01, read here as 1899-12-31.
    assert read == {
        "45000": dt.datetime(2023, 3, 15),
        "45000.5": dt.datetime(2023, 3, 15, 12),
        "1": dt.datetime(1899, 12, 31),
    }
