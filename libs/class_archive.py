"""The local JVM's class archive (AppCDS): Spark, Delta and MLlib's classes parsed and verified once, at setup.

A local session loads about 18,700 classes from some 280 jars, and verifies their bytecode, before its first two
queries have run. `make setup` runs a short warm-up in a JVM started with `-XX:ArchiveClassesAtExit`, which writes the
classes it loaded to `<jars folder>/spark-classes.jsa`; `session.session_options` then starts every local JVM
with `-XX:SharedArchiveFile`, and the JVM maps them instead. A JVM that can't use the archive (another JDK, other
jars) says so in one line and loads its classes as before. Clusters and Databricks are left alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs.config import Config, load_config
from pmkt.libs.session import CLASS_ARCHIVE, DRIVER_JAVA_OPTIONS, jars_folder, session_options

TIMEOUT_S = 900
WARM_UP = "--warm-up"


def build(config: Config) -> Path | None:
    """Write the archive for this conf's local sessions; None (and the JVM's reason on stderr) if it can't be made.

    The JVM writes the archive while it exits, so the warm-up runs under spark-submit, whose process ends only
    after its JVM's, and the file is renamed into place whole: a JVM mapping a torn archive crashes.
    """
    target = jars_folder(config) / CLASS_ARCHIVE
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    options = session_options(config)
    java = [
        flag for flag in options.get(DRIVER_JAVA_OPTIONS, "").split() if not flag.startswith("-XX:SharedArchiveFile")
    ]
    options[DRIVER_JAVA_OPTIONS] = " ".join([*java, f"-XX:ArchiveClassesAtExit={partial}"])
    confs = [arg for key, value in options.items() for arg in ("--conf", f"{key}={value}")]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    with tempfile.TemporaryDirectory(prefix="pmkt-warmup-") as work:
        command = [_spark_submit(), "--master", "local[2]", *confs, __file__, WARM_UP, work]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if done.returncode != 0 or not partial.is_file():
        lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        # The JVM's own error if it logged one ("[error][cds] Error: non-empty directory ..."), else the last lines.
        reason = " / ".join([line for line in lines if "][error" in line][:1] or lines[-3:] or ["no archive"])
        print(f"class archive not made ({reason[:300]}); local sessions load classes as usual", file=sys.stderr)
        partial.unlink(missing_ok=True)
        return None
    os.replace(partial, target)
    return target


def _spark_submit() -> str:
    """The spark-submit of the Spark that local sessions run: $SPARK_HOME's, else pyspark's own."""
    import pyspark

    home = os.environ.get("SPARK_HOME") or os.path.dirname(pyspark.__file__)
    return str(Path(home) / "bin" / "spark-submit")


def warm_up(folder: Path) -> None:
    """What the jobs' JVM does, in small: file sources, Delta commits and merges, SQL, MLlib fits and Arrow."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()
    spark.sparkContext.setCheckpointDir(str(folder / "checkpoints"))
    rows = spark.range(4000).select(
        F.col("id").cast("int").alias("user"),
        (F.col("id") % 97).cast("int").alias("item"),
        F.rand(7).alias("x"),
        F.when(F.col("id") % 3 == 0, F.lit(None)).otherwise(F.rand(8)).alias("y"),
        (F.col("id") % 2).cast("double").alias("label"),
        F.concat(F.lit("c"), (F.col("id") % 5).cast("string")).alias("kind"),
    )
    _files_and_delta(rows, folder)
    _models(rows, folder)
    rows.select("user").mapInPandas(lambda frames: frames, "user int").count()  # Arrow to Python and back
    spark.stop()


def _files_and_delta(rows: DataFrame, folder: Path) -> None:
    from delta.tables import DeltaTable
    from pyspark.sql import Window

    spark = rows.sparkSession
    for fmt in ("json", "csv", "delta"):
        rows.write.format(fmt).option("header", "true").save(str(folder / fmt))
    table = DeltaTable.forPath(spark, str(folder / "delta"))
    changes = spark.read.schema(rows.schema).json(str(folder / "json")).withColumn("x", F.col("x") + 1)
    table.alias("t").merge(changes.alias("s"), "t.user = s.user").whenMatchedUpdateAll().execute()
    table.delete(F.col("user") < 10)
    table.history().count()  # Delta's history reader; nothing comes to the driver
    spark.read.option("header", "true").csv(str(folder / "csv")).count()
    ranked = rows.withColumn("rank", F.row_number().over(Window.partitionBy("kind").orderBy(F.desc("x"))))
    ranked.join(rows.groupBy("kind").agg(F.countDistinct("item").alias("n")), "kind", how="left").checkpoint().count()


def _models(rows: DataFrame, folder: Path) -> None:
    from pyspark.ml import Estimator, Pipeline, Transformer
    from pyspark.ml.classification import FMClassifier, GBTClassifier, LogisticRegression, RandomForestClassifier
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.evaluation import BinaryClassificationEvaluator, RankingEvaluator
    from pyspark.ml.feature import Imputer, OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler
    from pyspark.ml.fpm import FPGrowth
    from pyspark.ml.recommendation import ALS
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    stages: list[Estimator | Transformer] = [
        Imputer(inputCols=["y"], outputCols=["y_filled"]),
        StringIndexer(inputCol="kind", outputCol="kind_index"),
        OneHotEncoder(inputCols=["kind_index"], outputCols=["kind_vector"]),
        VectorAssembler(inputCols=["x", "y_filled", "kind_vector"], outputCol="raw"),
        StandardScaler(inputCol="raw", outputCol="features"),
    ]
    prepared = Pipeline(stages=stages).fit(rows).transform(rows).persist()
    binary = BinaryClassificationEvaluator()
    for model in (GBTClassifier(maxIter=2), RandomForestClassifier(numTrees=2), FMClassifier(maxIter=2)):
        binary.evaluate(model.fit(prepared).transform(prepared))
    regression = LogisticRegression(maxIter=3)
    grid = ParamGridBuilder().addGrid(regression.regParam, [0.0, 0.1]).build()
    cv = CrossValidator(estimator=regression, estimatorParamMaps=grid, evaluator=binary, numFolds=2, parallelism=2)
    cv.fit(prepared).write().overwrite().save(str(folder / "model"))
    KMeans(k=3, maxIter=3, seed=1).fit(prepared).transform(prepared).count()
    als = ALS(userCol="user", itemCol="item", ratingCol="x", implicitPrefs=True, maxIter=1, rank=4).fit(rows)
    lists = als.recommendForAllUsers(5).select(F.col("recommendations.item").cast("array<double>").alias("p"))
    RankingEvaluator(predictionCol="p", labelCol="p").evaluate(lists)
    baskets = rows.groupBy((F.col("user") % 400).alias("basket")).agg(F.collect_set("item").alias("items"))
    FPGrowth(itemsCol="items", minSupport=0.05).fit(baskets).associationRules.count()


if __name__ == "__main__":
    if sys.argv[1:2] == [WARM_UP]:  # under spark-submit, from build()
        warm_up(Path(sys.argv[2]))
    else:  # from `make setup`
        made = build(load_config(None))
        print(f"class archive: {made or 'not made'}")
