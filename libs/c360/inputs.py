"""Loading the silver inputs of Customer 360 and choosing snapshot dates."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from libs import tables
from libs.c360 import snapshot
from libs.c360.snapshot import Inputs
from libs.config import FeaturesConfig
from libs.errors import UserError
from libs.lake import Lake


def load(lake: Lake) -> Inputs:
    def maybe(entity: str) -> DataFrame | None:
        return lake.read_if_exists(tables.SILVER[entity])

    inputs = Inputs(lines=maybe("transactions"), events=maybe("events"), customers=maybe("customers"),
                    products=maybe("products"), contacts=maybe("campaign_contacts"))
    if inputs.lines is None and inputs.events is None:
        raise UserError("no silver.order_lines or silver.events yet: run ingest first")
    return inputs


def materialise_snapshots(lake: Lake, inputs: Inputs, cutoffs: Sequence[dt.date], cfg: FeaturesConfig) -> DataFrame:
    """Build the features as of each of `cutoffs` (one pass over the inputs), store them as those
    gold.customer_features snapshots in one commit, and return the stored rows (so every model reads the
    same, versioned features)."""
    lake.write_snapshots(snapshot.build_many(inputs, cutoffs, cfg), tables.CUSTOMER_FEATURES, cutoffs)
    return lake.read(tables.CUSTOMER_FEATURES).where(F.col("snapshot_date").isin(*sorted(set(cutoffs))))


def default_cutoff(inputs: Inputs) -> dt.date:
    """The day after the latest order or event: a snapshot of everything ingested."""
    latest = []
    if inputs.lines is not None:
        latest.append(inputs.lines.agg(F.max("order_ts")).first()[0])
    if inputs.events is not None:
        latest.append(inputs.events.agg(F.max("event_ts")).first()[0])
    stamps = [t for t in latest if t is not None]
    if not stamps:
        raise UserError("silver has no orders or events to build features from")
    return max(stamps).date() + dt.timedelta(days=1)


def latest_rows(lake: Lake, table: tables.TableId) -> DataFrame | None:
    """The newest snapshot's rows of a snapshot table, or None when the table doesn't exist."""
    if not lake.exists(table):
        return None
    return lake.read(table).where(F.col("snapshot_date") == F.lit(latest_snapshot(lake, table, None)))


def latest_snapshot(lake: Lake, table: tables.TableId, requested: str | None) -> dt.date:
    """The requested snapshot date if it exists in `table`, else the latest one."""
    if not lake.exists(table):
        raise UserError(f"{table} does not exist yet: run the job that writes it first")
    dates = lake.read(table).select("snapshot_date").distinct()
    if requested:
        wanted = dt.date.fromisoformat(requested)
        if dates.where(F.col("snapshot_date") == F.lit(wanted)).count() == 0:
            raise UserError(f"snapshot {requested} not found in {table}")
        return wanted
    latest = dates.agg(F.max("snapshot_date")).first()[0]
    if latest is None:
        raise UserError(f"{table} is empty")
    return latest
