"""Bronze rows to typed silver rows: mapping, PII pseudonyms, typing and one rejection reason per bad row."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pmkt.libs import pii, schemas
from pmkt.libs.config import EPOCH_FORMATS, SINCE_FORMAT, SINCE_UNITS, IngestConfig, SourceConfig
from pmkt.libs.contracts import ingest as contract
from pmkt.libs.errors import UserError
from pmkt.libs.frames import one
from pmkt.libs.ingest.readers import CORRUPT, LOOKUP_NOTE, source_columns
from pmkt.libs.schemas import Entity

REASON, DETAIL, RAW, PARSE_NOTE = "_reason", "_detail", "_raw", "_parse_note"
UNCLOSED_QUOTE = "an unclosed quote: a quoted field with a line break? set the source's options.multiLine: true"
NOT_JSON_LINES = (
    "line is not a JSON object: a file holding one JSON document (an array, or objects over several lines)? "
    "set the source's options.multiLine: true"
)
LINEAGE = tuple(c.name for c in contract.SILVER_LINEAGE)
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")


def bronze_columns(df: DataFrame, entity: Entity, src: SourceConfig, key: bytes) -> DataFrame:
    """What landed, as strings under canonical names, with PII already pseudonymised (raw PII never lands).

    For an entity that carries personal data, a line that does not parse (its fields may have shifted, so a
    phone number can sit under `birth_date`) keeps only keyed hashes of its fields, and `_raw` keeps only
    the mapped non-personal fields in clear: unmapped columns (a landline, a note) are hashed too.
    """
    pii_sources = {src.columns[c.name]: c.name for c in entity.columns if c.pii and c.name in src.columns}
    clear_sources = {src.columns[c.name] for c in entity.columns if not c.pii and c.name in src.columns}
    clear_sources |= set(src.extra)
    source_cols = source_columns(df)
    broken = F.col(CORRUPT).isNotNull()

    def hashed(value: Column) -> Column:
        return F.when(value.isNotNull(), pii.hmac_sha256(F.trim(value), key))

    def guarded(value: Column) -> Column:
        return F.when(broken, hashed(value)).otherwise(value) if entity.has_pii else value

    def raw_field(col: str) -> Column:
        value = F.col(f"`{col}`")
        if col in pii_sources:
            return pii.pseudonym(pii_sources[col], value, key)
        if entity.has_pii and col not in clear_sources:
            return hashed(value)
        return guarded(value)

    mapped = []
    for column in entity.columns:
        if column.name not in src.columns:
            continue
        value = F.col(f"`{src.columns[column.name]}`")
        if column.pii:
            mapped.append(pii.pseudonym(column.name, value, key).alias(schemas.PSEUDONYMS[column.name]))
            if column.name == "email":
                mapped.append(pii.email_domain(value).alias(contract.EMAIL_DOMAIN.name))
        else:
            mapped.append(guarded(value).alias(column.name))
    raw = F.to_json(F.struct(*[raw_field(c).alias(c) for c in source_cols]))
    corrupt = F.col(CORRUPT)
    quotes = F.size(F.split(F.coalesce(corrupt, F.lit("")), '"')) - 1
    note = F.when(broken & (quotes % 2 == 1), F.lit(UNCLOSED_QUOTE)).when(broken, F.lit("line does not parse"))
    if src.format == "json" and (src.option("multiLine") or "").lower() != "true":
        # A line that does not even start an object is a piece of a pretty-printed document, not a broken line.
        fragment = broken & ~F.ltrim(corrupt).startswith("{")
        note = F.when(fragment, F.lit(NOT_JSON_LINES)).otherwise(note)
    if entity.has_pii:
        # A broken line can't be parsed into fields, so it can't be pseudonymised field by field.
        corrupt = F.when(broken, F.concat(F.lit("redacted line, hmac="), pii.hmac_sha256(corrupt, key)))
    return df.select(
        *mapped,
        *[guarded(F.col(f"`{extra}`")).alias(extra) for extra in src.extra],
        corrupt.alias(CORRUPT),
        note.alias(PARSE_NOTE),
        raw.alias(RAW),
        *([F.col(LOOKUP_NOTE)] if src.lookups else []),
        "_source_file",
        "_file_size",
        "_file_mtime",
        "_line",
    )


def _clean(text: Column) -> Column:
    trimmed = F.trim(text)
    return F.when(trimmed != "", trimmed)


def number_text(text: Column, decimal: str = ".", thousands: str | None = None) -> Column:
    """A number written with the source's `decimal` and `thousands` marks as Spark reads one ("1.234,5" to
    "1234.5"); null when it is not written that way (a "1.23,4", or "12.50" where the decimal mark is ","), so it is
    quarantined instead of read as another number. With Spark's own marks (".", none) the text is left alone."""
    if decimal == "." and thousands is None:
        return text
    mark = re.escape(decimal)
    group = "[ \u00a0\u202f]" if thousands == " " else re.escape(thousands or "")
    whole = r"\d+" if thousands is None else rf"(?:\d{{1,3}}(?:{group}\d{{3}})+|\d+)"
    written = rf"^[+-]?(?:{whole}(?:{mark}\d+)?|{mark}\d+)(?:[eE][+-]?\d+)?$"
    plain = text if thousands is None else F.regexp_replace(text, group, "")
    return F.when(text.rlike(written), F.translate(plain, decimal, "."))


