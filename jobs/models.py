"""`models`: every registered model version in MLflow, with its aliases and the pmkt run that fitted it."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession

from pmkt.libs import models, text, tracking
from pmkt.libs.config import Config
from pmkt.libs.runner import run_job

READ_ONLY = True  # writes nothing to the lake: runs without the lake's writer lock


def render(versions: Sequence[models.Version]) -> str:
    body = [
        (
            v.name,
            str(v.version),
            ", ".join(v.aliases),
            v.run_id,
            f"{dt.datetime.fromtimestamp(v.created / 1000, dt.timezone.utc):%Y-%m-%d %H:%M:%S}",
        )
        for v in versions
    ]
    return text.columns(("model", "version", "aliases", "run", "registered (UTC)"), body, right={1})


def run(spark: SparkSession, config: Config) -> None:
    found = models.versions(config)
    where = tracking.tracking_uri(config) or "MLflow's default tracking store"
    print(render(found) if found else f"no registered models named {config.models.name_prefix}* in {where}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("models", run, sys.argv[1:] if argv is None else argv, lock=not READ_ONLY)


if __name__ == "__main__":
    sys.exit(main())
