from __future__ import annotations

from pathlib import Path

import pytest

from pmkt.libs.class_archive import build
from pmkt.libs.config import load_config


def test_a_jvm_that_cannot_make_the_archive_leaves_none_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Setup goes on without an archive rather than with a partial one (which would crash every JVM mapping it).

    Here the JVM can't start at all (a stack too small); a non-empty folder on the class path (a user's Spark conf
    folder, say) fails the same way, but only when the JVM writes the archive at exit, after the whole warm-up.
    """
    config = load_config(
        None,
        [f"spark.jars_dir={tmp_path}", "spark.master=local[2]", "spark.options.spark.driver.extraJavaOptions=-Xss1k"],
    )
    assert build(config) is None
    assert "thread stack size specified is too small" in capsys.readouterr().err  # the JVM's reason, passed on
    assert list(tmp_path.iterdir()) == []  # neither the archive nor a partial one
