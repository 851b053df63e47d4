"""`pmkt <job> [--conf-file F] [--set key=value ...] [--debug]`: the one entry point, above every job.

The job list is here once: the pipeline's steps (in `jobs.pipeline`, in the order they run) and the
jobs that are not steps. Each job's one-line description is the first line of its module's docstring.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import ModuleType

from pmkt.jobs import forget, models, pipeline, serve, stream, tables
from pmkt.libs.runner import parser, run_job

JOBS: dict[str, ModuleType] = {
    **pipeline.STEPS,
    "forget": forget,
    "models": models,
    "pipeline": pipeline,
    "serve": serve,
    "stream": stream,
    "tables": tables,
}


def describe(job: str) -> str:
    """The first line of the job module's docstring, without its leading "`name`: "."""
    first = (JOBS[job].__doc__ or "").strip().splitlines()[0]
    return first.removeprefix(f"`{job}`: ")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    listing = "jobs:\n" + "\n".join(f"  {name:<10} {describe(name)}" for name in JOBS)
    job = parser(listing).parse_known_args(args)[0].job  # a job's own options are checked by the job
    if job not in JOBS:
        print(f"pmkt {job}: error: unknown job '{job}' (jobs: {', '.join(JOBS)})", file=sys.stderr)
        return 2
    rest = list(args)
    rest.remove(job)  # the first one: a later argument may have the job's name as its value
    if getattr(JOBS[job], "STANDALONE", False):  # not a Spark job: it parses its own arguments
        return int(JOBS[job].main(rest))
    module = JOBS[job]
    return run_job(
        job, module.run, rest, lock=not getattr(module, "READ_ONLY", False) and not getattr(module, "OWN_LOCK", False)
    )


if __name__ == "__main__":
    sys.exit(main())
