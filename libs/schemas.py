"""Canonical input entities: their columns, types, keys, PII and references.

Every source, generated or brought by a user, is mapped onto these through the column map in
the conf. Silver tables carry exactly these columns (PII replaced by pseudonyms) plus lineage.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import types as T

ID, STRING, INT, DOUBLE, BOOL, TS, DATE = "id", "string", "int", "double", "boolean", "timestamp", "date"
_SPARK_TYPES = {
    ID: T.StringType(),
    STRING: T.StringType(),
    INT: T.IntegerType(),
    DOUBLE: T.DoubleType(),
    BOOL: T.BooleanType(),
    TS: T.TimestampType(),
    DATE: T.DateType(),
}
# What a PII column is stored as: a keyed HMAC pseudonym (libs.pii); the raw value never lands.
PSEUDONYMS = {"name": "name_pseudo", "email": "email_pseudo", "phone": "phone_pseudo"}
# Columns in a user's export that the conf maps as extras may only take these types.
EXTRA_TYPES = (STRING, INT, DOUBLE, BOOL, TS, DATE)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = False
    pii: bool = False
    non_negative: bool = False
    default: str | None = None  # the raw value used when a source doesn't map the column
    doc: str = ""  # what the column means, for the table catalogue

    @property
    def spark_type(self) -> T.DataType:
        return _SPARK_TYPES[self.kind]


@dataclass(frozen=True)
class Entity:
    """One canonical input: `keys` identify a row; `derived_keys` may be computed when unmapped."""

    name: str
    table: str
    columns: tuple[Column, ...]
    keys: tuple[str, ...]
    on_existing: str  # "update": a newer row replaces the stored one; "ignore": first one wins
    timestamp: str | None = None
    references: tuple[tuple[str, str], ...] = ()  # (column, entity) pairs checked against silver
    derived_keys: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def has_pii(self) -> bool:
        """Rows carry personal data: raw content is kept only as keyed hashes, and errors never echo values."""
        return any(c.pii for c in self.columns)


CUSTOMERS = Entity(
    "customers",
    "customers",
    (
        Column("customer_id", ID, required=True),
        Column("name", STRING, pii=True),
        Column("email", STRING, pii=True),
        Column("phone", STRING, pii=True),
        Column("birth_date", DATE, doc="for age bands"),
        Column("gender", STRING),
        Column("city", STRING),
        Column("signup_date", DATE, doc="tenure counts from it"),
        Column("channel", STRING, doc="signup channel"),
        Column("consent", BOOL, doc="marketing consent: campaigns contact only consenting customers"),
        Column("churn_label", BOOL, doc="a churn label the export brings (labelled churn tables)"),
    ),
    keys=("customer_id",),
    on_existing="update",
)
PRODUCTS = Entity(
    "products",
    "products",
    (
        Column("product_id", ID, required=True),
        Column("product_name", STRING),
        Column("category", STRING),
        Column("brand", STRING),
        Column("price", DOUBLE, non_negative=True, doc="list price"),
        Column("margin", DOUBLE, doc="margin per unit"),
        Column("description", STRING, doc="free text for content-based similarity"),
        Column("active", BOOL, doc="only active products are recommended"),
    ),
    keys=("product_id",),
    on_existing="update",
)
EVENTS = Entity(
    "events",
    "events",
    (
        Column("event_id", ID),
        Column("customer_id", ID, required=True),
        Column("product_id", ID, doc="null for events without a product"),
        Column("event_type", STRING, required=True),
        Column("event_ts", TS, required=True),
        Column("device", STRING, doc="e.g. mobile, desktop"),
        Column("session_id", STRING),
    ),
    keys=("event_id",),
    on_existing="ignore",
    timestamp="event_ts",
    references=(("product_id", "products"),),
    derived_keys=("event_id",),
)
TRANSACTIONS = Entity(
    "transactions",
    "order_lines",
    (
        Column("order_id", ID, doc="derived from customer and time when the export has none"),
        Column("line_id", ID, doc="derived when the export has none"),
        Column("customer_id", ID),
        Column("order_ts", TS),
        Column("product_id", ID),
        Column("quantity", INT, non_negative=True, default="1"),  # an export without quantities lists one unit per line
        Column("unit_price", DOUBLE, non_negative=True, doc="amount / quantity when missing"),
        Column("amount", DOUBLE, non_negative=True, doc="line revenue; quantity × unit price when missing"),
    ),
    keys=("order_id", "line_id"),
    on_existing="ignore",
    timestamp="order_ts",
    references=(("product_id", "products"),),
    derived_keys=("order_id", "line_id"),
)
CAMPAIGNS = Entity(
    "campaigns",
    "campaigns",
    (
        Column("campaign_id", ID, required=True),
        Column("campaign_name", STRING),
        Column("channel", STRING),
        Column("start_date", DATE),
        Column("end_date", DATE),
        Column("offer_category", STRING, doc="the category the campaign promotes"),
        Column("cost_per_contact", DOUBLE, non_negative=True),
    ),
    keys=("campaign_id",),
    on_existing="update",
)
CAMPAIGN_CONTACTS = Entity(
    "campaign_contacts",
    "campaign_contacts",
    (
        Column("contact_id", ID, doc="derived from campaign and customer when the export has none"),
        Column("campaign_id", ID, required=True),
        Column("customer_id", ID, required=True),
        Column("channel", STRING),
        Column("sent_ts", TS, required=True),
        Column("group", STRING),
        Column("opened", BOOL),
        Column("clicked", BOOL),
        Column("converted", BOOL),
        Column("cost", DOUBLE, non_negative=True, doc="what the contact cost"),
        Column("revenue", DOUBLE, non_negative=True, doc="revenue attributed to the contact"),
    ),
    keys=("contact_id",),
    on_existing="update",
    timestamp="sent_ts",
    derived_keys=("contact_id",),
)

RATINGS = Entity(
    "ratings",
    "ratings",
    (
        Column("customer_id", ID, required=True),
        Column("product_id", ID, required=True),
        Column("rating", DOUBLE, required=True, doc="explicit rating, e.g. 1–5 stars"),
        Column("rated_ts", TS, doc="when rated; an export without times is recommended from all the same"),
    ),
    keys=("customer_id", "product_id"),
    on_existing="update",
    timestamp="rated_ts",
    references=(("product_id", "products"),),
)

# Ingest order matters: references are checked against entities ingested earlier.
ENTITIES: dict[str, Entity] = {
    e.name: e for e in (PRODUCTS, CUSTOMERS, CAMPAIGNS, EVENTS, TRANSACTIONS, CAMPAIGN_CONTACTS, RATINGS)
}
EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")
CONTACT_GROUPS = ("treatment", "control")
