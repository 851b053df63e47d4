"""Fact tables derived from the world: events, order lines (with planted rules), campaigns and contacts."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pmkt.libs.synth import profiles as P
from pmkt.libs.synth.world import World

EVENT_GAP_SECONDS = 10


def events(views: DataFrame, rule_lines: DataFrame) -> DataFrame:
    """Funnel events per view (view, click, add_to_cart, purchase) plus purchases added by planted rules."""
    kinds = F.array_compact(
        F.array(
            F.lit("view"),
            F.when(F.col("clicked"), F.lit("click")),
            F.when(F.col("carted"), F.lit("add_to_cart")),
            F.when(F.col("purchased"), F.lit("purchase")),
        )
    )
    funnel = views.select(
        "session_id",
        "customer_id",
        "product_id",
        "device",
        "view_ts",
        "v",
        F.posexplode(kinds).alias("pos", "event_type"),
    ).select(
        F.concat(
            F.lit("E"),
            F.col("session_id"),
            F.lit("-"),
            F.col("v").cast("string"),
            F.lit("-"),
            F.col("pos").cast("string"),
        ).alias("event_id"),
        "customer_id",
        "product_id",
        "event_type",
        (F.col("view_ts") + F.make_interval(secs=F.col("pos") * EVENT_GAP_SECONDS)).alias("event_ts"),
        "device",
        "session_id",
    )
    planted = rule_lines.select(
        F.concat(F.lit("E"), F.col("session_id"), F.lit("-"), F.col("line_id")).alias("event_id"),
        "customer_id",
        "product_id",
        F.lit("purchase").alias("event_type"),
        F.col("order_ts").alias("event_ts"),
        "device",
        "session_id",
    )
    return funnel.unionByName(planted)


def order_lines(world: World, views: DataFrame, products: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Order lines from purchased views, plus lines added by the planted co-purchase rules."""
    r = world.rng
    key = (F.col("cid"), F.col("s"), F.col("v"))
    prices = F.broadcast(products.select("pid", "price"))
    bought = (
        views.where(F.col("purchased"))
        .join(prices, on="pid", how="left")
        .select(
            F.concat(F.lit("O-"), F.col("session_id")).alias("order_id"),
            F.col("v").cast("string").alias("line_id"),
            "customer_id",
            "session_id",
            "device",
            "pid",
            "product_id",
            (F.col("ts") + F.expr("INTERVAL 20 MINUTES")).alias("order_ts"),
            (1 + (r.uniform("qty", *key) < 0.2).cast("int") + (r.uniform("qty2", *key) < 0.05).cast("int")).alias(
                "quantity"
            ),
            F.col("price").alias("unit_price"),
            "cid",
        )
    )
    rules = F.broadcast(
        world.spark.createDataFrame(
            [(i, _pid(world, ca, ra), _pid(world, cb, rb), conf) for i, (ca, ra, cb, rb, conf) in enumerate(P.RULES)],
            "rule int, a_pid long, b_pid long, confidence double",
        )
    )
    added = (
        bought.join(rules, on=bought["pid"] == rules["a_pid"], how="inner")
        .where(r.uniform("rule_fires", F.col("order_id"), F.col("rule")) < F.col("confidence"))
        .select(
            "order_id",
            F.concat(F.lit("R"), F.col("rule").cast("string")).alias("line_id"),
            "customer_id",
            "session_id",
            "device",
            F.col("b_pid").alias("pid"),
            world.product_id(F.col("b_pid")).alias("product_id"),
            "order_ts",
            F.lit(1).alias("quantity"),
            "cid",
        )
        .join(prices, on="pid", how="left")
        .withColumnRenamed("price", "unit_price")
        .dropDuplicates(["order_id", "line_id"])  # an order holding the antecedent twice fires the rule once
    )
    lines = bought.unionByName(added)
    return lines, added


