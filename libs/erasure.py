"""Right to be forgotten: find a customer's rows in every table, delete them, vacuum the old files.

Erasure is keyed on the pseudonymous `customer_id`. Rows that only hold a keyed hash of an id (a
line that failed to parse, whose fields were hashed before bronze) are found by that hash. No table
keeps Delta statistics on identifying columns (`tables.IDENTIFYING`), so once VACUUM has deleted the
rewritten files, neither a data file nor a `_delta_log` entry holds the customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

from pmkt.libs import models, pii, tables
from pmkt.libs.config import Config, ForgetConfig
from pmkt.libs.errors import UserError
from pmkt.libs.frames import local_frame
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger
from pmkt.libs.tables import TableId

log = get_logger(__name__)
SAFE_RETENTION_HOURS = 168.0  # Delta's own minimum unless its retention check is turned off


@dataclass(frozen=True)
class Erased:
    customer_id: str
    hashed_id: str  # the keyed hash: what the audit log keeps, and how hashed-only rows are found
    rows: dict[str, int]  # table -> rows removed


def resolve(lake: Lake, cfg: ForgetConfig, key: bytes) -> list[tuple[str, str]]:
    """(customer_id, keyed hash) for every requested customer; raw emails and phones become pseudonyms first."""
    spark = lake.spark
    ids = set(cfg.customer_ids)
    lookups = [("email", "email_pseudo", v) for v in cfg.emails] + [("phone", "phone_pseudo", v) for v in cfg.phones]
    if lookups and lake.exists(tables.SILVER["customers"]):
        wanted = spark.createDataFrame(lookups, "kind string, col string, v string")
        pseudonyms = wanted.select(
            "col",
            F.when(F.col("kind") == "email", pii.pseudonym("email", F.col("v"), key))
            .otherwise(pii.pseudonym("phone", F.col("v"), key))
            .alias("p"),
        )
        customers = lake.read(tables.SILVER["customers"])
        found = customers.join(
            pseudonyms,
            on=(F.col("p") == F.col("email_pseudo")) & (F.col("col") == "email_pseudo")
            | (F.col("p") == F.col("phone_pseudo")) & (F.col("col") == "phone_pseudo"),
            how="inner",
        )
        ids |= {r[0] for r in found.select("customer_id").distinct().collect()}  # bounded by the request
    if not ids:
        raise UserError(
            "nobody to forget: set forget.customer_ids, forget.emails or forget.phones "
            "(emails and phones must match a customer in silver.customers)"
        )
    frame = spark.createDataFrame([(i,) for i in sorted(ids)], "customer_id string")
    hashed = frame.select("customer_id", pii.hmac_sha256(F.trim(F.col("customer_id")), key).alias("h"))
    return [(r[0], r[1]) for r in hashed.collect()]  # bounded by the request


def holders(lake: Lake) -> list[TableId]:
    """Every existing table of the catalogue that can hold a customer's rows."""
    found = []
    for table in tables.CATALOGUE:
        if table != tables.ERASURE_LOG and lake.exists(table) and "customer_id" in lake.read(table).columns:
            found.append(table)
    return found


def _whose(table: TableId, columns: Sequence[str], customers: Sequence[tuple[str, str]]) -> Column:
    """The requested customer a row belongs to (by id, or by the keyed hash of an id), else null."""
    ids = F.create_map(
        *[F.lit(x) for customer_id, hashed in customers for x in (customer_id, customer_id, hashed, customer_id)]
    )
    whose = ids[F.col("customer_id")]
    if table == tables.QUARANTINE and "key" in columns:  # a customers line is quarantined under its key
        whose = F.coalesce(whose, F.when(F.col("entity") == "customers", ids[F.col("key")]))
    return whose


def _on(table: TableId, columns: Sequence[str]) -> str:
    on = "t.customer_id = s.erase_id"
    if table == tables.QUARANTINE and "key" in columns:
        on = f"{on} OR (t.entity = 'customers' AND t.key = s.erase_id)"
    return on


def erase(lake: Lake, customers: Sequence[tuple[str, str]], targets: Sequence[TableId]) -> list[Erased]:
    """Delete every row of these customers: one MERGE-delete per table that holds any of them."""
    rows: dict[str, dict[str, int]] = {c: {} for c, _ in customers}
    # Deleted through a join, not a literal predicate: Delta records a DELETE's predicate in the commit, in clear.
    # Materialised once: every table's MERGE scans it.
    keys = local_frame(lake.spark, [(x,) for pair in customers for x in pair], "erase_id string")
    for table in targets:
        stored = lake.read(table)
        whose = _whose(table, stored.columns, customers)
        counts = stored.where(whose.isNotNull()).groupBy(whose.alias("c")).count().collect()  # per request
        if counts:
            lake.delete_matching(table, keys, _on(table, stored.columns))
        for r in counts:
            rows[r["c"]][str(table)] = int(r["count"])
    for customer_id, _ in customers:
        log.info("forgot one customer: %d rows in %d tables", sum(rows[customer_id].values()), len(rows[customer_id]))
    return [Erased(customer_id, hashed, rows[customer_id]) for customer_id, hashed in customers]


def vacuum(lake: Lake, targets: Sequence[TableId], retention_hours: float) -> None:
    """Physically delete the files the erasure rewrote, once they are older than the retention."""
    spark = lake.spark
    check = "spark.databricks.delta.retentionDurationCheck.enabled"
    below_safe = retention_hours < SAFE_RETENTION_HOURS
    if below_safe:
        log.warning(
            "vacuum retention %.0f h is below Delta's %d h: time travel to older versions stops working",
            retention_hours,
            SAFE_RETENTION_HOURS,
        )
    previous = spark.conf.get(check, "true") or "true"
    spark.conf.set(check, str(not below_safe).lower())
    try:
        for table in targets:
            lake.delta(table).vacuum(retention_hours)
    finally:
        spark.conf.set(check, previous)


def models_to_retrain(config: Config) -> list[str]:
    """Every registered model version: each was fitted on data that may include the erased customers."""
    return [f"{v.name} v{v.version}" for v in models.versions(config)]  # bounded by the number of model versions
