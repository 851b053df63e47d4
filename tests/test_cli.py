"""The CLI's contract: one-line errors, exit code 2, no JVM trace unless --debug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pmkt.jobs.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _one_line_error(capsys: pytest.CaptureFixture[str], code: int, expected: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and expected in err[0], err


def test_help_lists_jobs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pmkt.jobs.cli", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "pmkt" in out and "ingest" in out and "tables" in out


def test_unknown_job_and_bad_key_exit_2_before_spark(capsys: pytest.CaptureFixture[str]) -> None:
    _one_line_error(capsys, main(["nonsense"]), "unknown job 'nonsense'")
    _one_line_error(capsys, main(["ingest", "--set", "ingest.nope=1"]), "unknown config key 'ingest.nope'")
    _one_line_error(capsys, main(["ingest", "--set", "generate.customers=lots"]), "expects int")
    _one_line_error(capsys, main(["ingest", "--conf-file", "missing.yaml"]), "config file not found: missing.yaml")


def test_runtime_user_errors_exit_2_without_jvm_trace(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["ingest", "--set", f"lake.root={tmp_path}/lake", "--set", f"ingest.sources.events.path={tmp_path}/nowhere"]
    )
    _one_line_error(capsys, code, "input path for source")
    locked = tmp_path / "locked"
    locked.write_text("a file, not a folder")
    _one_line_error(capsys, main(["generate", "--set", f"lake.root={locked}/lake"]), "is not writable")


def test_debug_shows_the_traceback(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="input path for source"):
        main(
            [
                "ingest",
                "--debug",
                "--set",
                f"lake.root={tmp_path}/lake",
                "--set",
                f"ingest.sources.products.path={tmp_path}/nowhere",
            ]
        )


def test_a_new_user_sees_one_line_and_no_jvm_output(tmp_path: Path) -> None:
    """Through a real process: the JVM's own warnings (a missing path's stack trace) stay out of the terminal."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pmkt.jobs.ingest",
            "--set",
            f"lake.root={tmp_path}/lake",
            "--set",
            f"ingest.sources.products.path={tmp_path}/nowhere",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 2
    assert [x for x in run.stderr.splitlines() if "java." in x or x.startswith("\tat ")] == []
    expected = f"pmkt ingest: error: input path for source 'products' not found: {tmp_path}/nowhere"
    assert run.stderr.splitlines()[-1] == expected