def typed_value(kind: str, text: Column, fmt: str | None, decimal: str = ".", thousands: str | None = None) -> Column:
    """Parse a cleaned string as `kind`; null where it does not parse. Numbers are read with the source's decimal
    and thousands marks (`number_text`)."""
    if kind in (schemas.ID, schemas.STRING):
        return text
    if kind in (schemas.INT, schemas.DOUBLE):
        text = number_text(text, decimal, thousands)
    if kind == schemas.INT:
        number = text.try_cast("double")
        return F.when(_finite(number) & (number == F.floor(number)), number.try_cast("int"))
    if kind == schemas.DOUBLE:
        return text.try_cast("double")
    if kind == schemas.BOOL:
        low = F.lower(text)
        return F.when(low.isin(*TRUE_WORDS), True).when(low.isin(*FALSE_WORDS), False)
    since = SINCE_FORMAT.fullmatch((fmt or "").strip())
    if fmt in EPOCH_FORMATS:  # Unix time, as in most ratings exports
        number = text.try_cast("double")
        stamp = F.timestamp_micros((number * EPOCH_FORMATS[fmt]).try_cast("long"))
    elif since:  # in doubles, so a number too large to be a time is null (quarantined), not an overflow error
        unit, origin = since.groups()
        start = F.unix_micros(F.to_timestamp(F.lit(origin))).cast("double")
        stamp = F.timestamp_micros((start + text.try_cast("double") * SINCE_UNITS[unit]).try_cast("long"))
    else:
        stamp = F.try_to_timestamp(text, F.lit(fmt)) if fmt else F.try_to_timestamp(text)
    return stamp if kind == schemas.TS else F.to_date(stamp)


def classify(
    bronze: DataFrame, entity: Entity, src: SourceConfig, cfg: IngestConfig, known: dict[str, DataFrame]
) -> DataFrame:
    """Typed canonical columns plus `_reason` (null for a good row) and `_detail`."""
    texts: dict[str, Column] = {}
    for column in entity.columns:
        if column.pii:
            continue
        text = _clean(F.col(column.name)) if column.name in src.columns else F.lit(column.default).cast("string")
        mapping = src.values.get(column.name)
        if mapping:
            text = F.coalesce(F.create_map(*[F.lit(x) for kv in mapping.items() for x in kv])[text], text)
        texts[column.name] = text
    texts.update(_derived_keys(entity, src, texts))
    df = bronze.select("*", *[t.alias(f"_t_{n}") for n, t in texts.items()])
    values = {c.name: _typed(src, c.kind, c.name) for c in entity.columns if not c.pii}
    df = df.select("*", *[_clean(F.col(n)).alias(f"_t_{n}") for n in src.extra])
    extras = {n: _typed(src, k, n) for n, k in src.extra.items()}
    df = df.select("*", *[v.alias(f"_v_{n}") for n, v in {**values, **extras}.items()])
    df = _references(df, entity, cfg, known)
    checks = _checks(entity, src, cfg, list(values), list(extras))
    reason = F.coalesce(*[F.when(cond, F.lit(r)) for r, cond, _ in checks], F.lit(None).cast("string"))
    detail = F.coalesce(*[F.when(cond, d) for _, cond, d in checks], F.lit(None).cast("string"))
    df = df.withColumn(REASON, reason).withColumn(DETAIL, detail)
    # Only what quarantine and silver read: the texts, flags and landed strings are spent, and a good
    # row's raw line is never read. The caller caches this, so width here is time and disk per batch.
    spent = {c.name for c in entity.columns if not c.pii} | set(src.extra) | {PARSE_NOTE}
    return df.select(
        *[
            F.when(F.col(REASON).isNotNull(), F.col(c)).alias(c) if c == RAW else F.col(f"`{c}`")
            for c in df.columns
            if c not in spent and not c.startswith(("_t_", "_ref_"))
        ]
    )


