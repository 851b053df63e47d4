"""Fairness audit of the platform's decisions by protected or proxy group, and the features rule.

A decision is a frame of (customer_id, selected, label, score): whom a planned campaign selects, whom a past
campaign contacted, whom churn puts in the high-risk band, whom propensity puts in its top share. Per group
it reports the selection rate, the disparate-impact ratio (four-fifths rule) with the significance of the
gap, and, where labels exist, TPR, FPR and AUC (MLlib's BinaryClassificationEvaluator); per attribute, the
demographic-parity and equalised-odds differences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.c360.features import age_band, band_of_age
from pmkt.libs.config import FairnessConfig
from pmkt.libs.errors import MissingInput
from pmkt.libs.frames import one, union_all
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger

log = get_logger(__name__)
SILVER = "_silver_"  # prefix of silver.customers' attributes while both sources are counted
SCHEMA = (
    "run_id string, decision string, attribute string, group string, customers long, selected long, "
    "selection_rate double, disparate_impact double, parity_difference double, tpr double, fpr double, "
    "auc double, equalised_odds_difference double, flagged boolean, reason string, p_value double"
)


def admitted(features: Sequence[str], cfg: FairnessConfig, model: str) -> tuple[str, ...]:
    """A model's features without the protected attributes, unless the conf re-admits them (with a warning)."""
    protected = [f for f in features if f in cfg.protected]
    if protected and cfg.allow_protected_features:
        log.warning(
            "%s uses protected attribute(s) %s as features (fairness.allow_protected_features)",
            model,
            ", ".join(protected),
        )
        return tuple(features)
    if protected:
        log.info("%s: protected attribute(s) %s left out of the features", model, ", ".join(protected))
    return tuple(f for f in features if f not in cfg.protected)


def groups(lake: Lake, cfg: FairnessConfig) -> tuple[DataFrame, list[str]]:
    """Each customer's audited attributes, and which of fairness.groups they are.

    The rows are the customers of the latest gold.customer_features snapshot or, without one (a labelled
    customer table alone has no feature snapshots), silver.customers'. An attribute is read from the snapshot
    where it is a column there, else from silver.customers, so an extra column of the customer export (a
    senior-citizen flag, say) can be a group too; `age_band` comes from `birth_date` as of today there, or from an
    `age` column in years. A snapshot column no customer has a value for (the age band of an export with an age
    but no birth date) is read from silver.customers too. An attribute no customer has a value for is left out.
    """
    features = lake.latest_rows(tables.CUSTOMER_FEATURES)
    customers = _customers(lake)
    base = features if features is not None else customers
    if base is None:
        raise MissingInput("fairness needs gold.customer_features or silver.customers: run ingest first")
    in_features = [g for g in cfg.groups if features is not None and g in features.columns]
    in_customers = [g for g in cfg.groups if customers is not None and g in customers.columns]
    # One aggregation says which attributes have values, in the snapshot and in silver.customers alike.
    probe = base.select("customer_id", *in_features)
    if customers is not None and in_customers:
        silver = customers.select("customer_id", *[F.col(g).alias(SILVER + g) for g in in_customers])
        probe = probe.join(silver, on="customer_id", how="left")
    counted = [*in_features, *[SILVER + g for g in in_customers]]
    counts = one(probe.agg(*[F.count(c).alias(c) for c in counted])).asDict() if counted else {}
    from_features = [g for g in in_features if counts[g]]
    from_customers = [g for g in in_customers if g not in from_features and counts[SILVER + g]]
    empty = [g for g in cfg.groups if g in in_features + in_customers and g not in from_features + from_customers]
    if empty:
        log.info("fairness: no customer has a value for %s: not audited", ", ".join(empty))
    rows = base.select("customer_id", *from_features)
    if customers is not None and from_customers:
        rows = rows.join(customers.select("customer_id", *from_customers), on="customer_id", how="left")
    return rows, [g for g in cfg.groups if g in from_features or g in from_customers]


def _customers(lake: Lake) -> DataFrame | None:
    """silver.customers with `age_band` as of today: from the birth date, else from an `age` column in years
    (an export's age, as many labelled customer tables give it)."""
    if not lake.exists(tables.SILVER["customers"]):
        return None
    customers = lake.read(tables.SILVER["customers"])
    age = next((c for c in customers.columns if c.lower() == "age"), None)  # an extra column keeps its file's name
    bands = [age_band(F.col("birth_date"), F.current_date())] if "birth_date" in customers.columns else []
    bands += [band_of_age(F.floor(F.col(age).cast("double")))] if age else []
    if bands and "age_band" not in customers.columns:
        customers = customers.withColumn("age_band", F.coalesce(*bands))
    return customers


