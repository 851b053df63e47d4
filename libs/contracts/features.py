"""The contract of `gold.customer_features`: the point-in-time feature set, one row per customer and snapshot."""

from __future__ import annotations

from pmkt.libs.contracts.base import Col, Contract

SNAPSHOT_DATE = Col("snapshot_date", "date", "the cutoff: only what happened before it counts; partition column")
CUSTOMER_ID = Col("customer_id", "string")
_COLUMNS = (
    SNAPSHOT_DATE,
    CUSTOMER_ID,
    Col("recency_days", "int", "days from the last order to the cutoff"),
    Col("frequency", "int", "orders"),
    Col("monetary", "double", "revenue"),
    Col("avg_order_value", "double"),
    Col("avg_items_per_order", "double"),
    Col("price_index", "double", "viewed products' price relative to their category mean"),
    Col("margin_total", "double"),
    Col("tenure_days", "int", "days since signup (else since the first order)"),
    Col("first_order_days", "int", "days since the first order"),
    Col("days_between_orders", "double", "mean gap between orders"),
    Col("overdue_ratio", "double", "recency over the usual gap: above 1, the next order is late"),
    Col("views", "int"),
    Col("clicks", "int"),
    Col("carts", "int", "add-to-cart events"),
    Col("purchases", "int", "purchase events"),
    Col("sessions", "int"),
    Col("events", "int"),
    Col("sessions_per_month", "double"),
    Col("cart_abandonment_rate", "double"),
    Col("conversion_rate", "double", "purchases per view"),
    Col("views_per_session", "double"),
    Col("days_since_last_event", "int"),
    Col("orders_<n>d", "int", "orders in the last n days, one column per `features.windows` entry"),
    Col("revenue_<n>d", "double", "revenue in the last n days"),
    Col("events_<n>d", "int", "events in the last n days"),
    Col("activity_trend", "double", "log ratio of the last 30 days' event rate to the prior 90 days'"),
    Col("top_category", "string", "the category with most spend"),
    Col("top_category_share", "double"),
    Col("category_shares", "map<string,double>", "spend share over the top `features.top_categories` categories"),
    Col("mobile_share", "double", "share of events on mobile"),
    Col("preferred_weekday", "string"),
    Col("preferred_hour", "int"),
    Col("campaign_contacts", "int"),
    Col("campaign_open_rate", "double"),
    Col("campaign_click_rate", "double"),
    Col("campaign_conversion_rate", "double"),
    Col("age_band", "string", "from the birth date at the cutoff"),
    Col("gender", "string"),
    Col("city", "string"),
    Col("email_domain", "string"),
    Col("signup_channel", "string"),
    Col("consent", "boolean", "marketing consent"),
)
BUILT_FROM = Col(
    "_built_from",
    "string",
    "the silver Delta versions, features config and feature code the snapshot was computed from",
    optional="absent on a snapshot written outside the features step, which is then rebuilt, never reused",
)
CUSTOMER_FEATURES = Contract(grain="customer × snapshot", columns=(*_COLUMNS, BUILT_FROM))
# The feature columns proper: what `libs.c360.snapshot` computes, in the table's order.
FEATURES = _COLUMNS