def rule_truth(world: World, lines: DataFrame) -> DataFrame:
    """Planted rules with their confidence and lift as realised in the clean order lines."""
    baskets = lines.select("order_id", "product_id").distinct()
    truth = world.spark.createDataFrame(
        [(i, _pid(world, ca, ra), _pid(world, cb, rb), conf) for i, (ca, ra, cb, rb, conf) in enumerate(P.RULES)],
        "rule int, a long, b long, planted_confidence double",
    ).select(
        "rule",
        world.product_id(F.col("a")).alias("antecedent"),
        world.product_id(F.col("b")).alias("consequent"),
        "planted_confidence",
    )
    # Same basket definition as the miner: distinct products per order, every order counted.
    has = baskets.groupBy("order_id").agg(F.collect_set("product_id").alias("items"))
    total = has.count()  # one number
    stats = (
        has.crossJoin(F.broadcast(truth))
        .groupBy("rule", "antecedent", "consequent", "planted_confidence")
        .agg(
            F.sum(F.array_contains("items", F.col("antecedent")).cast("int")).alias("n_a"),
            F.sum(F.array_contains("items", F.col("consequent")).cast("int")).alias("n_b"),
            F.sum(
                (F.array_contains("items", F.col("antecedent")) & F.array_contains("items", F.col("consequent"))).cast(
                    "int"
                )
            ).alias("n_ab"),
        )
    )
    return stats.select(
        "antecedent",
        "consequent",
        "planted_confidence",
        (F.col("n_ab") / F.lit(total)).alias("support"),
        (F.col("n_ab") / F.col("n_a")).alias("confidence"),
        ((F.col("n_ab") / F.col("n_a")) / (F.col("n_b") / F.lit(total))).alias("lift"),
        "n_a",
        "n_b",
        "n_ab",
        F.lit(total).alias("n_baskets"),
    )


def campaign_id(index: int) -> str:
    """The id of the campaign at `index` of profiles.CAMPAIGNS."""
    return f"CMP{index + 1:02d}"


def campaigns(world: World) -> DataFrame:
    rows = []
    for i, c in enumerate(P.CAMPAIGNS):
        start = _month(world.start, c.start_month)
        if start >= world.end:
            continue
        end = start + dt.timedelta(days=c.days)
        rows.append((campaign_id(i), c.name, c.channel, start, end, c.offer_category, c.cost))
    return world.spark.createDataFrame(
        rows,
        "campaign_id string, campaign_name string, channel string, start_date date, end_date date, offer_category "
        "string, cost_per_contact double",
    )


def bias_truth(world: World, campaign_df: DataFrame) -> DataFrame:
    """The planted biased selection (none when `generate.plant_bias` is off or the campaign is past the end)."""
    b = P.BIAS
    rows = [(campaign_id(b.campaign), b.attribute, b.group, b.reach_factor)] if world.cfg.plant_bias else []
    truth = world.spark.createDataFrame(rows, "campaign_id string, attribute string, group string, reach_factor double")
    return truth.join(campaign_df.select("campaign_id"), on="campaign_id", how="inner")


def uplift_truth(world: World, campaign_df: DataFrame) -> DataFrame:
    rows = [
        (campaign_id(i), s, a.name, c.uplift[s])
        for i, c in enumerate(P.CAMPAIGNS)
        for s, a in enumerate(world.archetypes)
    ]
    truth = world.spark.createDataFrame(rows, "campaign_id string, segment int, segment_name string, uplift double")
    return truth.join(campaign_df.select("campaign_id"), on="campaign_id", how="inner")


def taste_categories() -> tuple[Column, Column]:
    """The categories of a customer's two taste clusters (clusters are numbered category by category)."""
    names = F.array(*[F.lit(c) for c in P.CATEGORIES])

    def category(cluster: str) -> Column:
        return F.element_at(names, F.floor(F.col(cluster) / P.TASTE_CLUSTERS_PER_CATEGORY).cast("int") + 1)

    return category("taste_a"), category("taste_b")


