"""Every table's contract, its grain and typed columns; the table catalogue in the docs is generated from these.

`Lake.write` and `Lake.merge` check each DataFrame against its table's contract before anything is written, so
the catalogue cannot drift from what the jobs write.
"""

from __future__ import annotations

from pyspark.sql import types as T

from pmkt.libs import tables
from pmkt.libs.contracts import audit, gold, ingest
from pmkt.libs.contracts.base import Col, Contract
from pmkt.libs.contracts.features import CUSTOMER_FEATURES
from pmkt.libs.errors import ContractError
from pmkt.libs.tables import TableId

__all__ = ["CONTRACTS", "Col", "Contract", "check"]

CONTRACTS: dict[TableId, Contract] = {
    **{tables.BRONZE[name]: c for name, c in ingest.BRONZE.items()},
    tables.INGESTED_FILES: ingest.INGESTED_FILES,
    tables.INGEST_RUNS: ingest.INGEST_RUNS,
    **{tables.SILVER[name]: c for name, c in ingest.SILVER.items()},
    tables.QUARANTINE: ingest.QUARANTINE,
    tables.CUSTOMER_FEATURES: CUSTOMER_FEATURES,
    tables.CUSTOMER_PROFILES: gold.CUSTOMER_PROFILES,
    tables.SEGMENTS: gold.SEGMENTS,
    tables.SEGMENT_PROFILES: gold.SEGMENT_PROFILES,
    tables.SEGMENT_K_SELECTION: gold.SEGMENT_K_SELECTION,
    tables.FREQUENT_ITEMSETS: gold.FREQUENT_ITEMSETS,
    tables.ASSOCIATION_RULES: gold.ASSOCIATION_RULES,
    tables.BOUGHT_TOGETHER: gold.BOUGHT_TOGETHER,
    tables.CROSS_SELL: gold.CROSS_SELL,
    tables.CHURN_SCORES: gold.CHURN_SCORES,
    tables.CHURN_EVALUATION: gold.CHURN_EVALUATION,
    tables.CHURN_COEFFICIENTS: gold.CHURN_COEFFICIENTS,
    tables.PROPENSITY_SCORES: gold.PROPENSITY_SCORES,
    tables.UPLIFT_EVALUATION: gold.UPLIFT_EVALUATION,
    tables.CLV: gold.CLV,
    tables.CLV_CALIBRATION: gold.CLV_CALIBRATION,
    tables.CUSTOMER_INDEX: gold.CUSTOMER_INDEX,
    tables.PRODUCT_INDEX: gold.PRODUCT_INDEX,
    tables.SIMILAR_ITEMS: gold.SIMILAR_ITEMS,
    tables.RECOMMENDATIONS: gold.RECOMMENDATIONS,
    tables.POPULAR_ITEMS: gold.POPULAR_ITEMS,
    tables.REALTIME_FEATURES: gold.REALTIME_FEATURES,
    tables.RECOMMENDATIONS_LIVE: gold.RECOMMENDATIONS_LIVE,
    tables.AUDIENCES: gold.AUDIENCES,
    tables.CAMPAIGN_PLAN: gold.CAMPAIGN_PLAN,
    tables.ACTIONS: gold.ACTIONS,
    tables.CAMPAIGN_METRICS: audit.CAMPAIGN_METRICS,
    tables.ATTRIBUTION: gold.ATTRIBUTION,
    tables.MODEL_METRICS: audit.MODEL_METRICS,
    tables.ERASURE_LOG: audit.ERASURE_LOG,
    tables.DATA_QUALITY: audit.DATA_QUALITY,
    tables.DRIFT: audit.DRIFT,
    tables.FAIRNESS_AUDIT: audit.FAIRNESS_AUDIT,
    tables.JOB_RUNS: audit.JOB_RUNS,
    tables.LAKE_LOCK: audit.LAKE_LOCK,
    tables.TRUTH_SEGMENTS: audit.TRUTH_SEGMENTS,
    tables.TRUTH_CHURN: audit.TRUTH_CHURN,
    tables.TRUTH_RULES: audit.TRUTH_RULES,
    tables.TRUTH_UPLIFT: audit.TRUTH_UPLIFT,
    tables.TRUTH_BIAS: audit.TRUTH_BIAS,
    tables.TRUTH_PRODUCTS: audit.TRUTH_PRODUCTS,
    tables.TRUTH_BAD_ROWS: audit.TRUTH_BAD_ROWS,
}


def check(table: TableId, schema: T.StructType) -> None:
    """Raise `ContractError` naming every column of `schema` that breaks `table`'s contract."""
    contract = CONTRACTS.get(table)
    if contract is None:
        raise ContractError(f"{table} has no contract in libs.contracts")
    problems = contract.problems(schema)
    if problems:
        raise ContractError(f"{table} breaks its contract: {'; '.join(problems)}")
