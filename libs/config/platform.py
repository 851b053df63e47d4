"""Where the lake lives, how Spark starts, the PII key, models in MLflow, the report, serving, streaming and the
pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pmkt.libs.config.base import empty_map
from pmkt.libs.errors import ConfigError


@dataclass(frozen=True)
class LakeConfig:
    """Where tables live: path-based under `root`, or metastore tables when `catalog` is set."""

    root: str = "lakehouse"  # root of the path-based tables: <root>/<layer>/<table>, any Hadoop path
    catalog: str | None = None  # e.g. "main" (Unity Catalog) or "spark_catalog"
    schema_prefix: str = "pmkt_"  # metastore schemas are <prefix><layer>, e.g. pmkt_silver
    lock_wait_seconds: float = 600.0  # a job waits this long for another job on the same lake, then fails


@dataclass(frozen=True)
class SparkConfig:
    app_name: str = "pmkt"  # the Spark application name
    master: str | None = None  # None: spark-submit, the environment or the notebook decides
    log_level: str = "WARN"  # Spark's own log level
    delta_jars: str = "auto"  # auto: .jars/ folder if present, else Maven coordinates; provided: add none
    delta_version: str = "4.0.0"  # Delta's version in the Maven coordinates when no jars are fetched
    jars_dir: str | None = None  # default: <project>/.jars
    checkpoint_dir: str | None = None  # default: <lake.root>/_checkpoints
    # any spark.* option; wins over the laptop defaults that local masters get
    options: Mapping[str, str] = field(default_factory=empty_map)

    def __post_init__(self) -> None:
        if self.delta_jars not in ("auto", "provided"):
            raise ConfigError(f"config key 'spark.delta_jars' must be auto or provided, got '{self.delta_jars}'")
        bad = [k for k in self.options if not k.startswith("spark.")]
        if bad:
            raise ConfigError(f"config key 'spark.options.{bad[0]}' is not a Spark option (must start with 'spark.')")


@dataclass(frozen=True)
class PiiConfig:
    key_env: str = "PMKT_PII_KEY"  # environment variable holding the HMAC key that pseudonymises name, email and phone
    allow_dev_key: bool = True  # local only; conf/cluster.yaml turns it off


@dataclass(frozen=True)
class ReportConfig:
    path: str | None = None  # default: <lake.root>/reports/index.html
    top_rules: int = 10  # association rules shown


@dataclass(frozen=True)
class ModelsConfig:
    """MLflow tracking and registry: every fit logs a run and registers a version; scoring loads one."""

    # MLflow tracking store. Default: $MLFLOW_TRACKING_URI if set, the workspace's on Databricks, else
    # SQLite at <lake.root>/mlflow/mlflow.db (a local lake root; set this for any other)
    tracking_uri: str | None = None
    registry_uri: str | None = None  # MLflow model registry; default: the tracking store
    experiment: str = "pmkt"  # MLflow experiment; on Databricks a name without a leading / goes under /Shared
    # registered model names are <prefix><model>, e.g. pmkt_churn; on Unity Catalog use "<catalog>.<schema>."
    name_prefix: str = "pmkt_"
    promote_alias: str = "champion"  # the alias a fit moves to its new version ("": leave aliases alone)
    alias: str = "champion"  # loading: the version with this alias (--model-alias), unless `version` is set
    version: int | None = None  # loading: this version number (--model-version)

    def __post_init__(self) -> None:
        if self.version is not None and self.version < 1:
            raise ConfigError(f"config key 'models.version' must be 1 or more, got {self.version}")
        if self.version is None and not self.alias:
            raise ConfigError("config key 'models.alias' is empty: set it or models.version")


@dataclass(frozen=True)
class ServeConfig:
    """`pmkt serve`: the HTTP API over the latest gold tables (read with delta-rs, no Spark)."""

    host: str = "127.0.0.1"  # loopback by default: put a proxy in front, or set 0.0.0.0 on purpose
    port: int = 8000  # the TCP port (or --port)
    api_key_env: str = "PMKT_API_KEY"  # environment variable holding the bearer token (or --api-key)
    default_k: int = 10  # recommendations returned when the request gives no k
    max_k: int = 100  # a larger k is a 422
    reload_seconds: float = 30.0  # how often table versions are checked; a new version is loaded, then swapped in

    def __post_init__(self) -> None:
        if not 1 <= self.default_k <= self.max_k:
            raise ConfigError(f"config key 'serve.default_k' must be within 1..serve.max_k, got {self.default_k}")
        if not 0 < self.port < 65536:
            raise ConfigError(f"config key 'serve.port' must be a TCP port, got {self.port}")
        if self.reload_seconds <= 0:
            raise ConfigError(f"config key 'serve.reload_seconds' must be positive, got {self.reload_seconds}")


STREAM_FORMATS = ("json", "csv", "delta", "kafka")


@dataclass(frozen=True)
class StreamConfig:
    """`pmkt stream`: events from a landing folder (or a Delta table, or Kafka) through ingest's validation into
    silver, then real-time features, triggers and fold-in recommendations, once per micro-batch."""

    landing: str = "data/landing/events"  # the folder new event files land in (or the Delta table's path)
    format: str = "json"  # json | csv (files, mapped by ingest.sources.events) | delta | kafka (JSON in `value`)
    options: Mapping[str, str] = field(default_factory=empty_map)  # source options, e.g. kafka.bootstrap.servers
    checkpoint: str | None = None  # default: <lake.root>/_streams/events (must survive restarts)
    trigger_seconds: float = 60.0  # a micro-batch at most this often (or --trigger-seconds); ignored with once
    once: bool = False  # --once: take what has landed (availableNow) in micro-batches, then stop
    max_files_per_trigger: int = 100  # files per micro-batch
    watermark_minutes: float = 10.0  # how late an event may arrive and still cancel a trigger (e.g. a purchase)
    top_k: int = 10  # fresh recommendations kept per customer in gold.recommendations_live
    # ingest.max_quarantine_share stops the stream only for a micro-batch of at least this many rows: a wrong
    # conf shows in any real batch, while a few bad events posted on their own are just quarantined
    share_check_min_rows: int = 100

    def __post_init__(self) -> None:
        if self.format not in STREAM_FORMATS:
            formats = ", ".join(STREAM_FORMATS)
            raise ConfigError(f"config key 'stream.format' must be one of {formats}, got '{self.format}'")
        for key in ("trigger_seconds", "max_files_per_trigger", "top_k", "share_check_min_rows"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"config key 'stream.{key}' must be positive, got {getattr(self, key)}")
        if self.watermark_minutes < 0:
            raise ConfigError(f"config key 'stream.watermark_minutes' must be 0 or more, got {self.watermark_minutes}")


@dataclass(frozen=True)
class PipelineConfig:
    steps: tuple[str, ...] = ()  # empty: every step but generate (the synthetic data) that the data can feed
    # Run the model steps (segment to attribution) two at a time in one Spark session, each once the steps whose
    # tables it reads have finished (see docs/pipeline.md). Off: one step at a time.
    lanes: bool = False

    def runs(self, step: str) -> bool:
        """Whether `pmkt pipeline` runs `step` under this config."""
        return step in self.steps if self.steps else step != "generate"
