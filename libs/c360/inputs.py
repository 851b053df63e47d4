"""Loading the silver inputs of Customer 360 and choosing snapshot dates."""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
from collections.abc import Sequence

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.c360 import features, snapshot
from pmkt.libs.c360.snapshot import Inputs
from pmkt.libs.config import FeaturesConfig
from pmkt.libs.contracts import features as contract
from pmkt.libs.errors import MissingInput
from pmkt.libs.frames import one
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger

log = get_logger(__name__)
# The silver entities a snapshot reads, and the column stamping each stored row with what it was built from.
INPUTS = ("transactions", "events", "customers", "products", "campaign_contacts")
BUILT_FROM = contract.BUILT_FROM.name


def load(lake: Lake) -> Inputs:
    def maybe(entity: str) -> DataFrame | None:
        return lake.read_if_exists(tables.SILVER[entity])

    inputs = Inputs(
        lines=maybe("transactions"),
        events=maybe("events"),
        customers=maybe("customers"),
        products=maybe("products"),
        contacts=maybe("campaign_contacts"),
    )
    if inputs.lines is None and inputs.events is None:
        raise MissingInput("no silver.order_lines or silver.events yet: run ingest first")
    return inputs


def materialise_snapshots(lake: Lake, inputs: Inputs, cutoffs: Sequence[dt.date], cfg: FeaturesConfig) -> DataFrame:
    """The gold.customer_features snapshots as of each of `cutoffs`, as stored (so every model reads the
    same, versioned features).

    A stored snapshot built from the same silver versions, features config and feature code is used as it
    is; the others are built in one pass over the inputs and replaced in one commit. So the features step
    can build every cutoff the models will read at once, and the models' own calls find them ready.
    """
    wanted = sorted(set(cutoffs))
    stamp = provenance(lake, cfg)
    missing = [d for d in wanted if d not in _stored_with(lake, wanted, stamp)]
    if len(missing) < len(wanted):
        log.info(
            "feature snapshots: %d stored from the same inputs, %d to build", len(wanted) - len(missing), len(missing)
        )
    if missing:
        # Computed once for the four parts that read them, on local disk (they grow with the events).
        rows = snapshot.event_rows(inputs)
        rows = rows.persist(StorageLevel.DISK_ONLY) if rows is not None else None
        try:
            built = snapshot.build_many(inputs, missing, cfg, rows).withColumn(BUILT_FROM, F.lit(stamp))
            lake.write_snapshots(built, tables.CUSTOMER_FEATURES, missing)
        finally:
            if rows is not None:
                rows.unpersist()
    return lake.read(tables.CUSTOMER_FEATURES).where(F.col("snapshot_date").isin(*wanted)).drop(BUILT_FROM)


def provenance(lake: Lake, cfg: FeaturesConfig) -> str:
    """What a snapshot is a function of: the silver tables' Delta versions, the features config and the
    feature code. Any change (an ingest, an erasure, a new window, an edited feature) gives a new stamp."""
    versions = [f"{e}@{lake.version(tables.SILVER[e])}" for e in INPUTS]  # None: the table doesn't exist
    code = [inspect.getsource(module) for module in (snapshot, features)]  # works from a --py-files zip too
    return hashlib.sha256("\n".join([*versions, repr(cfg), *code]).encode()).hexdigest()[:32]


def _stored_with(lake: Lake, days: Sequence[dt.date], stamp: str) -> set[dt.date]:
    """The `days` stored in gold.customer_features whose every row carries `stamp`."""
    if not lake.exists(tables.CUSTOMER_FEATURES):
        return set()
    stored = lake.read(tables.CUSTOMER_FEATURES)
    if BUILT_FROM not in stored.columns:
        return set()
    stamps = (
        stored.where(F.col("snapshot_date").isin(*days))
        .groupBy("snapshot_date")
        .agg(F.collect_set(F.coalesce(F.col(BUILT_FROM), F.lit(""))).alias("stamps"))
    )
    return {r.snapshot_date for r in stamps.collect() if r.stamps == [stamp]}  # one row per requested day


def campaign_starts(lake: Lake) -> list[dt.date]:
    """The campaigns' start dates, ascending: the response models' snapshot dates (none without campaigns)."""
    campaigns = lake.read_if_exists(tables.SILVER["campaigns"])
    if campaigns is None:
        return []
    return sorted({r.start_date for r in campaigns.select("start_date").distinct().collect()})  # one per campaign


def default_cutoff(inputs: Inputs) -> dt.date:
    """The day after the latest order or event: a snapshot of everything ingested."""
    latest, undated = [], 0
    if inputs.lines is not None:
        last, lines = one(inputs.lines.agg(F.max("order_ts"), F.count(F.lit(1))))
        latest.append(last)
        undated = lines if last is None else 0
    if inputs.events is not None:
        latest.append(one(inputs.events.agg(F.max("event_ts")))[0])
    stamps = [t for t in latest if t is not None]
    if undated and not stamps:  # e.g. baskets exported as order and product ids only
        raise MissingInput(
            f"silver.order_lines holds {undated:,} lines and none has an order_ts: features and the models that read "
            "them need dated orders (map ingest.sources.transactions.columns.order_ts); basket and recommend go without"
        )
    if not stamps:
        raise MissingInput("silver has no orders or events to build features from")
    return max(stamps).date() + dt.timedelta(days=1)
