"""Input: the synthetic generator, the ingest sources, data-quality expectations and erasure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pmkt.libs import schemas
from pmkt.libs.config.base import empty_map, iso_date
from pmkt.libs.errors import ConfigError

READ_FORMATS = ("csv", "json", "parquet", "text")
DECIMAL_MARKS = (".", ",")
THOUSANDS_MARKS = (",", ".", "'", " ")  # a space stands for no-break spaces too
# Time formats beside Spark's datetime patterns: Unix time, and a number of units after a date of the export's own
# choosing ("days since 2020-01-01"), for exports that count days from their own start instead of giving dates.
EPOCH_FORMATS = {"epoch_seconds": 1_000_000, "epoch_millis": 1_000}
SINCE_FORMAT = re.compile(r"(days|hours|minutes|seconds) since (\S+)")
SINCE_UNITS = {"days": 86_400_000_000, "hours": 3_600_000_000, "minutes": 60_000_000, "seconds": 1_000_000}


@dataclass(frozen=True)
class GenerateConfig:
    seed: int = 42  # the synthetic world is deterministic for a seed
    customers: int = 12000  # customers in the synthetic world (events and orders grow with them)
    products: int = 400  # products in the catalogue
    segments: int = 4  # planted behavioural segments (truth.segments)
    start_date: str = "2025-01-01"  # first day of the generated history
    months: int = 15  # months of history
    landing: str = "data/generated"  # where the raw exports are written
    files_per_table: int = 4  # output files per large table
    bad_rows: bool = True  # plant broken rows of every kind ingest must quarantine (truth.bad_rows)
    plant_bias: bool = True  # one campaign's contacts under-select a group (truth.planted_bias)

    def __post_init__(self) -> None:
        if self.customers < 50:
            raise ConfigError("config key 'generate.customers' must be at least 50")
        if self.products < 40:
            raise ConfigError("config key 'generate.products' must be at least 40")
        if not 2 <= self.segments <= 6:
            raise ConfigError("config key 'generate.segments' must be between 2 and 6")
        if not 3 <= self.months <= 36:
            raise ConfigError("config key 'generate.months' must be between 3 and 36")


@dataclass(frozen=True)
class LookupConfig:
    """A file that completes a source's rows by a shared key, e.g. orders (customer, time) for order lines."""

    path: str  # a file or folder; any Hadoop path
    key: str  # the column both files name the key with, e.g. order_id
    format: str = "csv"  # csv | json | parquet | text, as a source's
    options: Mapping[str, str] = field(default_factory=empty_map)  # reader options, as a source's


@dataclass(frozen=True)
class SourceConfig:
    """One input export: where it is, how to read it and how its columns map to the canonical ones."""

    path: str  # a file or folder; any Hadoop path
    format: str = "csv"  # csv | json | parquet | text (whitespace-separated, header on the first line)
    options: Mapping[str, str] = field(default_factory=empty_map)  # reader options, e.g. sep, header
    columns: Mapping[str, str] = field(default_factory=empty_map)  # canonical name -> source column
    extra: Mapping[str, str] = field(default_factory=empty_map)  # extra source column -> type, kept in silver
    # Spark datetime pattern, epoch_seconds, epoch_millis, or "<days|hours|minutes|seconds> since <YYYY-MM-DD>";
    # None: ISO 8601
    timestamp_format: str | None = None
    date_format: str | None = None  # the same, for date columns
    # The decimal mark of the export's numbers, . or ,; a number written otherwise is quarantined as wrong_type,
    # never read as another number
    decimal: str = "."
    # The mark grouping their digits, if any: , . ' or a space (no-break spaces too); with decimal "," and
    # thousands "." the export's 1.234,5 is 1234.5
    thousands: str | None = None
    # canonical column -> {source value: canonical value}, e.g. event type codes
    values: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    extends_source: bool = False  # in a conf that extends another: merge with the inherited source of this name
    # files joined to each row in turn by a key (a row without exactly one match is quarantined: lookup_failed)
    lookups: tuple[LookupConfig, ...] = ()

    def option(self, name: str) -> str | None:
        """A reader option's value, its key matched in any case as Spark's readers match it: multiline is multiLine."""
        return next((str(v) for k, v in self.options.items() if k.lower() == name.lower()), None)


