"""The stream's input: new event files in a landing folder, a Delta table, or Kafka, as ingest's string columns."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pmkt.libs import schemas
from pmkt.libs.config import Config, SourceConfig, StreamConfig
from pmkt.libs.errors import UserError
from pmkt.libs.ingest.readers import CORRUPT, CSV_DEFAULTS
from pmkt.libs.streaming import landing
from pmkt.libs.tables import TableId

ENTITY = schemas.EVENTS  # what the stream ingests: events are the only entity that arrives continuously


def events_source(config: Config) -> SourceConfig:
    """The batch events source (column map, formats, value maps) pointed at the stream's landing folder.

    Without an events source in the conf, the landed files use the canonical column names.
    """
    cfg = config.stream
    batch = config.ingest.sources.get(ENTITY.name)
    if batch is None:
        batch = SourceConfig(path=cfg.landing, columns=landing.column_map(config))
    if batch.lookups:
        raise UserError(
            "ingest.sources.events has lookups, which the stream does not join: land events with every mapped column"
        )
    file_format = cfg.format if cfg.format in ("json", "csv") else "json"
    options = {k: v for k, v in batch.options.items() if k != "recursiveFileLookup"}
    return replace(batch, path=cfg.landing, format=file_format, options={**options, **cfg.options})


def checkpoint(config: Config) -> str:
    """Where the stream keeps its progress: `stream.checkpoint`, else under a path-based lake's root."""
    if config.stream.checkpoint:
        return config.stream.checkpoint
    if config.lake.catalog is not None:
        raise UserError("set stream.checkpoint: a metastore lake has no root folder to keep the stream's progress in")
    return TableId("_streams", "events").path_under(config.lake.root)


def app_id(location: str) -> str:
    """The stream's Delta transaction id: one per checkpoint, so two streams never skip each other's batches."""
    return "pmkt-stream-" + hashlib.sha256(location.encode()).hexdigest()[:16]


def read(spark: SparkSession, cfg: StreamConfig, src: SourceConfig) -> DataFrame:
    """A streaming DataFrame of every mapped source column as a string, `_corrupt_record` and the file columns
    (`_line` is numbered per micro-batch: streaming has no monotonically increasing id)."""
    names = [*dict.fromkeys([*src.columns.values(), *src.extra])]
    if cfg.format == "delta":
        df = spark.readStream.format("delta").options(**cfg.options).load(cfg.landing)
        missing = [n for n in names if n not in df.columns]
        if missing:
            raise UserError(f"stream source {cfg.landing} has no column '{missing[0]}' (check ingest.sources.events)")
        return df.select(
            *[F.col(f"`{n}`").cast("string").alias(n) for n in names],
            F.lit(None).cast("string").alias(CORRUPT),
            F.lit(f"delta:{cfg.landing}").alias("_source_file"),
            F.lit(None).cast("bigint").alias("_file_size"),
            F.current_timestamp().alias("_file_mtime"),
        )
    schema = _string_schema(names)
    if cfg.format == "kafka":  # JSON objects in the message value; needs Spark's Kafka connector on the classpath
        raw = spark.readStream.format("kafka").options(**cfg.options).load()
        parsed = F.from_json(F.col("value").cast("string"), schema, {"columnNameOfCorruptRecord": CORRUPT})
        return raw.select(
            parsed.alias("v"),
            F.concat_ws(":", F.col("topic"), F.col("partition").cast("string")).alias("_source_file"),
            "offset",
            "timestamp",
        ).select(
            "v.*",
            "_source_file",
            F.col("offset").alias("_file_size"),
            F.col("timestamp").alias("_file_mtime"),
        )
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT, **src.options}
    if src.format == "csv":
        options = {**CSV_DEFAULTS, "enforceSchema": "false", **options}
        schema = _string_schema(_csv_header(spark, src.path, options) or names)
    reader = spark.readStream.options(**options).option("maxFilesPerTrigger", cfg.max_files_per_trigger)
    df = reader.schema(schema).format(src.format).load(src.path)
    return df.select(
        "*",
        F.col("_metadata.file_path").alias("_source_file"),
        F.col("_metadata.file_size").alias("_file_size"),
        F.col("_metadata.file_modification_time").alias("_file_mtime"),
    )


def _csv_header(spark: SparkSession, path: str, options: dict[str, str]) -> list[str]:
    """The header of the CSV files already landed (a streaming CSV read needs its columns in file order); empty
    when nothing has landed yet, and then the files must list the mapped columns in the conf's order."""
    try:
        return [n for n in spark.read.options(**options).csv(path).columns if n != CORRUPT]
    except AnalysisException:
        return []


def _string_schema(names: list[str]) -> T.StructType:
    return T.StructType([T.StructField(n, T.StringType()) for n in names] + [T.StructField(CORRUPT, T.StringType())])
