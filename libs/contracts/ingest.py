"""Contracts of the tables ingest writes. Bronze and silver follow the canonical entities in `libs.schemas`."""

from __future__ import annotations

from pmkt.libs import schemas
from pmkt.libs.contracts.base import Col, Contract

SOURCE_FILE = Col("_source_file", "string", "the file the row came from")
FILE_SIZE = Col("_file_size", "bigint", "that file's size in bytes")
FILE_MTIME = Col("_file_mtime", "timestamp", "that file's modification time")
INGEST_ID = Col("_ingest_id", "string", "the ingest run that landed the row")
INGESTED_AT = Col("_ingested_at", "timestamp", "when it landed")
FILE_META = (SOURCE_FILE, FILE_SIZE, FILE_MTIME, Col("_line", "bigint", "an id of the row within its read"))
SILVER_LINEAGE = (SOURCE_FILE, INGEST_ID, INGESTED_AT)
LOOKUP_NOTE = Col(
    "_lookup_note", "string", "why the row's lookup failed (no row, or several, for its key)", optional="with lookups"
)
EMAIL_DOMAIN = Col("email_domain", "string", "the email's domain, kept in clear for segmentation")
_GRAIN = {"transactions": "order line", "campaign_contacts": "contact", "ratings": "customer × product"}
_PSEUDONYM = "keyed HMAC pseudonym of the {} (the raw value is never stored)"


def _silver(entity: schemas.Entity) -> Contract:
    columns: list[Col] = []
    for c in entity.columns:
        if c.pii:
            columns.append(Col(schemas.PSEUDONYMS[c.name], "string", _PSEUDONYM.format(c.name)))
            if c.name == "email":
                columns.append(EMAIL_DOMAIN)
        else:
            columns.append(Col(c.name, c.spark_type.simpleString(), _meaning(entity, c)))
    return Contract(
        grain=_GRAIN.get(entity.name, entity.name.removesuffix("s")),
        columns=(*columns, *SILVER_LINEAGE, Col("_row_hash", "string", "SHA-256 of the row's content")),
        extras="the conf's `extra` columns of the source, with their declared types",
    )


def _meaning(entity: schemas.Entity, column: schemas.Column) -> str:
    notes = [column.doc, ("required" if column.required else ""), ("key" if column.name in entity.keys else "")]
    if column.name in entity.derived_keys and not column.doc:
        notes.append("derived from the row's fields when the export has none")
    if column.name == "event_type":
        notes.append(", ".join(schemas.EVENT_TYPES))
    if column.name == "group":
        notes.append(", ".join(schemas.CONTACT_GROUPS))
    if column.default is not None:
        notes.append(f"{column.default} when the source has no such column")
    return "; ".join(n for n in notes if n)


_MAPPED = "only when the source maps it"


def _bronze(entity: schemas.Entity) -> Contract:
    mapped = []
    for c in entity.columns:
        if c.pii:
            mapped.append(Col(schemas.PSEUDONYMS[c.name], "string", _PSEUDONYM.format(c.name), optional=_MAPPED))
            mapped += (
                [Col(EMAIL_DOMAIN.name, "string", EMAIL_DOMAIN.meaning, optional=_MAPPED)] if c.name == "email" else []
            )
        else:
            mapped.append(Col(c.name, "string", "as landed", optional=_MAPPED))
    hashed = "; unmapped fields of PII-bearing entities hashed" if entity.has_pii else ""
    return Contract(
        grain="landed row",
        columns=(
            INGEST_ID,
            INGESTED_AT,
            *mapped,
            Col("_corrupt_record", "string", "the line when it does not parse (a keyed hash for PII-bearing entities)"),
            Col("_parse_note", "string", "why it does not parse"),
            Col("_raw", "string", "the source row as JSON" + hashed),
            LOOKUP_NOTE,
            *FILE_META,
        ),
        extras="the source's `extra` columns, as strings",
    )


BRONZE = {name: _bronze(e) for name, e in schemas.ENTITIES.items()}
SILVER = {name: _silver(e) for name, e in schemas.ENTITIES.items()}
QUARANTINE = Contract(
    grain="rejected row",
    columns=(
        Col("entity", "string", "the canonical entity"),
        Col("reason", "string", "why the row was rejected (e.g. `missing customer_id`, `unknown product_id`)"),
        Col("detail", "string", "the offending column and value, redacted for PII-bearing entities"),
        Col("key", "string", "the row's key, `|`-joined"),
        Col("raw", "string", "the row as landed (pseudonymised)"),
        Col("customer_id", "string", "whose row it is, so `pmkt forget` finds it"),
        SOURCE_FILE,
        INGEST_ID,
        Col("quarantined_at", "timestamp"),
        FILE_SIZE,
        FILE_MTIME,
    ),
)
INGESTED_FILES = Contract(
    grain="ingested file",
    columns=(
        Col("entity", "string"),
        SOURCE_FILE,
        FILE_SIZE,
        FILE_MTIME,
        Col("rows", "bigint", "rows read from it"),
        Col("ingest_id", "string", "the run that ingested it; this row is that run's commit point"),
    ),
)
INGEST_RUNS = Contract(
    grain="entity per ingest run",
    columns=(
        Col("duplicates", "bigint", "rows repeating a key within the batch"),
        Col("entity", "string"),
        Col("files", "bigint"),
        Col("ingest_id", "string"),
        Col("input", "bigint", "rows read; equals the sum of the outcomes"),
        Col("inserted", "bigint"),
        Col("quarantined", "bigint"),
        Col("unchanged", "bigint", "rows equal to the stored ones"),
        Col("updated", "bigint"),
        Col("finished_at", "timestamp"),
    ),
)