@dataclass(frozen=True)
class IngestConfig:
    # entity -> its export: customers, products, events, transactions, ratings, campaigns, campaign_contacts
    sources: Mapping[str, SourceConfig] = field(default_factory=lambda: MappingProxyType({}))
    max_string_length: int = 512  # longer strings are quarantined as too_long
    future_tolerance_hours: int = 24  # timestamps later than now plus this are quarantined as future_timestamp
    event_types: tuple[str, ...] = schemas.EVENT_TYPES  # anything else is quarantined as unknown_event_type
    check_references: bool = True  # check product and campaign ids against their silver tables
    max_quarantine_share: float = 0.5  # more quarantined rows than this share fails the entity, nothing recorded
    reingest: tuple[str, ...] = ()  # `--reingest PATH|all`: forget these recorded files first, so they load again
    min_date: str = "1900-01-01"  # dates and timestamps outside [min_date, max_date] are quarantined (out_of_range)
    max_date: str = "2100-12-31"  # see min_date

    def __post_init__(self) -> None:
        for name, src in self.sources.items():
            _validate_source(name, src)
        if not 0 < self.max_quarantine_share <= 1:
            raise ConfigError("config key 'ingest.max_quarantine_share' must be in (0, 1]")
        if iso_date(self.min_date, "ingest.min_date") >= iso_date(self.max_date, "ingest.max_date"):
            raise ConfigError("config key 'ingest.min_date' must be before 'ingest.max_date'")


QUALITY_RULES = (
    "not_null",
    "range",
    "unique",
    "accepted_values",
    "references",
    "freshness",
    "row_count_change",
    "mean_change",
)


@dataclass(frozen=True)
class Expectation:
    """One declarative data-quality rule on a table (`layer.name`); `max_share` of its rows may fail it."""

    table: str  # layer.name, e.g. silver.customers
    rule: str  # not_null | range | unique | accepted_values | references | freshness | row_count_change | mean_change
    column: str | None = None  # every rule but row_count_change names one
    min: float | None = None  # range
    max: float | None = None  # range
    values: tuple[str, ...] = ()  # accepted_values
    ref_table: str | None = None  # references: every value must exist in ref_table.ref_column
    ref_column: str | None = None  # references
    max_age_days: float | None = None  # freshness: the newest value of `column` is at most this old
    max_change: float | None = None  # row_count_change, mean_change: relative change against the last evaluation
    max_share: float = 0.0  # share of rows allowed to fail
    severity: str = "fail"  # fail stops the pipeline before the models; warn only reports

    def __post_init__(self) -> None:
        where = f"quality expectation {self.rule} on {self.table}"
        if self.rule not in QUALITY_RULES:
            raise ConfigError(f"{where}: rule must be one of {', '.join(QUALITY_RULES)}")
        if self.severity not in ("warn", "fail"):
            raise ConfigError(f"{where}: severity must be warn or fail, got '{self.severity}'")
        needs = {
            "range": self.min is not None or self.max is not None,
            "accepted_values": bool(self.values),
            "references": bool(self.ref_table and self.ref_column),
            "freshness": self.max_age_days is not None,
            "row_count_change": self.max_change is not None,
            "mean_change": self.max_change is not None,
        }
        if not needs.get(self.rule, True):
            raise ConfigError(f"{where}: missing its parameter (see docs/operations.md, data quality)")
        if self.rule != "row_count_change" and not self.column:
            raise ConfigError(f"{where}: needs a column")


DEFAULT_EXPECTATIONS = (
    Expectation("silver.customers", "unique", "customer_id"),
    Expectation("silver.products", "unique", "product_id"),
    Expectation("silver.products", "range", "price", min=0.0, max=100_000.0, max_share=0.01),
    Expectation("silver.order_lines", "range", "unit_price", min=0.0, max=100_000.0, max_share=0.01),
    Expectation("silver.order_lines", "mean_change", "unit_price", max_change=0.5),  # prices now in cents?
    Expectation("silver.order_lines", "row_count_change", max_change=0.9, severity="warn"),
    Expectation("silver.events", "row_count_change", max_change=0.9, severity="warn"),
)


@dataclass(frozen=True)
class QualityConfig:
    expectations: tuple[Expectation, ...] = DEFAULT_EXPECTATIONS  # data-quality rules on silver and gold tables
    psi_warn: float = 0.1  # population stability index between consecutive snapshots: warn, then alert
    psi_alert: float = 0.25  # see psi_warn
    drift_bins: int = 10  # bins of the PSI


