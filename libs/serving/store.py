"""The serving store: the latest gold tables read with delta-rs into Arrow, indexed by key, reloaded in place.

No Spark on the request path. A `Snapshot` is immutable; `Store` swaps in a new one when any table's Delta
version moves, so a request always reads one consistent set of tables and never waits for a reload.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pmkt.libs import tables
from pmkt.libs.contracts.features import SNAPSHOT_DATE
from pmkt.libs.errors import UserError
from pmkt.libs.log import get_logger
from pmkt.libs.tables import TableId

log = get_logger(__name__)

# What the API reads; a missing optional table leaves its part of the answer empty.
REQUIRED = (tables.RECOMMENDATIONS, tables.POPULAR_ITEMS)
OPTIONAL = (
    tables.CUSTOMER_PROFILES,
    tables.SEGMENTS,
    tables.CHURN_SCORES,
    tables.PROPENSITY_SCORES,
    tables.SIMILAR_ITEMS,
    tables.CUSTOMER_INDEX,
    tables.RECOMMENDATIONS_LIVE,
)
SNAPSHOT_COLUMN = SNAPSHOT_DATE.name  # the partition column of every snapshot table


@dataclass(frozen=True)
class Index:
    """Rows of one table sorted by `key`, with each key's [start, stop) row range."""

    rows: pa.Table
    ranges: Mapping[str, tuple[int, int]]

    @classmethod
    def of(cls, table: pa.Table, key: str, order: tuple[str, ...] = ()) -> Index:
        table = table.filter(pc.is_valid(table[key])).sort_by([(key, "ascending"), *[(c, "ascending") for c in order]])
        if table.num_rows == 0:
            return cls(table, {})
        runs = pc.run_end_encode(table[key].combine_chunks())
        ends = runs.run_ends.to_pylist()
        starts = [0, *ends[:-1]]
        return cls(table, dict(zip(runs.values.to_pylist(), zip(starts, ends, strict=True), strict=True)))

    def get(self, key: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The key's rows as dicts, in order; at most `limit`."""
        span = self.ranges.get(key)
        if span is None:
            return []
        start, stop = span
        if limit is not None:
            stop = min(stop, start + limit)
        return self.rows.slice(start, stop - start).to_pylist()


def _empty() -> Index:
    return Index(pa.table({}), {})


@dataclass(frozen=True)
class Snapshot:
    """One consistent read of every served table, and the Delta versions it came from."""

    versions: Mapping[str, int | None]
    loaded_at: dt.datetime
    recommendations: Index
    popular: pa.Table
    profiles: Index
    segments: Index
    churn: Index
    propensity: Index
    similar: Index
    live: Index  # gold.recommendations_live: one row per customer, newer than the batch list when `fresh`
    batch_generated_at: dt.datetime | None  # when gold.recommendations was written
    known: frozenset[str]  # every customer the lake knows: a customer outside it is a 404
    products: frozenset[str]  # every product the lake knows

    def customer(self, customer_id: str) -> bool:
        return customer_id in self.known

    def fresh(self, customer_id: str) -> dict[str, Any] | None:
        """The customer's stream-refreshed list, when it was folded in after the batch list was written."""
        found = self.live.get(customer_id, limit=1)
        if not found:
            return None
        batch = self.batch_generated_at
        return found[0] if batch is None or found[0]["folded_at"] > batch else None

    def cold_start(self, k: int) -> list[dict[str, Any]]:
        """The `k` most popular items: rank and product id."""
        return self.popular.slice(0, k).select(["rank", "product_id"]).to_pylist()


class Store:
    """Holds the current `Snapshot` of a path-based lake and reloads it when a table's version changes."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._lock = threading.Lock()  # one reload at a time; readers never take it
        self.current = self._load(self.versions())

    def versions(self) -> dict[str, int | None]:
        from deltalake import DeltaTable

        found: dict[str, int | None] = {}
        for table in (*REQUIRED, *OPTIONAL):
            path = table.path_under(self.root)
            found[str(table)] = DeltaTable(path).version() if DeltaTable.is_deltatable(path) else None
        return found

    def refresh(self) -> bool:
        """Load the tables again if any version moved; True when a new snapshot was swapped in."""
        with self._lock:
            now = self.versions()
            if now == self.current.versions:
                return False
            snapshot = self._load(now)
            self.current = snapshot  # one reference assignment: requests see the old or the new snapshot whole
            log.info("reloaded tables: %s", ", ".join(f"{t} v{v}" for t, v in now.items() if v is not None))
            return True

    def watch(self, every_seconds: float, stop: threading.Event) -> threading.Thread:
        """Check the versions every `every_seconds` in a daemon thread until `stop` is set."""

        def loop() -> None:
            while not stop.wait(every_seconds):
                try:
                    self.refresh()
                except Exception as exc:  # noqa: BLE001 - a failed reload keeps serving the last good snapshot
                    log.warning("reload failed, still serving the previous tables: %s", str(exc).splitlines()[0])

        thread = threading.Thread(target=loop, name="pmkt-serve-reload", daemon=True)
        thread.start()
        return thread

    def _read(self, table: TableId, versions: Mapping[str, int | None]) -> pa.Table | None:
        from deltalake import DeltaTable

        version = versions[str(table)]
        if version is None:
            if table in REQUIRED:
                raise UserError(
                    f"table {table} does not exist yet at {table.path_under(self.root)}: run `pmkt recommend` first"
                )
            return None
        delta = DeltaTable(table.path_under(self.root), version=version)
        dates = [p[SNAPSHOT_COLUMN] for p in delta.partitions() if p.get(SNAPSHOT_COLUMN) is not None]
        if dates:  # a snapshot table: only the latest snapshot's files are read (ISO dates sort as text)
            return delta.to_pyarrow_table(partitions=[(SNAPSHOT_COLUMN, "=", max(dates))])
        return delta.to_pyarrow_table()

    def _load(self, versions: Mapping[str, int | None]) -> Snapshot:
        read = {table: self._read(table, versions) for table in (*REQUIRED, *OPTIONAL)}

        def index(table: TableId, key: str, order: tuple[str, ...] = ()) -> Index:
            data = read[table]
            return _empty() if data is None else Index.of(data, key, order)

        recommendations = index(tables.RECOMMENDATIONS, "customer_id", ("rank",))
        profiles = index(tables.CUSTOMER_PROFILES, "customer_id")
        customer_index = index(tables.CUSTOMER_INDEX, "customer_id")
        popular = read[tables.POPULAR_ITEMS]
        assert popular is not None  # required
        similar = index(tables.SIMILAR_ITEMS, "product_id", ("method", "rank"))
        products = set(popular["product_id"].to_pylist()) | set(similar.ranges)
        live = index(tables.RECOMMENDATIONS_LIVE, "customer_id")
        batch = read[tables.RECOMMENDATIONS]
        assert batch is not None  # required
        generated = pc.max(batch["generated_at"]).as_py() if batch.num_rows else None
        return Snapshot(
            versions=dict(versions),
            loaded_at=dt.datetime.now(dt.timezone.utc),
            recommendations=recommendations,
            popular=popular.sort_by([("rank", "ascending")]),
            profiles=profiles,
            segments=index(tables.SEGMENTS, "customer_id"),
            churn=index(tables.CHURN_SCORES, "customer_id"),
            propensity=index(tables.PROPENSITY_SCORES, "customer_id", ("category",)),
            similar=similar,
            live=live,
            batch_generated_at=generated,
            known=frozenset(recommendations.ranges)
            | frozenset(profiles.ranges)
            | frozenset(customer_index.ranges)
            | frozenset(live.ranges),
            products=frozenset(products),
        )