def _typed(src: SourceConfig, kind: str, name: str) -> Column:
    """Column `name`'s cleaned text (`_t_<name>`) as `kind`, in the source's date, time and number formats."""
    fmt = src.date_format if kind == schemas.DATE else src.timestamp_format
    return typed_value(kind, F.col(f"_t_{name}"), fmt, src.decimal, src.thousands)


def _derived_keys(entity: Entity, src: SourceConfig, texts: dict[str, Column]) -> dict[str, Column]:
    """Keys a source may lack: hashes of the fields that identify the row."""

    def digest(*cols: str) -> Column:
        return F.substring(F.sha2(F.concat_ws("|", *[F.coalesce(texts[c], F.lit("")) for c in cols]), 256), 1, 32)

    derived = {}
    for key in entity.derived_keys:
        if key in src.columns:
            continue
        if key == "event_id":
            derived[key] = digest("customer_id", "product_id", "event_type", "event_ts", "session_id")
        elif key == "order_id":  # an order is a customer's purchase at one moment
            derived[key] = F.when(
                texts["customer_id"].isNotNull() & texts["order_ts"].isNotNull(), digest("customer_id", "order_ts")
            )
        elif key == "line_id":
            derived[key] = F.substring(
                F.sha2(
                    F.concat_ws(
                        "|", digest("product_id", "quantity", "unit_price", "amount"), _occurrence(texts).cast("string")
                    ),
                    256,
                ),
                1,
                32,
            )
        elif key == "contact_id":
            derived[key] = F.when(
                texts["campaign_id"].isNotNull() & texts["customer_id"].isNotNull(),
                F.concat_ws("-", texts["campaign_id"], texts["customer_id"]),
            )
    return derived


def _occurrence(texts: dict[str, Column]) -> Column:
    """1, 2, ... over identical lines within one file: two identical items bought together are two lines.

    The same file delivered again is skipped by file tracking, and a copy under another name gets the
    same numbers (identical lines are interchangeable), so its lines still fall out as duplicates.
    """
    content = [F.coalesce(t, F.lit("")) for t in texts.values()]
    same = Window.partitionBy(F.col("_source_file"), *content).orderBy(*content)
    return F.row_number().over(same)


def _references(df: DataFrame, entity: Entity, cfg: IngestConfig, known: dict[str, DataFrame]) -> DataFrame:
    for column, target in entity.references:
        ref = known.get(target)
        flag = f"_ref_{column}"
        if not cfg.check_references or ref is None:
            df = df.withColumn(flag, F.lit(True))
            continue
        keys = ref.select(
            F.col(schemas.ENTITIES[target].keys[0]).alias(f"_k_{column}"), F.lit(True).alias(flag)
        ).distinct()
        df = df.join(keys, on=F.col(f"_v_{column}") == F.col(f"_k_{column}"), how="left").drop(f"_k_{column}")
        df = df.withColumn(flag, F.col(f"_v_{column}").isNull() | F.col(flag).isNotNull())
    return df