@dataclass(frozen=True)
class ForgetConfig:
    """`pmkt forget`: erase customers everywhere (GDPR Art. 17). Raw emails and phones are pseudonymised first."""

    customer_ids: tuple[str, ...] = ()  # customers to erase, by id
    emails: tuple[str, ...] = ()  # or by raw email (pseudonymised before it is looked up)
    phones: tuple[str, ...] = ()  # or by raw phone (pseudonymised before it is looked up)
    # Files removed by the erasure stay on disk (and reachable by time travel) until VACUUM deletes them after
    # this many hours. 168 is Delta's safe default; 0 erases at once but breaks time travel to older versions
    # and any reader still on an older version.
    vacuum_retention_hours: float = 168.0
    model_policy: str = "flag"  # flag: record which model versions saw the customer, for retraining

    def __post_init__(self) -> None:
        if self.vacuum_retention_hours < 0:
            raise ConfigError("config key 'forget.vacuum_retention_hours' must be >= 0")
        if self.model_policy not in ("flag",):
            raise ConfigError(f"config key 'forget.model_policy' must be flag, got '{self.model_policy}'")


def _validate_source(name: str, src: SourceConfig) -> None:
    where = f"ingest.sources.{name}"
    entity = schemas.ENTITIES.get(name)
    if entity is None:
        raise ConfigError(f"unknown config key '{where}' (sources are {', '.join(schemas.ENTITIES)})")
    if src.format not in READ_FORMATS:
        raise ConfigError(f"config key '{where}.format' must be one of {', '.join(READ_FORMATS)}, got '{src.format}'")
    for canonical in src.columns:
        if canonical not in entity.column_names:
            raise ConfigError(f"unknown config key '{where}.columns.{canonical}' (not a column of {name})")
    for column in (c for c in entity.columns if c.required and c.name not in src.columns):
        raise ConfigError(f"config key '{where}.columns' must map required column '{column.name}'")
    for key in (k for k in entity.keys if k not in src.columns and k not in entity.derived_keys):
        raise ConfigError(f"config key '{where}.columns' must map key column '{key}'")
    if name == "transactions" and "order_id" not in src.columns and not {"customer_id", "order_ts"} <= set(src.columns):
        raise ConfigError(f"config key '{where}.columns' must map order_id, or customer_id and order_ts")
    if name == "transactions" and "product_id" not in src.columns and not {"unit_price", "amount"} & set(src.columns):
        raise ConfigError(f"config key '{where}.columns' must map product_id or a price (unit_price or amount)")
    for extra, kind in src.extra.items():
        if kind not in schemas.EXTRA_TYPES:
            raise ConfigError(f"config key '{where}.extra.{extra}' must be one of {', '.join(schemas.EXTRA_TYPES)}")
        if extra in entity.column_names:
            raise ConfigError(f"config key '{where}.extra.{extra}' clashes with a canonical column")
    for canonical in src.values:
        if canonical not in entity.column_names:
            raise ConfigError(f"unknown config key '{where}.values.{canonical}'")
    if src.decimal not in DECIMAL_MARKS:
        raise ConfigError(f"config key '{where}.decimal' must be '.' or ',', got '{src.decimal}'")
    if src.thousands is not None and (src.thousands not in THOUSANDS_MARKS or src.thousands == src.decimal):
        raise ConfigError(
            f"config key '{where}.thousands' must be ',', '.', an apostrophe or a space, and not the decimal mark"
        )
    for key in ("timestamp_format", "date_format"):
        fmt = getattr(src, key) or ""
        since = SINCE_FORMAT.fullmatch(fmt.strip())
        if since:
            iso_date(since.group(2), f"{where}.{key}")
        elif " since " in fmt:
            raise ConfigError(f"config key '{where}.{key}' must read '<{'|'.join(SINCE_UNITS)}> since <YYYY-MM-DD>'")
    for i, lookup in enumerate(src.lookups):
        if lookup.format not in READ_FORMATS:
            formats = ", ".join(READ_FORMATS)
            raise ConfigError(f"config key '{where}.lookups[{i}].format' must be one of {formats}: '{lookup.format}'")
