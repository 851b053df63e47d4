"""Next best offer: candidate offers, expected profit, control groups, frequency cap, capacity and budget."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pmkt.libs.config import CampaignSpec, ChannelConfig, CtrConfig
from pmkt.libs.ctr import model as ctr_model
from pmkt.libs.frames import union_all
from pmkt.libs.uplift import model as uplift_model

OFFER = ("customer_id", "offer_type", "product_id", "category", "value", "offer_reason")
CTR_INPUTS = ("top_category", "mobile_share", "preferred_hour")  # the customer's columns P(click) reads
PRIORITY = "priority"  # what a campaign with `targeting: explore` is ranked by: a random number in (0, 1]
SCORES = ("p_convert", "uplift", ctr_model.P_CLICK, "expected_profit")  # all null when exploring


def control_draw(campaign_id: str, salt: str = "control", *more: Column) -> Column:
    """A uniform number in [0, 1) from (customer, campaign) alone: the same split on every re-run. Another
    `salt` (and `more` columns) gives a draw independent of the control split."""
    key = F.xxhash64(F.lit(salt), F.lit(campaign_id), F.col("customer_id"), *more)
    return (F.abs(key) % 1_000_000) / 1_000_000.0


def ranked_by(spec: CampaignSpec) -> str:
    """The column a campaign's treated customers are chosen by, highest first (while positive)."""
    return PRIORITY if spec.targeting == "explore" else "expected_profit"


def offers(
    recommendations: DataFrame | None,
    cross_sell: DataFrame | None,
    propensity: DataFrame | None,
    products: DataFrame,
    per_source: int,
    types: tuple[str, ...],
) -> DataFrame:
    """Candidate offers with their value to us if the customer converts: price x margin for a product,
    the category's mean of that for a category offer."""
    value = F.col("price") * F.col("margin")
    catalogue = products.where(F.coalesce(F.col("active"), F.lit(True))).select(
        "product_id", "category", value.alias("value")
    )
    parts = []
    for kind, source in (("product", recommendations), ("cross_sell", cross_sell)):
        if kind in types and source is not None:
            top = source.where(F.col("rank") <= per_source).select(
                "customer_id", "product_id", F.col("reason").alias("offer_reason")
            )
            parts.append(
                top.join(catalogue, on="product_id", how="inner").select(
                    "customer_id", F.lit(kind).alias("offer_type"), "product_id", "category", "value", "offer_reason"
                )
            )
    if "category" in types and propensity is not None:
        by_category = catalogue.groupBy("category").agg(F.avg("value").alias("value"))
        order = Window.partitionBy("customer_id").orderBy(F.desc("probability"), "category")
        top = propensity.withColumn("_n", F.row_number().over(order)).where(F.col("_n") <= per_source)
        parts.append(
            top.join(F.broadcast(by_category), on="category", how="inner").select(
                "customer_id",
                F.lit("category").alias("offer_type"),
                F.lit(None).cast("string").alias("product_id"),
                "category",
                "value",
                F.concat(F.lit("likely to buy "), F.col("category"), F.lit(" soon")).alias("offer_reason"),
            )
        )
    if not parts:
        return catalogue.sparkSession.createDataFrame(
            [],
            "customer_id string, offer_type string, product_id string, category string, value double, offer_reason "
            "string",
        )
    return union_all(parts)


def options(offer_rows: DataFrame, channels: dict[str, ChannelConfig]) -> DataFrame:
    """Every offer on every channel of the campaign, with the channel's contact cost."""
    costs = offer_rows.sparkSession.createDataFrame(
        [(name, float(c.cost)) for name, c in channels.items()], "channel string, contact_cost double"
    )
    return offer_rows.crossJoin(F.broadcast(costs))


def _typed(rows: DataFrame, numeric: tuple[str, ...], categorical: tuple[str, ...]) -> DataFrame:
    """`rows` with a model's feature columns cast as it was trained on them."""
    typed = rows.select(
        "*",
        *[F.col(c).cast("double").alias(f"_in_{c}") for c in numeric],
        *[F.col(c).cast("string").alias(f"_in_{c}") for c in categorical],
    )
    for c in (*numeric, *categorical):
        typed = typed.drop(c).withColumnRenamed(f"_in_{c}", c)
    return typed


def convert_probability(
    model: PipelineModel, rows: DataFrame, numeric: tuple[str, ...], categorical: tuple[str, ...]
) -> DataFrame:
    """P(convert | contact) from the response model; `rows` need its feature columns (offer_category
    is the offer's category)."""
    typed = _typed(rows, numeric, categorical)
    return model.transform(typed).select(*typed.columns, vector_to_array(F.col("_probability"))[1].alias("p_convert"))