def click_logit(sent: Column) -> Column:
    """The planted log-odds of a click on an opened contact (profiles.CLICK), from the customer's tastes and
    device, the offer's category, the channel and the hour it was sent."""
    c = P.CLICK
    first, second = taste_categories()
    likes = (F.col("offer_category") == first) | (F.col("offer_category") == second)
    channel = F.coalesce(F.create_map(*[F.lit(x) for kv in c.channel for x in kv])[F.col("channel")], F.lit(0.0))
    evening = F.hour(sent).between(*c.evening_hours)
    on_phone = (F.col("p_mobile") > c.phone_share) & F.col("channel").isin("sms", "push")
    return (
        F.lit(c.base)
        + F.when(likes, c.affinity).otherwise(0.0)
        + channel
        + F.when(evening, c.evening).otherwise(0.0)
        + F.when(on_phone, c.phone).otherwise(0.0)
    )


def contacts(world: World, customers: DataFrame, campaign_df: DataFrame) -> DataFrame:
    """Campaign contacts with a random control group; conversion = base rate + planted uplift if treated."""
    r = world.rng
    key = (F.col("cid"), F.col("campaign_id"))
    uplift = F.broadcast(uplift_truth(world, campaign_df).select("campaign_id", "segment", "uplift"))
    days = F.datediff(F.col("end_date"), F.col("start_date"))
    treated = F.col("group") == "treatment"
    opened = treated & (
        r.uniform("open", *key)
        < F.element_at(F.create_map(*[F.lit(x) for kv in P.OPEN_RATE.items() for x in kv]), F.col("channel"))
    )
    p_convert = F.col("p_base_conv") + F.when(treated, F.col("uplift")).otherwise(0.0)
    sent = F.timestamp_seconds(
        F.unix_timestamp(F.col("start_date").cast("timestamp")) + F.floor(r.uniform("sent", *key) * days * 86400)
    )
    bias = P.BIAS
    under_selected = (
        (F.col("campaign_id") == F.lit(campaign_id(bias.campaign)))
        & (F.col(bias.attribute) == F.lit(bias.group))
        & F.lit(world.cfg.plant_bias)
    )
    return (
        customers.where(F.col("consent") & (F.col("signup_date") <= F.lit(world.end)))
        .select("cid", "customer_id", "segment", "p_base_conv", "taste_a", "taste_b", "p_mobile", bias.attribute)
        .crossJoin(F.broadcast(campaign_df))
        .where(r.uniform("reach", *key) < P.CAMPAIGN_REACH)
        .where(~under_selected | (r.uniform("bias", *key) < bias.reach_factor))
        .join(uplift, on=["campaign_id", "segment"], how="left")
        .withColumn("_click_logit", click_logit(sent))
        .withColumn(
            "group",
            F.when(r.uniform("control", *key) < P.CONTROL_SHARE, F.lit("control")).otherwise(F.lit("treatment")),
        )
        .select(
            F.concat(F.col("campaign_id"), F.lit("-"), F.col("customer_id")).alias("contact_id"),
            "campaign_id",
            "customer_id",
            "channel",
            sent.alias("sent_ts"),
            "group",
            opened.alias("opened"),
            (opened & (r.uniform("click", *key) < 1 / (1 + F.exp(-F.col("_click_logit"))))).alias("clicked"),
            (r.uniform("convert", *key) < p_convert).alias("converted"),
            F.when(treated, F.col("cost_per_contact")).otherwise(0.0).alias("cost"),
            "cid",
        )
        .withColumn(
            "revenue",
            F.when(
                F.col("converted"),
                F.round(40.0 * F.exp(0.4 * r.normal("revenue", F.col("cid"), F.col("campaign_id"))), 2),
            ).otherwise(0.0),
        )
        .drop("cid")
    )


def _pid(world: World, category: str, rank: int) -> int:
    """Product id of the item at popularity `rank` in `category` (negative: from the least popular)."""
    if rank < 0:
        rank += world.per_cat
    return rank * world.n_cat + P.CATEGORIES.index(category)


def _month(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    return dt.date(day.year + month // 12, month % 12 + 1, 1)