def decisions(lake: Lake, cfg: FairnessConfig, people: DataFrame) -> list[tuple[str, DataFrame]]:
    """Every decision there is to audit: each planned campaign's selection, each past campaign's contacts,
    churn's high-risk band, propensity's top share. `people` (customer_id) is the population a past
    campaign's contacts are a share of: the rows of `groups`."""
    out: list[tuple[str, DataFrame]] = []
    if lake.exists(tables.CAMPAIGN_PLAN) and lake.exists(tables.CUSTOMER_FEATURES):
        plan = lake.read(tables.CAMPAIGN_PLAN)
        day = one(plan.agg(F.max("snapshot_date")))[0]
        population = lake.read_snapshot(tables.CUSTOMER_FEATURES, day).select("customer_id")
        out += _selections("campaign", population, plan.where(F.col("group") == "treatment"))
    if lake.exists(tables.SILVER["campaign_contacts"]):
        # Control customers were selected too, then held out at random: the selection is everyone contacted.
        out += _selections("contacts", people.select("customer_id"), lake.read(tables.SILVER["campaign_contacts"]))
    churn = lake.latest_rows(tables.CHURN_SCORES)
    if churn is not None:
        out.append(("churn high risk", _churn(lake, churn)))
    scores = lake.latest_rows(tables.PROPENSITY_SCORES)
    if scores is not None:
        top = F.percent_rank().over(Window.partitionBy("category").orderBy(F.desc("probability")))
        out.append(
            (
                "propensity top share",
                scores.select(
                    "customer_id",
                    (top < cfg.propensity_top_share).alias("selected"),
                    F.lit(None).cast("boolean").alias("label"),
                    F.col("probability").alias("score"),
                ),
            )
        )
    return out


def _selections(kind: str, population: DataFrame, chosen: DataFrame) -> list[tuple[str, DataFrame]]:
    """One decision per campaign id in `chosen`: who of `population` it selected."""
    out = []
    for (campaign,) in chosen.select("campaign_id").distinct().orderBy("campaign_id").collect():  # few campaigns
        picked = chosen.where(F.col("campaign_id") == campaign).select("customer_id", F.lit(True).alias("s"))
        selected = population.join(picked.distinct(), on="customer_id", how="left")
        out.append(
            (
                f"{kind} {campaign}",
                selected.select(
                    "customer_id",
                    F.coalesce(F.col("s"), F.lit(False)).alias("selected"),
                    F.lit(None).cast("boolean").alias("label"),
                    F.lit(None).cast("double").alias("score"),
                ),
            )
        )
    return out


def _churn(lake: Lake, scores: DataFrame) -> DataFrame:
    """High-risk band of the latest churn `scores` as the selection; a supplied churn label
    (silver.customers.churn_label) where there is one."""
    labels = None
    if lake.exists(tables.SILVER["customers"]) and "churn_label" in lake.read(tables.SILVER["customers"]).columns:
        labels = lake.read(tables.SILVER["customers"]).select("customer_id", F.col("churn_label").alias("label"))
    frame = (
        scores.join(labels, on="customer_id", how="left")
        if labels is not None
        else scores.withColumn("label", F.lit(None).cast("boolean"))
    )
    return frame.select(
        "customer_id", (F.col("risk_band") == "high").alias("selected"), "label", F.col("probability").alias("score")
    )


@dataclass(frozen=True)
class GroupStats:
    group: str
    customers: int
    selected: int
    positives: int
    negatives: int
    true_pos: int
    false_pos: int
    auc: float | None

    @property
    def rate(self) -> float:
        return self.selected / self.customers if self.customers else 0.0

    @property
    def tpr(self) -> float | None:
        return self.true_pos / self.positives if self.positives else None

    @property
    def fpr(self) -> float | None:
        return self.false_pos / self.negatives if self.negatives else None


