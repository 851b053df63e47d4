"""Entry file for spark-submit: `spark-submit ... jobs/__main__.py <job> [args]`."""

from __future__ import annotations

import sys

from pmkt.jobs.cli import main

if __name__ == "__main__":
    sys.exit(main())