def _checks(
    entity: Entity, src: SourceConfig, cfg: IngestConfig, cols: Sequence[str], extras: Sequence[str]
) -> list[tuple[str, Column, Column]]:
    """(reason, condition, detail) in priority order: a row gets the first reason that applies."""
    checks: list[tuple[str, Column, Column]] = [("malformed", F.col(CORRUPT).isNotNull(), F.col(PARSE_NOTE))]
    if src.lookups:  # a line whose order header (say) is missing or ambiguous has no trustworthy customer or time
        checks.append(("lookup_failed", F.col(LOOKUP_NOTE).isNotNull(), F.col(LOOKUP_NOTE)))
    for name in cols:
        column = entity.column(name)
        mapped = name in src.columns or name in entity.derived_keys
        if mapped and (name in entity.keys or (column.required and column.kind == schemas.ID)):
            checks.append(("null_key", F.col(f"_v_{name}").isNull(), F.lit(f"{name} is empty")))
        elif column.required:
            checks.append(("missing_value", F.col(f"_t_{name}").isNull(), F.lit(f"{name} is empty")))
    kinds = {**{name: entity.column(name).kind for name in cols}, **{name: src.extra[name] for name in extras}}
    checks += _value_checks(kinds, cfg, src)
    for name in (c for c in cols if entity.column(c).non_negative):
        checks.append(("negative_value", F.col(f"_v_{name}") < 0, F.lit(f"{name} is negative")))
    if entity.timestamp:
        horizon = F.current_timestamp() + F.make_interval(hours=F.lit(cfg.future_tolerance_hours))
        checks.append(
            (
                "future_timestamp",
                F.col(f"_v_{entity.timestamp}") > horizon,
                F.lit(f"{entity.timestamp} is in the future"),
            )
        )
    if entity is schemas.TRANSACTIONS:  # the line amount derived in silver must be a number too
        derived = F.col("_v_amount").isNull() & ~_finite(F.col("_v_quantity") * F.col("_v_unit_price"))
        checks.append(("invalid_number", derived, F.lit("quantity x unit_price is not a finite number")))
    if entity is schemas.EVENTS:
        checks.append(
            (
                "unknown_event_type",
                ~F.col("_v_event_type").isin(*cfg.event_types),
                F.lit("event_type not in ingest.event_types"),
            )
        )
    if entity is schemas.CAMPAIGN_CONTACTS:
        invalid = F.col("_v_group").isNotNull() & ~F.col("_v_group").isin(*schemas.CONTACT_GROUPS)
        checks.append(("invalid_value", invalid, F.lit("group is not treatment or control")))
    for ref_column, target in entity.references:
        unknown = ~F.col(f"_ref_{ref_column}")
        checks.append((f"unknown_{target.rstrip('s')}", unknown, F.lit(f"{ref_column} not in silver {target}")))
    return checks


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _value_checks(kinds: dict[str, str], cfg: IngestConfig, src: SourceConfig) -> list[tuple[str, Column, Column]]:
    """Checks on each value by its kind, for canonical and extra columns alike."""
    checks: list[tuple[str, Column, Column]] = []
    # A number that does not parse says how numbers were read: a decimal comma is the usual cause.
    marks = f" with decimal mark '{src.decimal}'" + (f" and thousands mark '{src.thousands}'" if src.thousands else "")
    for name, kind in kinds.items():
        text = F.col(f"_t_{name}")
        if kind == schemas.ID:
            checks.append(
                (
                    "invalid_text",
                    text.contains("\ufffd"),
                    F.lit(f"{name} holds an undecodable byte (U+FFFD): check the source's encoding option"),
                )
            )
        if kind in (schemas.ID, schemas.STRING):
            checks.append(
                (
                    "too_long",
                    F.length(text) > cfg.max_string_length,
                    F.lit(f"{name} longer than {cfg.max_string_length}"),
                )
            )
    for name, kind in kinds.items():
        text, value = F.col(f"_t_{name}"), F.col(f"_v_{name}")
        as_written = marks if kind in (schemas.INT, schemas.DOUBLE) else ""
        detail = F.lit(f"{name} is not {_article(kind)} {kind}{as_written}")
        checks.append(("wrong_type", text.isNotNull() & value.isNull(), detail))
    for name, kind in kinds.items():
        value = F.col(f"_v_{name}")
        if kind == schemas.DOUBLE:
            bad = value.isNotNull() & ~_finite(value)
            checks.append(("invalid_number", bad, F.lit(f"{name} is not a finite number")))
        if kind in (schemas.DATE, schemas.TS):
            day = F.to_date(value)
            outside = (day < F.lit(cfg.min_date).cast("date")) | (day > F.lit(cfg.max_date).cast("date"))
            bounds = f"ingest.min_date {cfg.min_date} .. max_date {cfg.max_date}"
            checks.append(("out_of_range", outside, F.lit(f"{name} outside {bounds}")))
    return checks


def _finite(value: Column) -> Column:
    return ~F.isnan(value) & (F.abs(value) != F.lit(float("inf")))


def latest_per_key(valid: DataFrame, entity: Entity) -> DataFrame:
    """One row per key: the latest by the entity's timestamp, then the latest file, then the later line."""
    order = [F.col(f"_v_{entity.timestamp}").desc_nulls_last()] if entity.timestamp else []
    order += [F.col("_file_mtime").desc(), F.col("_source_file").desc(), F.col("_line").desc()]
    rank = F.row_number().over(Window.partitionBy(*[F.col(f"_v_{k}") for k in entity.keys]).orderBy(*order))
    return valid.withColumn("_rank", rank).where(F.col("_rank") == 1).drop("_rank")


