"""`report`: one self-contained HTML page (plots embedded) with what every job found."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession

from pmkt.libs.config import Config
from pmkt.libs.errors import UserError
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.report import render
from pmkt.libs.runner import run_job

log = get_logger(__name__)


def report_path(config: Config) -> str:
    path = config.report.path or f"{config.lake.root.rstrip('/')}/reports/index.html"
    if "://" in path and not path.startswith("file:"):
        raise UserError(f"report.path '{path}' must be a local or mounted path (e.g. /dbfs/... on Databricks)")
    return path.removeprefix("file:")


def run(spark: SparkSession, config: Config) -> str:
    path = report_path(config)
    with timed(log, "report"):
        body = render.document(Lake(spark, config.lake), config)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            out.write(body)
    log.info("report written to %s", os.path.abspath(path))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("report", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
