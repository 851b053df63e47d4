from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pmkt.libs.config import load_config
from pmkt.libs.session import CLASS_ARCHIVE, DELTA_EXTENSION, delta_jars, get_spark, jars_folder, session_options


def test_jars_folder_wins_when_it_holds_jars(tmp_path: Path) -> None:
    (tmp_path / "delta-spark_2.13-4.0.0.jar").write_text("")
    (tmp_path / "delta-storage-4.0.0.jar").write_text("")
    config = load_config(None, [f"spark.jars_dir={tmp_path}"])
    jars = delta_jars(config)
    assert list(jars) == ["spark.jars"]
    assert jars["spark.jars"].split(",") == [
        str(tmp_path / "delta-spark_2.13-4.0.0.jar"),
        str(tmp_path / "delta-storage-4.0.0.jar"),
    ]


def test_maven_coordinates_without_a_jars_folder(tmp_path: Path) -> None:
    config = load_config(None, [f"spark.jars_dir={tmp_path / 'none'}", "spark.delta_version=4.0.1"])
    assert delta_jars(config) == {"spark.jars.packages": "io.delta:delta-spark_2.13:4.0.1"}


def test_provided_adds_no_jars_and_conf_options_win(tmp_path: Path) -> None:
    config = load_config(
        None, ["spark.delta_jars=provided", "spark.options.spark.sql.shuffle.partitions=3", "spark.master=local[1]"]
    )
    options = session_options(config)
    assert "spark.jars" not in options and "spark.jars.packages" not in options
    assert options["spark.sql.shuffle.partitions"] == "3"
    assert options["spark.sql.extensions"] == DELTA_EXTENSION


def test_cluster_master_gets_no_laptop_defaults() -> None:
    config = load_config(None, ["spark.master=spark://host:7077"])
    assert "spark.default.parallelism" not in session_options(config)
    assert "UseParallelGC" not in session_options(config).get("spark.driver.extraJavaOptions", "")
    laptop = load_config(None, ["spark.master=local[2]"])
    assert session_options(laptop)["spark.default.parallelism"] == "4"
    # The one local JVM also runs the tasks: its collector, code cache and C2 inlining are set, the log config kept.
    java = session_options(laptop)["spark.driver.extraJavaOptions"].split()
    assert "-XX:+UseParallelGC" in java and "-XX:ReservedCodeCacheSize=512m" in java
    assert "-XX:MaxInlineLevel=9" in java
    assert any(opt.startswith("-Dlog4j2.configurationFile=") for opt in java)


def test_no_master_means_local_unless_spark_submit_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    unset = load_config(None, ["spark.master=null"])
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    assert session_options(unset)["spark.default.parallelism"] == "4"
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "1")  # spark-submit started the JVM: its --master decides
    assert "spark.default.parallelism" not in session_options(unset)


def test_active_session_is_returned_as_is(spark: SparkSession) -> None:
    config = load_config(None, ["spark.app_name=another", "spark.master=local[1]"])
    assert get_spark(config) is spark
    assert spark.conf.get("spark.sql.extensions") == DELTA_EXTENSION


def test_local_jvms_map_the_class_archive_when_setup_made_one(tmp_path: Path) -> None:
    laptop = load_config(None, [f"spark.jars_dir={tmp_path}", "spark.master=local[2]"])
    assert "SharedArchiveFile" not in session_options(laptop)["spark.driver.extraJavaOptions"]
    (tmp_path / CLASS_ARCHIVE).write_bytes(b"")
    java = session_options(laptop)["spark.driver.extraJavaOptions"].split()
    assert f"-XX:SharedArchiveFile={tmp_path / CLASS_ARCHIVE}" in java
    cluster = load_config(None, [f"spark.jars_dir={tmp_path}", "spark.master=spark://host:7077"])
    assert "SharedArchiveFile" not in session_options(cluster).get("spark.driver.extraJavaOptions", "")


def test_the_archive_setup_made_fits_the_sessions_jvm(spark: SparkSession) -> None:
    """`-Xshare:on` makes the JVM refuse to start on an archive it can't map (another JDK, another class path)."""
    archive = jars_folder(load_config(None)) / CLASS_ARCHIVE
    assert archive.is_file(), "make setup makes the class archive (libs/class_archive.py)"
    # Read in a task: in local mode the driver's JVM runs it.
    props = spark.sql(
        "SELECT reflect('java.lang.System', 'getProperty', 'java.home') AS home, "
        "reflect('java.lang.System', 'getProperty', 'java.class.path') AS class_path"
    ).first()
    java, class_path = str(Path(props["home"]) / "bin" / "java"), props["class_path"]

    def starts(path: str) -> bool:
        command = [java, "-Xshare:on", f"-XX:SharedArchiveFile={archive}", "-cp", path, "-version"]
        return subprocess.run(command, capture_output=True, timeout=60, check=False).returncode == 0

    assert starts(class_path)
    assert not starts(class_path.split(":")[-1])  # a class path the archive wasn't made for