def group_stats(
    decisions: Sequence[tuple[str, DataFrame]], groups: DataFrame, attributes: Sequence[str]
) -> dict[tuple[str, str], list[GroupStats]]:
    """Counts per (decision, attribute, group value) in one aggregation, plus AUC where labels exist.

    Every decision and attribute goes through the same query: one pass instead of one per pair, since
    each pass pays Spark's fixed cost. The result is bounded by decisions x attributes x group values.
    """
    tagged = union_all(
        [
            frame.select(F.lit(name).alias("_decision"), "customer_id", "selected", "label", "score")
            for name, frame in decisions
        ]
    )
    by_attribute = F.array(
        *[
            F.struct(
                F.lit(a).alias("_attribute"), F.coalesce(F.col(a).cast("string"), F.lit("unknown")).alias("_group")
            )
            for a in attributes
        ]
    )
    long = groups.select("customer_id", F.explode(by_attribute).alias("_g")).select("customer_id", "_g.*")
    joined = tagged.join(long, on="customer_id", how="inner").cache()
    counts = (
        joined.groupBy("_decision", "_attribute", "_group")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum(F.col("selected").cast("int")).alias("sel"),
            F.sum((F.col("label") == True).cast("int")).alias("pos"),  # noqa: E712 - a Spark column, not a bool
            F.sum((F.col("label") == False).cast("int")).alias("neg"),  # noqa: E712
            F.sum((F.col("selected") & F.col("label")).cast("int")).alias("tp"),
            F.sum((F.col("selected") & ~F.col("label")).cast("int")).alias("fp"),
        )
        .orderBy("_decision", "_attribute", "_group")
        .collect()  # one row per decision, attribute and group value
    )
    out: dict[tuple[str, str], list[GroupStats]] = {(name, a): [] for name, _ in decisions for a in attributes}
    for r in counts:
        pos, neg = int(r["pos"] or 0), int(r["neg"] or 0)
        auc = None
        if pos and neg:
            cell = (F.col("_decision") == r["_decision"]) & (F.col("_attribute") == r["_attribute"])
            labelled = joined.where(
                cell & (F.col("_group") == r["_group"]) & F.col("label").isNotNull() & F.col("score").isNotNull()
            )
            auc = BinaryClassificationEvaluator(rawPredictionCol="score", labelCol="y").evaluate(
                labelled.select("score", F.col("label").cast("double").alias("y"))
            )
        out[(r["_decision"], r["_attribute"])].append(
            GroupStats(
                r["_group"], int(r["n"]), int(r["sel"] or 0), pos, neg, int(r["tp"] or 0), int(r["fp"] or 0), auc
            )
        )
    joined.unpersist()
    return out


def audit_rows(
    run_id: str, decision: str, attribute: str, stats: Sequence[GroupStats], cfg: FairnessConfig
) -> list[tuple]:
    """One row per group, with the attribute-level parity and equalised-odds differences repeated on each."""
    judged = [s for s in stats if s.customers >= cfg.min_group_size]
    best = max((s.rate for s in judged), default=0.0)
    parity = (best - min(s.rate for s in judged)) if judged else None
    alpha = cfg.significance / max(1, len(judged))  # Bonferroni over the groups tested
    selected, customers = sum(s.selected for s in stats), sum(s.customers for s in stats)
    p_value = {
        s.group: two_proportion_p(s.selected, s.customers, selected - s.selected, customers - s.customers)
        for s in judged
    }
    worst = min(judged, key=lambda s: s.rate, default=None)  # the parity gap is charged to the least selected
    tprs = [s.tpr for s in judged if s.tpr is not None]
    fprs = [s.fpr for s in judged if s.fpr is not None]
    odds = max(max(tprs) - min(tprs), max(fprs) - min(fprs)) if len(tprs) > 1 and len(fprs) > 1 else None
    rows = []
    for s in stats:
        impact = s.rate / best if best else None
        reasons = []
        significant = s in judged and p_value[s.group] < alpha
        if significant and impact is not None and impact < cfg.min_disparate_impact:
            reasons.append(f"disparate impact {impact:.2f} < {cfg.min_disparate_impact}")
        if s is worst and significant and parity is not None and parity > cfg.max_parity_difference:
            reasons.append(f"parity difference {parity:.2f} > {cfg.max_parity_difference}")
        if s in judged and odds is not None and odds > cfg.max_equalised_odds_difference:
            reasons.append(f"equalised-odds difference {odds:.2f} > {cfg.max_equalised_odds_difference}")
        if s not in judged:
            reasons.append(f"fewer than {cfg.min_group_size} customers: not judged")
        flagged = s in judged and len(reasons) > 0
        rows.append(
            (
                run_id,
                decision,
                attribute,
                s.group,
                s.customers,
                s.selected,
                s.rate,
                impact,
                parity,
                s.tpr,
                s.fpr,
                s.auc,
                odds,
                flagged,
                "; ".join(reasons) or None,
                p_value.get(s.group),
            )
        )
    return rows


def two_proportion_p(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    """Two-sided p-value of a pooled two-proportion z-test (1.0 when either side is empty or nothing varies)."""
    if not n_a or not n_b:
        return 1.0
    pooled = (hits_a + hits_b) / (n_a + n_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if spread == 0:
        return 1.0
    return math.erfc(abs(hits_a / n_a - hits_b / n_b) / spread / math.sqrt(2))
