"""Readers for CSV, JSON, Parquet and delimited text, all producing string columns plus file metadata."""

from __future__ import annotations

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pmkt.libs.config import SourceConfig
from pmkt.libs.contracts import ingest as contract
from pmkt.libs.errors import UserError
from pmkt.libs.schemas import Entity

CORRUPT = "_corrupt_record"
META = tuple(c.name for c in contract.FILE_META)


def read_source(spark: SparkSession, entity: Entity, src: SourceConfig) -> DataFrame:
    """Every source column as a string, plus `_corrupt_record` and the file metadata columns."""
    name = entity.name
    try:
        if src.format == "text":
            df = _read_text(spark, src)
        elif src.format == "parquet":
            df = _read_parquet(spark, src)
        else:
            df = _read_delimited(spark, src)
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" in str(exc) or "Path does not exist" in str(exc):
            raise UserError(f"input path for source '{name}' not found: {src.path}") from None
        if "UNABLE_TO_INFER_SCHEMA" in str(exc):
            raise UserError(f"source '{name}' at {src.path} holds no readable files") from None
        raise
    wanted = [*src.columns.values(), *src.extra]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        found = [c for c in df.columns if not c.startswith("_")]
        if entity.has_pii:  # without a header row the "names" are the first row's values: a name, an email
            listing = f"found {len(found)} columns, names withheld as this entity carries personal data"
        else:
            listing = f"found: {', '.join(found)}"
        raise UserError(
            f"source '{name}' has no column '{missing[0]}' ({listing}); is the header row missing, "
            f"or the column map (ingest.sources.{name}.columns) wrong?"
        )
    return df


def _with_meta(df: DataFrame) -> DataFrame:
    return df.select(
        "*",
        F.col("_metadata.file_path").alias("_source_file"),
        F.col("_metadata.file_size").alias("_file_size"),
        F.col("_metadata.file_modification_time").alias("_file_mtime"),
        # Grows with the position in a file (splits of one file are read in order): "later in the file".
        F.monotonically_increasing_id().alias("_line"),
    )


def _options(src: SourceConfig) -> dict[str, str]:
    return {k: v for k, v in src.options.items() if k not in ("delimiter_regex",)}


def _read_delimited(spark: SparkSession, src: SourceConfig) -> DataFrame:
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT, **_options(src)}
    if src.format == "csv":
        options.setdefault("header", "true")
        # The header decides the column names; every value is read as a string and typed later.
        names = spark.read.options(**options).csv(src.path).columns
        names = [n for n in names if n != CORRUPT]
        reader = spark.read.options(**options).schema(_string_schema(names)).option("enforceSchema", "false")
        return _with_meta(reader.csv(src.path))
    names = [*src.columns.values(), *src.extra]
    return _with_meta(spark.read.options(**options).schema(_string_schema(names)).json(src.path))


def _read_parquet(spark: SparkSession, src: SourceConfig) -> DataFrame:
    df = spark.read.options(**_options(src)).parquet(src.path)
    cols = [F.col(f"`{c}`").cast("string").alias(c) for c in df.columns]
    return _with_meta(df).select(*cols, F.lit(None).cast("string").alias(CORRUPT), *META)


def _read_text(spark: SparkSession, src: SourceConfig) -> DataFrame:
    """Lines split on a regex (default: runs of whitespace); the first line of each file is the header."""
    sep = src.options.get("delimiter_regex", r"\s+")
    lines = _with_meta(spark.read.options(**{k: v for k, v in _options(src).items() if k != "header"}).text(src.path))
    first = lines.select("value").first()  # one line: the header
    if first is None:
        raise UserError(f"source at {src.path} is empty")
    names = [n for n in _split_header(first[0], sep)]
    fields = F.split(F.trim(F.col("value")), sep)
    is_header = F.trim(F.col("value")) == F.lit(first[0].strip())
    blank = F.trim(F.col("value")) == ""
    return lines.where(~is_header & ~blank).select(
        *[F.when(F.size(fields) == len(names), fields[i]).alias(n) for i, n in enumerate(names)],
        F.when(F.size(fields) != len(names), F.col("value")).alias(CORRUPT),
        *META,
    )


def _split_header(line: str, sep: str) -> list[str]:
    import re

    return [p for p in re.split(sep, line.strip()) if p]


def _string_schema(names: list[str]) -> T.StructType:
    return T.StructType([T.StructField(n, T.StringType()) for n in names] + [T.StructField(CORRUPT, T.StringType())])
