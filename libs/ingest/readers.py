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
# A header row, and a quote inside a quoted field written twice ("a ""b"""), as RFC 4180, Excel, pandas and
# databases write CSV; Spark's own default is a backslash. A source's options override either.
CSV_DEFAULTS = {"header": "true", "escape": '"'}
LOOKUP_NOTE = contract.LOOKUP_NOTE.name
META = tuple(c.name for c in contract.FILE_META)


def source_columns(df: DataFrame) -> list[str]:
    """The file's columns, not the reader's (a header-less CSV's are `_c0`, `_c1`, ...: no prefix tells)."""
    internal = {CORRUPT, LOOKUP_NOTE, *META}
    return [c for c in df.columns if c not in internal]


def read_source(spark: SparkSession, entity: Entity, src: SourceConfig) -> DataFrame:
    """Every source column as a string, plus `_corrupt_record` and the file metadata columns; with lookups, their
    mapped columns too and `_lookup_note` (why a row's lookup failed, else null)."""
    name = entity.name
    df = _read(spark, f"source '{name}'", src)
    if src.lookups:
        df = _with_lookups(spark, name, df, src)
    wanted = [*src.columns.values(), *src.extra]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        found = source_columns(df)
        if entity.has_pii:  # without a header row the "names" are the first row's values: a name, an email
            listing = f"found {len(found)} columns, names withheld as this entity carries personal data"
        else:
            listing = f"found: {', '.join(found)}"
        raise UserError(
            f"source '{name}' has no column '{missing[0]}' ({listing}); is the header row missing, "
            f"or the column map (ingest.sources.{name}.columns) wrong?"
        )
    return df


def _read(spark: SparkSession, what: str, src: SourceConfig) -> DataFrame:
    try:
        if src.format == "text":
            return _read_text(spark, src)
        if src.format == "parquet":
            return _read_parquet(spark, src)
        return _read_delimited(spark, src)
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" in str(exc) or "Path does not exist" in str(exc):
            raise UserError(f"input path for {what} not found: {src.path}") from None
        if "UNABLE_TO_INFER_SCHEMA" in str(exc):
            raise UserError(f"{what} at {src.path} holds no readable files") from None
        raise


def _with_lookups(spark: SparkSession, name: str, df: DataFrame, src: SourceConfig) -> DataFrame:
    """Each lookup's mapped columns joined to every row by its key, in turn. A key with several different rows in
    the lookup gives no values; the row's `_lookup_note` says which lookup failed and how, for quarantine."""
    mapped = {*src.columns.values(), *src.extra}
    df = df.withColumn(LOOKUP_NOTE, F.lit(None).cast("string"))
    for i, lookup in enumerate(src.lookups):
        key = lookup.key
        if key not in df.columns:
            raise UserError(f"source '{name}' has no column '{key}' to look up {lookup.path} by")
        # Only mapped columns and the later lookups' keys are taken: a lookup's other columns (they may be
        # personal) never land.
        later_keys = {later.key for later in src.lookups[i + 1 :]}
        wanted = sorted((mapped | later_keys) - set(df.columns))
        reader = SourceConfig(lookup.path, lookup.format, lookup.options, columns={c: c for c in [key, *wanted]})
        table = _read(spark, f"the lookup of source '{name}'", reader)
        if key not in table.columns:
            raise UserError(f"lookup {lookup.path} of source '{name}' has no column '{key}'")
        cols = [c for c in wanted if c in table.columns]
        rows = table.where(F.col(key).isNotNull()).select(key, *cols).distinct()
        one_row = F.count(F.lit(1)) == 1
        per_key = rows.groupBy(key).agg(
            F.count(F.lit(1)).alias("_lookup_rows"), *[F.when(one_row, F.first(c)).alias(c) for c in cols]
        )
        df = df.join(per_key.withColumnRenamed(key, "_lookup_key"), F.col(key) == F.col("_lookup_key"), how="left")
        n = F.col("_lookup_rows")
        why = (
            F.when(F.col(key).isNull(), F.lit(f"no {key} to look up in {lookup.path}"))
            .when(n.isNull(), F.lit(f"{key} not in {lookup.path}"))
            .when(n > 1, F.concat(F.lit(f"{key} has "), n.cast("string"), F.lit(f" different rows in {lookup.path}")))
        )
        df = df.withColumn(LOOKUP_NOTE, F.coalesce(F.col(LOOKUP_NOTE), why)).drop("_lookup_key", "_lookup_rows")
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
    return {k: v for k, v in src.options.items() if k.lower() != "delimiter_regex"}  # ours, not a Spark option


def _read_delimited(spark: SparkSession, src: SourceConfig) -> DataFrame:
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT, **_options(src)}
    if src.format == "csv":
        options = {**CSV_DEFAULTS, **options}
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
    """Lines split on a regex (default: runs of whitespace). The first line of each file is the header, unless
    `options.header` is false: then the columns are `_c0`, `_c1`, ... as Spark names a header-less CSV's."""
    sep = src.option("delimiter_regex") or r"\s+"
    options = {k: v for k, v in _options(src).items() if k.lower() != "header"}  # the header is ours to find here
    lines = _with_meta(spark.read.options(**options).text(src.path))
    first = lines.select("value").first()  # one line: the header, or the first row's fields to count
    if first is None:
        raise UserError(f"source at {src.path} is empty")
    names = _split_header(first[0], sep)
    line = F.regexp_replace(F.col("value"), r"^\s+|\s+$", "")  # tabs too, as Python's strip() for the header
    is_header = line == F.lit(first[0].strip())
    if (src.option("header") or "true").lower() == "false":
        names, is_header = [f"_c{i}" for i in range(len(names))], F.lit(False)
    fields = F.split(line, sep)
    blank = line == ""
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
