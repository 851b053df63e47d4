"""Dropping events into the stream's landing folder whole: what `POST /events` writes and the stream reads."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from pmkt.libs import schemas
from pmkt.libs.config import Config

EVENT_FIELDS = tuple(c.name for c in schemas.EVENTS.columns)  # canonical names, as an API client sends them


def column_map(config: Config) -> dict[str, str]:
    """Canonical event column -> the name landed files use: the batch events source's map, else the same names."""
    batch = config.ingest.sources.get(schemas.EVENTS.name)
    return dict(batch.columns) if batch is not None else {name: name for name in EVENT_FIELDS}


def land_events(folder: str, events: Sequence[Mapping[str, str | None]], names: Mapping[str, str]) -> Path:
    """Write `events` (canonical names) as one JSON-lines file under the source's names, made visible by one
    rename: a dot-file while written, which Spark's file source skips, so the stream never reads half a file."""
    target_dir = Path(folder)
    target_dir.mkdir(parents=True, exist_ok=True)
    name = f"api-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.json"
    partial = target_dir / f".{name}.partial"
    with partial.open("w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps({names[k]: v for k, v in event.items() if k in names and v is not None}) + "\n")
        out.flush()
        os.fsync(out.fileno())
    target = target_dir / name
    os.replace(partial, target)
    return target