def unchanged_rows(unique: DataFrame, stored: DataFrame, entity: Entity) -> int:
    """Rows the MERGE will leave alone, counted on their own: the key is stored with the same content
    (or, for an entity whose first row wins, the key is stored at all)."""
    target = stored.select(*[F.col(k).alias(f"_s_{k}") for k in entity.keys], F.col("_row_hash").alias("_s_hash"))
    on = [F.col(k).eqNullSafe(F.col(f"_s_{k}")) for k in entity.keys]
    matched = unique.select(*entity.keys, "_row_hash").join(target, on=on, how="inner")
    if entity.on_existing == "update":
        matched = matched.where(F.col("_row_hash") == F.col("_s_hash"))
    return matched.count()


def silver_columns(df: DataFrame, entity: Entity, src: SourceConfig) -> DataFrame:
    """The silver schema contract: canonical typed columns, pseudonyms, extras, a content hash and lineage."""
    named: dict[str, Column] = {}
    for column in entity.columns:
        if column.pii:
            pseudonym = schemas.PSEUDONYMS[column.name]
            named[pseudonym] = F.col(pseudonym) if column.name in src.columns else F.lit(None).cast("string")
            if column.name == "email":
                domain = contract.EMAIL_DOMAIN.name
                named[domain] = F.col(domain) if "email" in src.columns else F.lit(None).cast("string")
        else:
            named[column.name] = F.col(f"_v_{column.name}").cast(column.spark_type)
    if entity is schemas.TRANSACTIONS:
        # Line amount from quantity x unit price when the source gives only one of them.
        q, p, a = F.col("_v_quantity"), F.col("_v_unit_price"), F.col("_v_amount")
        named["unit_price"] = F.coalesce(p, F.when(q > 0, F.round(a / q, 4)))
        named["amount"] = F.coalesce(a, F.round(q * p, 4))
    named.update({n: F.col(f"_v_{n}") for n in src.extra})
    out = df.select(*[c.alias(n) for n, c in named.items()], *LINEAGE)
    return out.withColumn("_row_hash", F.sha2(F.to_json(F.struct(*[F.col(f"`{n}`") for n in named])), 256))


def quarantine_rows(classified: DataFrame, entity: Entity) -> DataFrame:
    """The rejected rows of `classified` as `silver.quarantine` holds them: reason, key, the landed line, lineage."""
    bad = classified.where(F.col(REASON).isNotNull())
    keys = [F.col(f"_v_{k}") for k in entity.keys]
    return bad.select(
        F.lit(entity.name).alias("entity"),
        F.col(REASON).alias("reason"),
        F.col(DETAIL).alias("detail"),
        F.when(~F.exists(F.array(*keys), lambda x: x.isNull()), F.concat_ws("|", *keys)).alias("key"),
        F.coalesce(F.col(CORRUPT), F.col(RAW)).alias("raw"),
        # Whose line it is, so `pmkt forget` finds it (a hash of the id when the line did not parse).
        (F.col("_v_customer_id") if "customer_id" in entity.column_names else F.lit(None).cast("string")).alias(
            "customer_id"
        ),
        "_source_file",
        "_ingest_id",
        F.current_timestamp().alias("quarantined_at"),
        "_file_size",
        "_file_mtime",
    )


def check_quarantine_share(classified: DataFrame, entity: schemas.Entity, n_input: int, max_share: float) -> None:
    """Fail with the top reasons and an example when more than `max_share` of the rows would be quarantined."""
    bad = classified.where(F.col(REASON).isNotNull())
    n_bad = bad.count()  # one number
    if n_bad <= max_share * n_input:
        return
    # Bounded: at most three (reason, detail) groups.
    top = bad.groupBy(REASON, DETAIL).count().orderBy(F.desc("count"), REASON).limit(3).collect()
    reasons = "; ".join(f"{r[REASON]} ({r[DETAIL]}) x{r['count']:,}" for r in top)
    if any(c.pii for c in entity.columns):
        example = "example withheld: this entity carries personal data"
    else:  # one row, cut short
        first = one(bad.where(F.col(DETAIL) == top[0][DETAIL]).select(F.coalesce(F.col(CORRUPT), F.col(RAW))))
        example = f"example {str(first[0])[:200]}"
    raise UserError(
        f"{entity.name}: {n_bad:,} of {n_input:,} rows ({n_bad / n_input:.0%}) would be quarantined, more than "
        f"ingest.max_quarantine_share {max_share:.0%}: {reasons}; {example}. Nothing was written or recorded: "
        "fix the source's conf (formats, decimal marks, column map) and run ingest again"
    )
