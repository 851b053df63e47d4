"""The customer view audiences are written against, and audience membership with consent and suppression."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.config import AudienceRule, CampaignConfig
from pmkt.libs.errors import MissingInput, UserError
from pmkt.libs.frames import union_all
from pmkt.libs.lake import Lake

# Columns an audience may use even when the job that fills them hasn't run (they are then null).
OPTIONAL = {
    "segment_id": "int",
    "segment_name": "string",
    "churn_probability": "double",
    "risk_band": "string",
    "propensity": "double",
    "propensity_category": "string",
    "clv": "double",
    "p_alive": "double",
}


def customer_view(lake: Lake, day: dt.date) -> DataFrame:
    """One row per customer as of `day`: features, RFM profile, segment, churn risk, best propensity, CLV and
    P(alive), consent."""

    def at(table: tables.TableId) -> DataFrame | None:
        return lake.read_snapshot(table, day).drop("snapshot_date") if lake.exists(table) else None

    features, profiles = at(tables.CUSTOMER_FEATURES), at(tables.CUSTOMER_PROFILES)
    if features is None or profiles is None:
        raise MissingInput(f"no customer features or profiles for {day}: run features and profiles first")
    view = features.join(
        profiles.select("customer_id", *[c for c in profiles.columns if c not in features.columns]),
        on="customer_id",
        how="left",
    )
    segments, churn, propensity = at(tables.SEGMENTS), at(tables.CHURN_SCORES), at(tables.PROPENSITY_SCORES)
    if segments is not None:
        view = view.join(segments.select("customer_id", "segment_id", "segment_name"), on="customer_id", how="left")
    if churn is not None:
        view = view.join(
            churn.select("customer_id", F.col("probability").alias("churn_probability"), "risk_band"),
            on="customer_id",
            how="left",
        )
    if propensity is not None:
        best = propensity.groupBy("customer_id").agg(
            F.max_by(F.struct("probability", "category"), "probability").alias("_p")
        )
        view = view.join(
            best.select(
                "customer_id",
                F.col("_p.probability").alias("propensity"),
                F.col("_p.category").alias("propensity_category"),
            ),
            on="customer_id",
            how="left",
        )
    clv = at(tables.CLV)
    if clv is not None:
        view = view.join(clv.select("customer_id", "clv", "p_alive"), on="customer_id", how="left")
    for col, kind in OPTIONAL.items():
        if col not in view.columns:
            view = view.withColumn(col, F.lit(None).cast(kind))
    if lake.exists(tables.SILVER["customers"]) and "consent" not in view.columns:
        view = view.join(
            lake.read(tables.SILVER["customers"]).select("customer_id", "consent"), on="customer_id", how="left"
        )
    return view.withColumn(
        "consent", F.coalesce(F.col("consent"), F.lit(False)) if "consent" in view.columns else F.lit(False)
    )


def suppressed(spark: SparkSession, cfg: CampaignConfig) -> DataFrame | None:
    """Customer ids on the suppression list, if one is configured."""
    if not cfg.suppression_path:
        return None
    reader = (
        spark.read.parquet if cfg.suppression_path.endswith(".parquet") else spark.read.option("header", "true").csv
    )
    try:
        df = reader(cfg.suppression_path)
    except Exception as exc:  # noqa: BLE001 - a missing file is a user error, reported in one line
        raise UserError(
            f"suppression list {cfg.suppression_path} cannot be read: {str(exc).splitlines()[0][:200]}"
        ) from None
    if "customer_id" not in df.columns:
        raise UserError(f"suppression list {cfg.suppression_path} has no customer_id column")
    return df.select(F.col("customer_id").cast("string")).distinct()


def eligible(view: DataFrame, blocked: DataFrame | None) -> DataFrame:
    """Customers who may be contacted at all: marketing consent, and not on the suppression list."""
    ok = view.where(F.col("consent"))
    return ok.join(blocked, on="customer_id", how="left_anti") if blocked is not None else ok


def nobody_note(view: DataFrame, ok: DataFrame) -> str | None:
    """Why no customer is in any audience when none may be contacted (None when someone may: the rules then
    matched nobody). Costs a query or two; call it only when the audiences came out empty."""
    if not ok.isEmpty():
        return None
    if view.where(F.col("consent")).isEmpty():
        return (
            "no customer has marketing consent on record (silver.customers' consent is missing, false or null), so "
            "no audience, plan or action can name anyone: map a consent column in the customers source"
        )
    return "every customer with marketing consent is on the suppression list (campaign.suppression_path)"


def members(view: DataFrame, rules: tuple[AudienceRule, ...], day: dt.date) -> DataFrame:
    """gold.audiences rows: (snapshot_date, audience, customer_id, reason) for every rule a customer matches."""
    parts = []
    for rule in rules:
        try:
            matched = view.where(F.expr(rule.when))
        except Exception as exc:  # noqa: BLE001 - Spark's parse or analysis error, shown as a config error
            raise UserError(
                f"audience '{rule.name}': bad condition '{rule.when}': {str(exc).splitlines()[0][:160]}"
            ) from None
        parts.append(
            matched.select(
                F.lit(day).alias("snapshot_date"),
                F.lit(rule.name).alias("audience"),
                "customer_id",
                F.lit(rule.reason or rule.when).alias("reason"),
            )
        )
    if not parts:
        raise MissingInput("no audiences configured: set campaign.audiences in the conf")
    return union_all(parts)
