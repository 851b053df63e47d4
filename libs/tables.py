"""Every table the platform writes, named `layer.table` as in the docs and issues."""

from __future__ import annotations

from dataclasses import dataclass

from pmkt.libs import schemas


@dataclass(frozen=True, order=True)
class TableId:
    layer: str
    name: str

    def __str__(self) -> str:
        return f"{self.layer}.{self.name}"

    def path_under(self, root: str) -> str:
        """Where a path-based lake rooted at `root` keeps this table: <root>/<layer>/<name>."""
        return f"{root.rstrip('/')}/{self.layer}/{self.name}"


BRONZE = {name: TableId("bronze", e.table) for name, e in schemas.ENTITIES.items()}
SILVER = {name: TableId("silver", e.table) for name, e in schemas.ENTITIES.items()}
QUARANTINE = TableId("silver", "quarantine")
INGESTED_FILES = TableId("bronze", "ingested_files")
INGEST_RUNS = TableId("bronze", "ingest_runs")
LAKE_LOCK = TableId("system", "lake_lock")  # one writer at a time (libs.lock)
JOB_RUNS = TableId("system", "job_runs")  # runs that finished: the commit point of their log rows (libs.runs)
ERASURE_LOG = TableId("gold", "erasure_log")
DATA_QUALITY = TableId("gold", "data_quality")
DRIFT = TableId("gold", "drift")
FAIRNESS_AUDIT = TableId("gold", "fairness_audit")
MODEL_METRICS = TableId("gold", "model_metrics")
CUSTOMER_FEATURES = TableId("gold", "customer_features")
CUSTOMER_PROFILES = TableId("gold", "customer_profiles")
SEGMENTS = TableId("gold", "segments")
SEGMENT_PROFILES = TableId("gold", "segment_profiles")
SEGMENT_K_SELECTION = TableId("gold", "segment_k_selection")
FREQUENT_ITEMSETS = TableId("gold", "frequent_itemsets")
ASSOCIATION_RULES = TableId("gold", "association_rules")
BOUGHT_TOGETHER = TableId("gold", "frequently_bought_together")
CROSS_SELL = TableId("gold", "cross_sell")
CHURN_SCORES = TableId("gold", "churn_scores")
CHURN_EVALUATION = TableId("gold", "churn_evaluation")
CHURN_COEFFICIENTS = TableId("gold", "churn_coefficients")
PROPENSITY_SCORES = TableId("gold", "propensity_scores")
UPLIFT_EVALUATION = TableId("gold", "uplift_evaluation")
CLV = TableId("gold", "clv")
CLV_CALIBRATION = TableId("gold", "clv_calibration")
CUSTOMER_INDEX = TableId("gold", "customer_index")
PRODUCT_INDEX = TableId("gold", "product_index")
SIMILAR_ITEMS = TableId("gold", "similar_items")
RECOMMENDATIONS = TableId("gold", "recommendations")
POPULAR_ITEMS = TableId("gold", "popular_items")  # the cold-start list `pmkt serve` answers with
REALTIME_FEATURES = TableId("gold", "realtime_features")  # `pmkt stream`
RECOMMENDATIONS_LIVE = TableId("gold", "recommendations_live")  # `pmkt stream`
AUDIENCES = TableId("gold", "audiences")
CAMPAIGN_PLAN = TableId("gold", "campaign_plan")
ACTIONS = TableId("gold", "actions")
CAMPAIGN_METRICS = TableId("gold", "campaign_metrics")
ATTRIBUTION = TableId("gold", "attribution")

TRUTH_SEGMENTS = TableId("truth", "customer_segments")
TRUTH_CHURN = TableId("truth", "churners")
TRUTH_RULES = TableId("truth", "copurchase_rules")
TRUTH_UPLIFT = TableId("truth", "campaign_uplift")
TRUTH_BIAS = TableId("truth", "planted_bias")
TRUTH_PRODUCTS = TableId("truth", "product_clusters")
TRUTH_BAD_ROWS = TableId("truth", "bad_rows")

# Columns that single out a customer. A table holding any of them keeps Delta statistics only on its numbers,
# dates and timestamps: any string may embed a customer id (an order id "O-C0001-S1", a contact id
# "<campaign>-<customer>"), and an erased customer (`pmkt forget`) must leave no min/max value behind in a
# `_delta_log` entry once the data files are vacuumed.
IDENTIFYING = ("customer_id", "name_pseudo", "email_pseudo", "phone_pseudo")

# Tables that hold raw content (what landed, quarantined lines) keep Delta min/max statistics only on
# these lineage columns: a value's statistics sit in clear text in the `_delta_log` JSON and checkpoints.
_BRONZE_STATS = ("_ingest_id", "_ingested_at", "_source_file", "_file_size", "_file_mtime")
STATS_COLUMNS: dict[TableId, tuple[str, ...]] = {
    **{table: _BRONZE_STATS for table in BRONZE.values()},
    QUARANTINE: ("entity", "reason", "_source_file", "_ingest_id", "quarantined_at"),
}

# Append-only tables whose rows carry the `run_id` of the run that wrote them (see libs.runs).
RUN_LOGGED = (MODEL_METRICS, DATA_QUALITY, DRIFT, FAIRNESS_AUDIT)

# The catalogue `pmkt tables` reports on, in pipeline order.
CATALOGUE: tuple[TableId, ...] = (
    *BRONZE.values(),
    INGESTED_FILES,
    INGEST_RUNS,
    *SILVER.values(),
    QUARANTINE,
    CUSTOMER_FEATURES,
    CUSTOMER_PROFILES,
    SEGMENTS,
    SEGMENT_PROFILES,
    SEGMENT_K_SELECTION,
    FREQUENT_ITEMSETS,
    ASSOCIATION_RULES,
    BOUGHT_TOGETHER,
    CROSS_SELL,
    CHURN_SCORES,
    CHURN_EVALUATION,
    CHURN_COEFFICIENTS,
    PROPENSITY_SCORES,
    UPLIFT_EVALUATION,
    CLV,
    CLV_CALIBRATION,
    CUSTOMER_INDEX,
    PRODUCT_INDEX,
    SIMILAR_ITEMS,
    RECOMMENDATIONS,
    POPULAR_ITEMS,
    REALTIME_FEATURES,
    RECOMMENDATIONS_LIVE,
    AUDIENCES,
    CAMPAIGN_PLAN,
    ACTIONS,
    CAMPAIGN_METRICS,
    ATTRIBUTION,
    MODEL_METRICS,
    ERASURE_LOG,
    DATA_QUALITY,
    DRIFT,
    FAIRNESS_AUDIT,
    JOB_RUNS,
    TRUTH_SEGMENTS,
    TRUTH_CHURN,
    TRUTH_RULES,
    TRUTH_UPLIFT,
    TRUTH_BIAS,
    TRUTH_PRODUCTS,
    TRUTH_BAD_ROWS,
)
