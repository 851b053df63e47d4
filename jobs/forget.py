"""`forget`: erase customers from every table, bronze to gold, vacuum, and write one audit row each."""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from collections.abc import Sequence

from pyspark.sql import SparkSession

from pmkt.libs import contracts, erasure, pii, tables
from pmkt.libs.config import Config
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger
from pmkt.libs.runner import run_job
from pmkt.libs.session import is_local

log = get_logger(__name__)
AUDIT_SCHEMA = contracts.CONTRACTS[tables.ERASURE_LOG].ddl()


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.forget
    lake = Lake(spark, config.lake)
    key = pii.resolve_key(config.pii, is_local(spark))
    customers = erasure.resolve(lake, cfg, key)
    targets = erasure.holders(lake)
    erased = erasure.erase(lake, customers, targets)
    erasure.vacuum(lake, targets, cfg.vacuum_retention_hours)
    models = erasure.models_to_retrain(config)
    request, now = uuid.uuid4().hex[:12], dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = [
        (request, e.hashed_id, now, sorted(e.rows), sum(e.rows.values()), float(cfg.vacuum_retention_hours), models)
        for e in erased
    ]
    lake.write(spark.createDataFrame(rows, AUDIT_SCHEMA), tables.ERASURE_LOG, mode="append")
    log.info(
        "forget request %s: %d customer(s), %d rows from %d tables; %d model version(s) flagged for retraining",
        request,
        len(erased),
        sum(sum(e.rows.values()) for e in erased),
        len({t for e in erased for t in e.rows}),
        len(models),
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("forget", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
