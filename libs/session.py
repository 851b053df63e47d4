"""The one place a SparkSession is made: the active one if any, else one built from the conf with Delta."""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from pmkt.libs.config import Config
from pmkt.libs.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
LOG4J_CONF = Path(__file__).resolve().parent / "resources" / "log4j2.properties"

# Suits a 2-core laptop; any key can be overridden from `spark.options` in the conf.
LOCAL_DEFAULTS = {
    "spark.driver.memory": "2g",  # the driver is the executor in local mode; every job is built to fit 2 GiB
    "spark.sql.shuffle.partitions": "8",
    "spark.default.parallelism": "4",
    # Delta's VACUUM lists a table's files in this many tasks (Spark's default, 10,000): 19-33 s for any
    # table on 2 cores, against 2-3 s with 4. `pmkt forget` vacuums every table that holds customers.
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "4",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.session.timeZone": "UTC",
    # Compiled generated classes kept by their source (Spark's default, 100): a demo compiles 5,830 with 100 and
    # 3,049 with 2,000, and its JVM used 4% less CPU; about 20 MB more metaspace (docs/performance.md, round 27).
    "spark.sql.codegen.cache.maxEntries": "2000",
}
# The local JVM runs the driver and every task. Spark's generated code keeps its JIT busy: in a demo
# recommend run, C2 compiler threads took 69 s of the JVM's 123 s of CPU, and G1's concurrent threads
# another 12 s. The parallel collector and a larger code cache cut that run from 96-100 s to 81-83 s
# on 2 cores (C1-only compilation was slower: 111 s). C2 still took 28% of a whole demo's JVM CPU (154 of 551 s)
# warming Spark, Scala and the JDK up; inlining at JDK 13's depth and smaller inline sizes make each compilation
# cheaper: the demo pipeline took 0.93 of the time (docs/performance.md, round 16).
LOCAL_JAVA_OPTIONS = (
    "-XX:+UseParallelGC",
    "-XX:ReservedCodeCacheSize=512m",
    "-XX:MaxInlineLevel=9",
    "-XX:FreqInlineSize=150",
    "-XX:InlineSmallCode=1000",
)
# Spark, Delta and MLlib's classes parsed and verified once (`make setup`, libs/class_archive.py), not in every
# local JVM: a session and its first two queries took 9.5 s instead of 13.2-13.8 s, `pmkt churn` 87 s instead of 94.
CLASS_ARCHIVE = "spark-classes.jsa"
DRIVER_JAVA_OPTIONS = "spark.driver.extraJavaOptions"
ALWAYS = {
    # Plans built on several cached sources print (for the SQL listener) every shared subtree again;
    # a recommend run's plan string can then outgrow the heap. Spark truncates past this length.
    "spark.sql.maxPlanStringLength": "1000000",
    "spark.sql.extensions": DELTA_EXTENSION,
    "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
}


def jars_folder(config: Config) -> Path:
    """The folder `make setup` fills: Delta's jars from Maven Central and the local JVM's class archive."""
    return Path(config.spark.jars_dir) if config.spark.jars_dir else PROJECT_ROOT / ".jars"


def delta_jars(config: Config) -> dict[str, str]:
    """Where Delta's JVM jars come from: the Maven-fetched folder, else Maven coordinates."""
    if config.spark.delta_jars == "provided":
        return {}
    jars = sorted(glob.glob(str(jars_folder(config) / "*.jar")))
    if jars:
        return {"spark.jars": ",".join(jars)}
    return {"spark.jars.packages": f"io.delta:delta-spark_2.13:{config.spark.delta_version}"}


def session_options(config: Config) -> dict[str, str]:
    """Every option the factory sets on a new session, in order of precedence (later wins)."""
    options: dict[str, str] = {}
    master = config.spark.master or ""
    # No master in the conf means local[*], unless spark-submit launched us: then its --master decides, and a
    # cluster keeps its own defaults (spark-submit.sh passes its master on, so it is known here).
    local = master.startswith("local") or (not master and not launched_by_submit())
    if local:
        options.update(LOCAL_DEFAULTS)
    options.update(ALWAYS)
    options.update(delta_jars(config))
    java = [f"-Dlog4j2.configurationFile=file:{LOG4J_CONF}"] if LOG4J_CONF.is_file() else []
    java += list(LOCAL_JAVA_OPTIONS) if local else []
    archive = jars_folder(config) / CLASS_ARCHIVE
    # A JVM that can't use the archive (another JDK, other jars) ignores it and loads classes as usual.
    java += [f"-XX:SharedArchiveFile={archive}"] if local and archive.is_file() else []
    if java:
        options[DRIVER_JAVA_OPTIONS] = " ".join(java)
    options.update(config.spark.options)
    return options


def get_spark(config: Config) -> SparkSession:
    """Return the active session (Databricks, notebook, tests), or build one from the conf."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    _local_workers_python(config)
    builder = SparkSession.builder.appName(config.spark.app_name)
    if config.spark.master:
        builder = builder.master(config.spark.master)
    for key, value in session_options(config).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(config.spark.log_level)
    checkpoint = config.spark.checkpoint_dir or f"{config.lake.root.rstrip('/')}/_checkpoints"
    try:
        spark.sparkContext.setCheckpointDir(checkpoint)
    except Exception as exc:  # noqa: BLE001 - py4j wraps the JVM's IOException
        java = [line for line in str(exc).splitlines() if "Exception:" in line]  # e.g. java.io.IOException: ...
        cause = java[0].split("Exception:", 1)[1].strip()[:200] if java else type(exc).__name__
        raise UserError(
            f"checkpoint directory {checkpoint} can't be created (is lake.root or spark.checkpoint_dir "
            f"writable?): {cause}"
        ) from None
    return spark


def launched_by_submit() -> bool:
    """True under spark-submit, which starts the JVM first and hands its gateway to Python."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def _local_workers_python(config: Config) -> None:
    """Local Python workers run this interpreter (with numpy and pandas), not whatever `python3` is on PATH.

    Left alone under spark-submit (it passes its own) and on a cluster master, where executors have theirs.
    """
    master = config.spark.master or ""
    if not launched_by_submit() and (not master or master.startswith("local")):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def is_local(spark: SparkSession) -> bool:
    return (spark.sparkContext.master or "").startswith("local")


def quiet_env() -> None:
    """Keep the JVM's start-up chatter out of a user's terminal."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
