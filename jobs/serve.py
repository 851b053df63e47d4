"""`serve`: the HTTP API (FastAPI on uvicorn) over the latest recommendations, profiles and similar products.

Not a Spark job: it reads the lake's Delta tables with delta-rs and answers from memory. Run it with
`pmkt serve [--conf-file F] [--set serve.port=8000] [--api-key KEY | --insecure-local]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Sequence

from pmkt.libs.errors import UserError

STANDALONE = True  # `pmkt serve` runs main() itself: no Spark session, no writer lock


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pmkt serve", description=__doc__.splitlines()[0].strip("`"))
    parser.add_argument("--conf-file", help="YAML config (default: $PMKT_CONF or conf/local.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--host", help="address to bind (default: serve.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: serve.port)")
    parser.add_argument("--api-key", help="bearer token clients must send (default: $PMKT_API_KEY)")
    parser.add_argument("--insecure-local", action="store_true", help="no key at all; loopback addresses only")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until stopped, then end the process with the exit code.

    delta-rs's runtime threads can abort the interpreter's own shutdown ("terminate called without an active
    exception", delta-io/delta-rs#2184), which would turn a clean exit or a one-line error into a crash. A
    dedicated server process has nothing left to finalise, so it flushes its output and leaves directly.
    """
    code = _serve(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _serve(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from pmkt.libs import log as logs

    logs.configure(args.debug)
    try:
        import uvicorn

        from pmkt.libs.config import load_config
        from pmkt.libs.serving import api
        from pmkt.libs.serving.store import Store
        from pmkt.libs.streaming import landing

        overrides = [
            *args.overrides,
            *([f"serve.host={args.host}"] if args.host else []),
            *([f"serve.port={args.port}"] if args.port else []),
        ]
        config = load_config(args.conf_file, overrides)
        if config.lake.catalog is not None:
            raise UserError("pmkt serve reads a path-based lake (lake.root); a metastore catalog is not supported")
        cfg = config.serve
        token = api.check_token(args.api_key or os.environ.get(cfg.api_key_env), args.insecure_local, cfg.host)
        store = Store(config.lake.root)
        stop = threading.Event()
        store.watch(cfg.reload_seconds, stop)
        try:
            events_to = None
            if config.stream.format == "json":  # what POST /events writes
                events_to = (config.stream.landing, landing.column_map(config))
            app = api.create_app(store, cfg, token, events_to)
            uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="info")
        finally:
            stop.set()
        return 0
    except (UserError, ImportError) as exc:
        if args.debug:
            raise
        hint = " (install the serving extra: pip install 'pmkt[serve]')" if isinstance(exc, ImportError) else ""
        print(f"pmkt serve: error: {exc}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
