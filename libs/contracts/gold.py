"""Contracts of the gold tables the models and campaigns write."""

from __future__ import annotations

from pmkt.libs.contracts.base import Col, Contract
from pmkt.libs.contracts.features import CUSTOMER_ID, SNAPSHOT_DATE

PRODUCT_ID = Col("product_id", "string")
RANK = Col("rank", "int", "1 = best")
RUN_ID = Col("run_id", "string", "the run that wrote the row (`system.job_runs`)")
MODEL_VERSION = Col("model_version", "int", "the MLflow model version that scored the row")
SNAPSHOT = Col(SNAPSHOT_DATE.name, "date", "the feature snapshot the row was computed from; partition column")
REASONS = Col("reasons", "array<string>", "up to three readable reason codes")

CUSTOMER_PROFILES = Contract(
    grain="customer × snapshot",
    columns=(
        SNAPSHOT,
        CUSTOMER_ID,
        Col("recency_days", "int"),
        Col("frequency", "int"),
        Col("monetary", "double"),
        Col("avg_order_value", "double"),
        Col("r_score", "int", "1–5 quintile among buyers; null for non-buyers"),
        Col("f_score", "int", "as `r_score`"),
        Col("m_score", "int", "as `r_score`"),
        Col("aov_score", "int", "as `r_score`"),
        Col("rfm_cell", "string", "the three scores, e.g. `545`"),
        Col("rfm_segment", "string", "e.g. Champions, At risk"),
        Col("tags", "array<string>", "readable tags from `profiles.tags`"),
        Col("top_category", "string"),
        Col("consent", "boolean"),
    ),
)
SEGMENTS = Contract(
    grain="customer × snapshot",
    columns=(
        SNAPSHOT,
        CUSTOMER_ID,
        Col("segment_id", "int", "`-1`: no behaviour to segment on"),
        Col("segment_name", "string"),
        Col("distance", "double", "to its centroid, in model space"),
        Col("is_outlier", "boolean", "farther from every centroid than the `segment.outlier_quantile` of customers"),
        MODEL_VERSION,
    ),
)
SEGMENT_PROFILES = Contract(
    grain="segment × snapshot",
    columns=(
        SNAPSHOT,
        Col("segment_id", "int"),
        Col("segment_name", "string"),
        Col("size", "bigint", "customers"),
        Col("share", "double", "of all customers"),
        Col("feature_means", "map<string,double>", "in original units"),
        Col("distinguishing", "array<string>", "the three features farthest from the population mean, in SDs"),
        MODEL_VERSION,
    ),
)
SEGMENT_K_SELECTION = Contract(
    grain="k × snapshot",
    columns=(
        SNAPSHOT,
        Col("k", "int"),
        Col("silhouette", "double"),
        Col("cost", "double", "KMeans training cost"),
        Col("chosen", "boolean"),
        RUN_ID,
    ),
)
_MIN_SUPPORT = Col("min_support_used", "double", "the support the mining ran with (after any automatic lowering)")
FREQUENT_ITEMSETS = Contract(
    grain="frequent itemset",
    columns=(
        Col("items", "array<string>"),
        Col("freq", "bigint", "baskets holding it"),
        Col("support", "double"),
        Col("size", "int"),
        _MIN_SUPPORT,
    ),
)
ASSOCIATION_RULES = Contract(
    grain="rule",
    columns=(
        Col("antecedent", "array<string>"),
        Col("consequent", "array<string>", "one item"),
        Col("support", "double"),
        Col("confidence", "double"),
        Col("lift", "double"),
        Col("leverage", "double"),
        Col("conviction", "double"),
        Col("antecedent_count", "bigint"),
        Col("consequent_count", "bigint"),
        Col("rule_count", "bigint"),
        Col("basket_count", "bigint"),
        _MIN_SUPPORT,
    ),
)
BOUGHT_TOGETHER = Contract(
    grain="product × rank",
    columns=(
        PRODUCT_ID,
        RANK,
        Col("together_with", "string", "a product in a one-item rule above `basket.together_min_confidence`"),
        Col("lift", "double", "best lift first"),
        Col("confidence", "double"),
        Col("support", "double"),
    ),
)
CROSS_SELL = Contract(
    grain="customer × rank",
    columns=(
        CUSTOMER_ID,
        RANK,
        PRODUCT_ID,
        Col("score", "double", "lift of the strongest rule"),
        Col("confidence", "double"),
        Col("source", "string", "`basket`"),
        Col("reason", "string", "e.g. `often bought with P00012`"),
    ),
    note="Candidates come from `FPGrowthModel.transform` on each customer's last orders.",
)
CHURN_SCORES = Contract(
    grain="customer × snapshot",
    columns=(
        CUSTOMER_ID,
        SNAPSHOT,
        Col("probability", "double", "of churning within `churn.horizon_days`"),
        Col("risk_band", "string", "low, medium or high by `churn.risk_bands`"),
        REASONS,
        MODEL_VERSION,
    ),
)
CHURN_EVALUATION = Contract(
    grain="curve point",
    columns=(
        Col("variant", "string", "logreg, gbt"),
        Col("kind", "string", "calibration, lift, gain"),
        Col("point", "int", "decile, 1 = highest scores"),
        Col("x", "double"),
        Col("y", "double"),
        Col("customers", "bigint"),
        RUN_ID,
    ),
)
CHURN_COEFFICIENTS = Contract(
    grain="model slot",
    columns=(
        Col("feature", "string", "e.g. `recency_days`, `signup_channel=web`"),
        Col("coefficient", "double", "on the standardised scale"),
        Col("odds_ratio_per_sd", "double"),
        RUN_ID,
    ),
)
PROPENSITY_SCORES = Contract(
    grain="customer × category × snapshot",
    columns=(
        CUSTOMER_ID,
        SNAPSHOT,
        Col("category", "string"),
        Col("probability", "double", "of buying in the category within `propensity.horizon_days`"),
        REASONS,
        MODEL_VERSION,
    ),
)
UPLIFT_EVALUATION = Contract(
    grain="uplift method × Qini curve point",
    columns=(
        Col("variant", "string", "t_learner or class_transformation"),
        Col("point", "int", "0 = nobody targeted"),
        Col("fraction", "double", "of the held-out contacts targeted, highest predicted uplift first"),
        Col("qini", "double", "treated conversions beyond the control rate among them"),
        Col("random", "double", "the same under random targeting"),
        RUN_ID,
    ),
)
_PERIODS = "in periods of `clv.period_days` (weeks by default)"
CLV = Contract(
    grain="customer × snapshot",
    columns=(
        SNAPSHOT,
        CUSTOMER_ID,
        Col("frequency", "int", "repeat purchase days before the snapshot (x)"),
        Col("recency", "double", f"first to last purchase (t_x), {_PERIODS}"),
        Col("age", "double", f"first purchase to the day before the snapshot (T), {_PERIODS}"),
        Col("monetary", "double", "mean amount of the repeat purchase days; 0 without any"),
        Col("first_purchase", "date"),
        Col("expected_purchases", "double", "BG/NBD: expected purchase days in the next `clv.horizon_days`"),
        Col("p_alive", "double", "BG/NBD: P(still a customer)"),
        Col(
            "expected_order_value", "double", "Gamma-Gamma: expected amount of a future purchase; empty without amounts"
        ),
        Col("clv", "double", "discounted value of the next `clv.horizon_days` (x `clv.margin`); empty without amounts"),
        RUN_ID,
    ),
)
CLV_CALIBRATION = Contract(
    grain="frequency bucket × snapshot",
    columns=(
        SNAPSHOT,
        Col("calibration_end", "date", "the models were fitted on purchases before this day"),
        Col("frequency_bucket", "string", "repeat purchases in the calibration period: 0, 1, …, then e.g. `7+`"),
        Col("customers", "bigint"),
        Col("predicted", "double", "mean expected purchase days in the hold-out period"),
        Col("actual", "double", "mean purchase days in the hold-out period"),
        RUN_ID,
    ),
)
_FIRST_SEEN = Col("first_seen", "timestamp")
CUSTOMER_INDEX = Contract(
    grain="customer",
    columns=(CUSTOMER_ID, Col("user_idx", "int", "the integer ALS uses; never changes once given"), _FIRST_SEEN),
)
PRODUCT_INDEX = Contract(
    grain="product",
    columns=(PRODUCT_ID, Col("item_idx", "int", "the integer ALS uses; never changes once given"), _FIRST_SEEN),
)
SIMILAR_ITEMS = Contract(
    grain="product × neighbour",
    columns=(
        PRODUCT_ID,
        Col("neighbour_id", "string"),
        Col("similarity", "double", "cosine"),
        Col("common", "bigint", "customers shared; null for content"),
        RANK,
        Col("method", "string", "`itemcf`, `content`"),
    ),
)
RECOMMENDATIONS = Contract(
    grain="customer × rank",
    columns=(
        CUSTOMER_ID,
        Col("rank", "int", "1..`recommend.top_k`"),
        PRODUCT_ID,
        Col("score", "double", "blended"),
        Col("source", "string", "`als`, `itemcf`, `content`, `basket`, `popular`"),
        Col("reason", "string", "e.g. `itemcf: because you viewed P00123`"),
        Col("generated_at", "timestamp"),
    ),
)
POPULAR_ITEMS = Contract(
    grain="product",
    columns=(
        Col("rank", "int", "1 = turned to by most customers; ties by product id"),
        PRODUCT_ID,
        Col("customers", "bigint", "distinct customers with an interaction; 0 for catalogue items nobody chose yet"),
    ),
    note="Written with `gold.recommendations`; `pmkt serve` answers a customer without recommendations with it.",
)
REALTIME_FEATURES = Contract(
    grain="customer",
    columns=(
        CUSTOMER_ID,
        Col("as_of", "timestamp", "the stream's event-time clock: the latest valid event time it has ingested"),
        Col("last_seen", "timestamp", "the customer's latest event"),
        *[
            Col(f"{kind}_{window}", "bigint", f"{what} in the {span} up to `as_of`")
            for window, span in (("1h", "hour"), ("24h", "24 hours"))
            for kind, what in (
                ("events", "events of any type"),
                ("views", "views"),
                ("carts", "add-to-carts"),
                ("purchases", "purchases"),
            )
        ],
        Col("updated_at", "timestamp"),
    ),
    note="Written by `pmkt stream`: one row per customer it has seen, recomputed while the customer's windows "
    "still move (an event in the last 24 hours of event time, or a cart still waiting).",
)
RECOMMENDATIONS_LIVE = Contract(
    grain="customer",
    columns=(
        CUSTOMER_ID,
        Col("items", "array<struct<product_id:string,score:double>>", "best first, `stream.top_k` at most"),
        Col("new_customer", "boolean", "not in the ALS model's training data: folded in from the first events"),
        Col("as_of", "timestamp", "the event time the factor was folded in at"),
        Col("model_version", "int", "the MLflow version of the ALS model whose item factors were used"),
        Col("folded_at", "timestamp"),
    ),
    note="Written by `pmkt stream`: the ALS top-k of customers with new interactions, from a factor folded in "
    "against the saved item factors; `pmkt serve` prefers it to `gold.recommendations` when it is newer.",
)
AUDIENCES = Contract(
    grain="customer × audience × snapshot",
    columns=(SNAPSHOT, Col("audience", "string"), CUSTOMER_ID, Col("reason", "string")),
)
CAMPAIGN_PLAN = Contract(
    grain="customer × campaign",
    columns=(
        Col("campaign_id", "string"),
        Col("campaign_name", "string"),
        SNAPSHOT_DATE,
        CUSTOMER_ID,
        Col("group", "string", "treatment, control"),
        Col("segment_name", "string"),
        Col("channel", "string"),
        Col("offer_type", "string", "product, cross_sell, category"),
        PRODUCT_ID,
        Col("product_name", "string"),
        Col("category", "string"),
        Col("offer_reason", "string"),
        Col("p_convert", "double", "P(convert | contacted), from the response model; null with `targeting: explore`"),
        Col("uplift", "double", "P(convert | contacted) − P(convert | not), from the uplift model; null without one"),
        Col("p_click", "double", "P(click) at the customer's preferred hour, from the CTR model; null without one"),
        Col("value", "double"),
        Col("cost", "double", "0 for control"),
        Col("expected_profit", "double", "p_convert (`targeting: uplift`: uplift) × value − cost; null exploring"),
        Col("planned_at", "timestamp"),
        Col("message", "string", "treatment only"),
    ),
)
ACTIONS = Contract(
    grain="rule × customer × period",
    columns=(
        CUSTOMER_ID,
        Col("rule", "string"),
        Col("period", "string", "e.g. the cart's day, the birthday's year"),
        Col("action", "string"),
        Col("channel", "string"),
        Col("detail", "string"),
        Col("triggered_at", "timestamp"),
    ),
)
ATTRIBUTION = Contract(
    grain="attribution model × channel",
    columns=(
        Col("model", "string", "first_touch, last_touch, linear, time_decay or markov"),
        Col("channel", "string"),
        Col("touches", "bigint", "treatment contacts sent on the channel in the period"),
        Col("conversions", "double", "converting paths credited to the channel"),
        Col("revenue", "double", "their revenue, credited the same way"),
        Col("share", "double", "of all credited conversions"),
        Col("removal_effect", "double", "markov: share of conversions lost without the channel; else null"),
        Col("cost", "double", "what the channel's contacts cost in the period"),
        Col("roi", "double", "(credited revenue − cost) / cost; null without cost"),
        Col("suggested_budget", "double", "markov: the period's total cost split by credited revenue; else null"),
        Col("period_start", "timestamp"),
        Col("period_end", "timestamp"),
        RUN_ID,
    ),
)
