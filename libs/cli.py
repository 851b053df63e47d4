"""`pmkt <job> [--conf-file F] [--set key=value ...] [--debug]`: the one entry point for every job."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence

from libs.errors import ReconciliationError, UserError

JOBS = {
    "generate": ("jobs.generate", "synthetic raw exports with planted ground truth"),
    "ingest": ("jobs.ingest", "raw files -> bronze -> silver, with quarantine and reconciliation"),
    "features": ("jobs.features", "gold.customer_features: point-in-time features per snapshot"),
    "profiles": ("jobs.profiles", "gold.customer_profiles: RFM scores, named RFM segments, tags"),
    "quality": ("jobs.quality", "data-quality expectations (a fail stops the pipeline) and PSI drift"),
    "segment": ("jobs.segment", "gold.segments and gold.segment_profiles (--mode fit|assign)"),
    "basket": ("jobs.basket", "FPGrowth rules, frequently-bought-together and cross-sell"),
    "recommend": (
        "jobs.recommend",
        "ALS, item-CF, content and basket blended into gold.recommendations, evaluated vs popularity",
    ),
    "churn": ("jobs.churn", "churn model: rolling point-in-time labels (or a supplied label), scores with reasons"),
    "propensity": ("jobs.propensity", "P(buying in each top category within D days)"),
    "response": ("jobs.response", "P(click) and P(convert) of a campaign contact"),
    "campaign": ("jobs.campaign", "audiences, budgeted next-best-offer plan, trigger actions, campaign evaluation"),
    "fairness": ("jobs.fairness", "selection rate, disparate impact, parity and equalised odds by group"),
    "report": (
        "jobs.report",
        "one self-contained HTML report: data, segments, RFM, recommenders, rules, churn, campaigns",
    ),
    "forget": ("jobs.forget", "erase customers from every table and vacuum; audit row in gold.erasure_log"),
    "pipeline": ("jobs.pipeline", "run the steps in pipeline.steps, then print every table"),
    "tables": ("jobs.tables", "list every Delta table with its version and row count"),
}
READ_ONLY = ("tables",)  # jobs that write nothing run without the lake's writer lock
log = logging.getLogger("pmkt.cli")


def _parser() -> argparse.ArgumentParser:
    jobs = "\n".join(f"  {name:<10} {text}" for name, (_, text) in JOBS.items())
    parser = argparse.ArgumentParser(
        prog="pmkt",
        description="Precision-marketing platform on Spark and Delta Lake.",
        epilog=f"jobs:\n{jobs}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("job", help="the job to run (see below)")
    parser.add_argument("--conf-file", help="YAML config (default: $PMKT_CONF or conf/local.yaml)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set generate.customers=1000",
    )
    parser.add_argument("--mode", help="shorthand for --set <job>.mode=MODE (e.g. segment --mode assign)")
    parser.add_argument(
        "--reingest",
        action="append",
        default=[],
        metavar="PATH|all",
        help="ingest: forget recorded files at or under PATH (or all) so they are read again",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks, including the JVM's")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    return run_job(args.job, [a for a in (sys.argv[1:] if argv is None else argv) if a != args.job])


def run_job(job: str, argv: Sequence[str]) -> int:
    """Run one job; user errors print one line and return 2, unless --debug asks for the traceback."""
    from libs import log as logs

    args = _parser().parse_args([job, *argv])
    logs.configure(args.debug)
    try:
        if job not in JOBS:
            raise UserError(f"unknown job '{job}' (jobs: {', '.join(JOBS)})")
        from libs.config import load_config
        from libs.session import get_spark

        overrides = [
            *args.overrides,
            *([f"{job}.mode={args.mode}"] if args.mode else []),
            *([f"ingest.reingest={json.dumps(args.reingest)}"] if args.reingest else []),
        ]
        config = load_config(args.conf_file, overrides)
        module = importlib.import_module(JOBS[job][0])
        spark = get_spark(config)
        if job in READ_ONLY:
            module.run(spark, config)
            return 0
        from libs.lake import Lake
        from libs.lock import lake_lock

        lake = Lake(spark, config.lake)
        lake.check_writable()
        with lake_lock(lake, job, config.lake.lock_wait_seconds):
            module.run(spark, config)
        return 0
    except UserError as exc:
        if args.debug:
            raise
        print(f"pmkt {job}: error: {exc}", file=sys.stderr)
        return 2
    except ReconciliationError as exc:
        if args.debug:
            raise
        print(f"pmkt {job}: ingest does not reconcile: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence against JVM traces
        if args.debug:
            raise
        user = _spark_user_error(exc)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        print(f"pmkt {job}: error: {first}" + ("" if user else " (rerun with --debug for details)"), file=sys.stderr)
        return 2 if user else 1


def _spark_user_error(exc: Exception) -> bool:
    """Spark's analysis errors (missing column, path, table) come from the user's input or config."""
    from pyspark.errors import AnalysisException

    return isinstance(exc, AnalysisException)


if __name__ == "__main__":
    sys.exit(main())
