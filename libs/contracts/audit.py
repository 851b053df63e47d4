"""Contracts of the tables that record what happened: metrics, quality, fairness, erasure, runs, and planted truth."""

from __future__ import annotations

from pmkt.libs.contracts.base import Col, Contract
from pmkt.libs.contracts.features import CUSTOMER_ID

RUN_ID = Col("run_id", "string", "the run that wrote the row; counts once `system.job_runs` has it")
CAMPAIGN_ID = Col("campaign_id", "string")
SEGMENT = Col("segment", "int", "the planted segment")
SEGMENT_NAME = Col("segment_name", "string")
_BIGINTS = ("treated", "control", "opens", "clicks", "conversions", "control_conversions")
_RATES = ("open_rate", "ctr", "cvr", "control_cvr", "uplift", "uplift_ci_low", "uplift_ci_high", "z", "p_value")

CAMPAIGN_METRICS = Contract(
    grain="campaign × segment × channel (and `all`)",
    columns=(
        CAMPAIGN_ID,
        Col("campaign_name", "string"),
        Col("segment", "string", "a segment name, or `all`"),
        Col("channel", "string", "a channel, or `all`"),
        *[Col(name, "bigint") for name in _BIGINTS],
        *[Col(name, "double") for name in _RATES],
        Col("p_holm", "double", "p-value after Holm's correction over the campaign's cells"),
        Col("significant", "boolean"),
        Col("revenue", "double"),
        Col("cost", "double"),
        Col("incremental_revenue", "double"),
        Col("roi", "double"),
        Col("cost_per_acquisition", "double"),
        Col("revenue_per_contact", "double"),
        Col("evaluated_at", "timestamp"),
    ),
)
MODEL_METRICS = Contract(
    grain="metric per run",
    columns=(
        Col("model", "string"),
        Col("variant", "string"),
        Col("metric", "string"),
        Col("value", "double"),
        Col("split", "string"),
        RUN_ID,
        Col("created_at", "timestamp"),
    ),
    note="Every model job appends its evaluation here, and logs the same numbers to MLflow.",
)
ERASURE_LOG = Contract(
    grain="erased customer per request",
    columns=(
        Col("request_id", "string"),
        Col("customer_hash", "string", "keyed HMAC of the id"),
        Col("requested_at", "timestamp"),
        Col("tables", "array<string>"),
        Col("rows_removed", "bigint"),
        Col("vacuum_retention_hours", "double"),
        Col("models_to_retrain", "array<string>", "MLflow model versions fitted on the erased rows"),
    ),
)
DATA_QUALITY = Contract(
    grain="expectation per run",
    columns=(
        RUN_ID,
        Col("evaluated_at", "timestamp"),
        Col("table", "string"),
        Col("rule", "string"),
        Col("column", "string"),
        Col("severity", "string", "warn or fail"),
        Col("rows", "bigint"),
        Col("failing", "double"),
        Col("failing_share", "double"),
        Col("allowed_share", "double"),
        Col("observed", "double", "a mean, count or age in days"),
        Col("passed", "boolean"),
    ),
)
DRIFT = Contract(
    grain="column per run",
    columns=(
        RUN_ID,
        Col("table", "string"),
        Col("column", "string"),
        Col("reference_snapshot", "date"),
        Col("current_snapshot", "date"),
        Col("psi", "double", "population stability index"),
        Col("level", "string", "ok, warn, alert"),
    ),
)
FAIRNESS_AUDIT = Contract(
    grain="decision × attribute × group per run",
    columns=(
        RUN_ID,
        Col("decision", "string", "e.g. `campaign CMP01`, `contacts CMP03`, `churn high risk`"),
        Col("attribute", "string"),
        Col("group", "string"),
        Col("customers", "bigint"),
        Col("selected", "bigint"),
        Col("selection_rate", "double"),
        Col("disparate_impact", "double"),
        Col("parity_difference", "double"),
        Col("tpr", "double"),
        Col("fpr", "double"),
        Col("auc", "double"),
        Col("equalised_odds_difference", "double"),
        Col("flagged", "boolean"),
        Col("reason", "string"),
        Col("p_value", "double", "the group against everyone else"),
        Col("audited_at", "timestamp"),
    ),
)
LAKE_LOCK = Contract(
    grain="job holding the lake",
    columns=(
        Col("name", "string", "the lock's name (one lock per lake)"),
        Col("holder", "string", "a unique id of the holding process"),
        Col("job", "string"),
        Col("host", "string"),
        Col("pid", "bigint"),
        Col("since", "timestamp"),
    ),
    note="Empty when no job runs.",
)
JOB_RUNS = Contract(
    grain="finished job run",
    columns=(Col("run_id", "string"), Col("job", "string"), Col("finished_at", "timestamp")),
    note="The commit point of a run's rows in the metrics and audit tables, and of its MLflow model versions.",
)

TRUTH_SEGMENTS = Contract(
    grain="generated customer",
    columns=(
        CUSTOMER_ID,
        SEGMENT,
        SEGMENT_NAME,
        Col("taste_a", "int", "planted taste cluster"),
        Col("taste_b", "int", "second planted taste cluster"),
    ),
)
TRUTH_CHURN = Contract(grain="planted churner", columns=(CUSTOMER_ID, SEGMENT, Col("churn_date", "date")))
TRUTH_RULES = Contract(
    grain="planted rule",
    columns=(
        Col("antecedent", "string"),
        Col("consequent", "string"),
        Col("planted_confidence", "double"),
        Col("support", "double", "as realised in the clean orders"),
        Col("confidence", "double", "as realised"),
        Col("lift", "double", "as realised"),
        Col("n_a", "bigint"),
        Col("n_b", "bigint"),
        Col("n_ab", "bigint"),
        Col("n_baskets", "int"),
    ),
)
TRUTH_UPLIFT = Contract(
    grain="campaign × segment",
    columns=(CAMPAIGN_ID, SEGMENT, SEGMENT_NAME, Col("uplift", "double", "planted conversion uplift; zero for some")),
)
TRUTH_BIAS = Contract(
    grain="biased past campaign",
    columns=(
        CAMPAIGN_ID,
        Col("attribute", "string"),
        Col("group", "string"),
        Col("reach_factor", "double", "the group was contacted at this fraction of everyone else's rate"),
    ),
)
TRUTH_PRODUCTS = Contract(
    grain="product",
    columns=(
        Col("product_id", "string"),
        Col("category", "string"),
        Col("taste_cluster", "int"),
        Col("tier", "int", "price tier"),
    ),
)
TRUTH_BAD_ROWS = Contract(
    grain="planted bad row",
    columns=(
        Col("entity", "string"),
        Col("reason", "string", "the quarantine reason it must get"),
        Col("key", "string"),
        Col("raw_line", "string", "null for PII-bearing entities"),
    ),
)