def best_offer(scored: DataFrame, targeting: str = "response") -> DataFrame:
    """Each customer's single best (offer, channel) by expected profit: P(convert) x value - contact cost, or
    with `targeting` uplift, the expected incremental profit, uplift x value - contact cost."""
    gain = F.col("uplift") if targeting == "uplift" else F.col("p_convert")
    profit = gain * F.col("value") - F.col("contact_cost")
    order = Window.partitionBy("customer_id").orderBy(
        F.desc("expected_profit"), "channel", "offer_type", F.col("product_id").asc_nulls_last(), "category"
    )
    ranked = scored.withColumn("expected_profit", profit).withColumn("_n", F.row_number().over(order))
    return ranked.where(F.col("_n") == 1).drop("_n")


@dataclass(frozen=True)
class Scorer:
    """A saved classifier and the features it reads (from the model's metadata)."""

    model: PipelineModel
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]


def best_offers(
    people: DataFrame,
    candidates: DataFrame,
    channels: dict[str, ChannelConfig],
    response: Scorer,
    uplift: tuple[Scorer, str] | None = None,
    targeting: str = "response",
    ctr: tuple[PipelineModel, CtrConfig] | None = None,
) -> DataFrame:
    """Each of `people`'s best (offer, channel), scored by the response model and, when there is one, the uplift
    model (with its method), ranked by `targeting`; then P(click) of the chosen one by the CTR model, sent at
    the customer's preferred hour (`people` come from gold.customer_features, which has the columns it reads).
    The models' features are the customer's (where the profile has them), the offer's category and the
    customer's share of spend in it."""
    wanted = [*response.numeric, *(uplift[0].numeric if uplift else ())]
    wanted += list(CTR_INPUTS) if ctr else []
    known = [c for c in dict.fromkeys(wanted) if c in people.columns]  # offer_category_share comes with the offer
    rows = options(
        people.select("customer_id", "group", "segment_name", "category_shares", *known).join(
            candidates, on="customer_id", how="inner"
        ),
        channels,
    )
    share = F.coalesce(F.element_at("category_shares", F.col("category")), F.lit(0.0))
    rows = rows.withColumn("offer_category", F.col("category")).withColumn("offer_category_share", share)
    scored = convert_probability(response.model, rows, response.numeric, response.categorical)
    if uplift is None:
        scored = scored.withColumn("uplift", F.lit(None).cast("double"))
    else:
        scorer, method = uplift
        scored = uplift_model.score(scorer.model, method, _typed(scored, scorer.numeric, scorer.categorical))
    best = best_offer(scored, targeting)
    if ctr is None:
        return best.withColumn(ctr_model.P_CLICK, F.lit(None).cast("double"))
    fitted, cfg = ctr
    return ctr_model.score(fitted, ctr_model.features(best, F.col("preferred_hour"), cfg))


def explore_offers(
    people: DataFrame, candidates: DataFrame, channels: dict[str, ChannelConfig], spec: CampaignSpec
) -> DataFrame:
    """Each of `people`'s (offer, channel) drawn at random from their candidates, with a random `priority`: a first
    campaign planned without a response model. Its contacts, every offer type and channel tried on customers chosen
    at random, are what the response, uplift and CTR models then learn from. The scores are null."""
    rows = options(
        people.select("customer_id", "group", "segment_name").join(candidates, on="customer_id", how="inner"),
        channels,
    )
    option = [F.col(c).cast("string") for c in ("offer_type", "product_id", "category", "channel")]
    order = Window.partitionBy("customer_id").orderBy(
        control_draw(spec.id, "explore-offer", *option), "channel", "offer_type", F.col("product_id").asc_nulls_last()
    )
    drawn = rows.withColumn("_n", F.row_number().over(order)).where(F.col("_n") == 1).drop("_n")
    nulls = [F.lit(None).cast("double").alias(c) for c in SCORES]
    return drawn.select("*", *nulls, (1.0 - control_draw(spec.id, "explore-order")).alias(PRIORITY))


def within_limits(best: DataFrame, spec: CampaignSpec, channels: dict[str, ChannelConfig]) -> DataFrame:
    """Treated customers, highest expected profit (or, exploring, priority) first, while it is positive, each
    channel has capacity left and the budget covers the contact. A customer whose best channel is full is not
    moved to another channel.

    The running budget total needs one ordered pass over the campaign's candidates (one partition).
    """
    by = ranked_by(spec)
    capacity = F.create_map(*[F.lit(x) for name, c in channels.items() for x in (name, c.capacity)])
    in_channel = F.row_number().over(Window.partitionBy("channel").orderBy(F.desc(by), "customer_id"))
    fits = best.where(F.col(by) > 0).withColumn("_c", in_channel).where(F.col("_c") <= capacity[F.col("channel")])
    spent = F.sum("contact_cost").over(
        Window.orderBy(F.desc(by), "customer_id").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    return fits.withColumn("_spent", spent).where(F.col("_spent") <= F.lit(spec.budget)).drop("_c", "_spent")


def capped(recent_contacts: DataFrame, max_contacts: int) -> DataFrame:
    """Customers already at the frequency cap."""
    return (
        recent_contacts.groupBy("customer_id")
        .agg(F.count(F.lit(1)).alias("n"))
        .where(F.col("n") >= max_contacts)
        .select("customer_id")
    )
