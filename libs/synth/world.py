"""Clean synthetic tables with planted truth: customers, products, sessions, events, orders, campaigns."""

from __future__ import annotations

import datetime as dt
import math

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs.config import GenerateConfig
from pmkt.libs.synth import profiles as P
from pmkt.libs.synth.rand import Rng

AFFINITY_SHARE = 0.75  # views drawn from the customer's two taste clusters; the rest follow popularity
CHURN_DECAY_DAYS = 90
SECONDS_PER_VIEW = 40


class World:
    """Builds every clean table from one `GenerateConfig`; all draws are keyed hashes of the seed."""

    def __init__(self, spark: SparkSession, config: GenerateConfig) -> None:
        self.spark, self.cfg, self.rng = spark, config, Rng(config.seed)
        self.archetypes = P.ARCHETYPES[: config.segments]
        self.n_cat = len(P.CATEGORIES)
        self.per_cat = config.products // self.n_cat
        self.n_products = self.per_cat * self.n_cat
        self.start = dt.date.fromisoformat(config.start_date)
        self.end = _add_months(self.start, config.months)

    # -- helpers -------------------------------------------------------------------------------
    def _arr(self, values: tuple[str, ...]) -> Column:
        return F.array(*[F.lit(v) for v in values])

    def _segment_params(self) -> DataFrame:
        rows = [
            (
                i,
                a.name,
                a.sessions,
                a.views,
                a.click,
                a.cart,
                a.buy,
                *a.price_tier,
                a.mobile,
                a.churn,
                a.base_conversion,
            )
            for i, a in enumerate(self.archetypes)
        ]
        cols = (
            "segment",
            "segment_name",
            "p_sessions",
            "p_views",
            "p_click",
            "p_cart",
            "p_buy",
            "p_budget",
            "p_mid",
            "p_premium",
            "p_mobile",
            "p_churn",
            "p_base_conv",
        )
        return F.broadcast(self.spark.createDataFrame(rows, list(cols)))

    def product_id(self, pid: Column) -> Column:
        return F.concat(F.lit("P"), F.lpad(pid.cast("string"), 5, "0"))

    # -- dimensions ----------------------------------------------------------------------------
    def products(self) -> DataFrame:
        r, tpc = self.rng, P.TASTE_CLUSTERS_PER_CATEGORY
        base = self.spark.range(self.n_products, numPartitions=2).select(F.col("id").alias("pid"))
        cat_idx = F.col("pid") % self.n_cat
        rank = F.floor(F.col("pid") / self.n_cat)
        price_base = F.element_at(
            F.array(*[F.lit(P.CATEGORY_PRICE[c]) for c in P.CATEGORIES]), (cat_idx + 1).cast("int")
        )
        tier = (F.floor(rank / tpc) % 3).cast("int")
        words = F.split(
            F.element_at(self._arr(tuple(P.CATEGORY_WORDS[c] for c in P.CATEGORIES)), (cat_idx + 1).cast("int")), " "
        )
        stems = self._arr(("Nova", "Apex", "Orbit", "Luma", "Terra"))
        return base.select(
            F.col("pid"),
            self.product_id(F.col("pid")).alias("product_id"),
            F.element_at(self._arr(P.CATEGORIES), (cat_idx + 1).cast("int")).alias("category"),
            (cat_idx * tpc + rank % tpc).cast("int").alias("taste_cluster"),
            tier.alias("tier"),
            F.concat_ws(
                " ",
                r.pick("brand", stems, F.col("pid")),
                F.initcap(F.element_at(self._arr(P.CATEGORIES), (cat_idx + 1).cast("int"))),
            ).alias("brand"),
            F.round(
                price_base
                * F.element_at(F.array(*map(F.lit, P.TIER_PRICE)), tier + 1)
                * F.exp(0.2 * r.normal("price", F.col("pid"))),
                2,
            ).alias("price"),
            F.round(
                F.element_at(F.array(*map(F.lit, P.TIER_MARGIN)), tier + 1) + 0.03 * r.normal("margin", F.col("pid")), 3
            ).alias("margin"),
            F.concat_ws(
                " ",
                r.pick("adj", self._arr(P.ADJECTIVES), F.col("pid")),
                F.element_at(self._arr(P.TIER_NAMES), tier + 1),
                F.element_at(self._arr(P.STYLES), (rank % tpc + 1).cast("int")),
                r.pick("w1", words, F.col("pid")),
                r.pick("w2", words, F.col("pid")),
                r.pick("w3", words, F.col("pid")),
            ).alias("description"),
            (r.uniform("active", F.col("pid")) > 0.03).alias("active"),
        ).withColumn(
            "product_name",
            F.concat_ws(
                " ",
                F.col("brand"),
                F.element_at(F.split(F.col("description"), " "), 1),
                F.element_at(F.split(F.col("description"), " "), 3),
            ),
        )

    def customers(self) -> DataFrame:
        r, k = self.rng, len(self.archetypes)
        cid = F.col("cid")
        n_clusters = self.n_cat * P.TASTE_CLUSTERS_PER_CATEGORY
        span = (self.end - self.start).days
        first = r.pick("first", self._arr(P.FIRST_NAMES), cid)
        last = r.pick("last", self._arr(P.LAST_NAMES), cid)
        taste_a = F.floor(r.uniform("taste_a", cid) * n_clusters).cast("int")
        before = r.uniform("signup_when", cid) < 0.7
        signup = F.when(
            before, F.date_sub(F.lit(self.start), F.floor(r.uniform("signup", cid) * 720).cast("int"))
        ).otherwise(F.date_add(F.lit(self.start), F.floor(r.uniform("signup", cid) * span * 0.8).cast("int")))
        base = self.spark.range(self.cfg.customers, numPartitions=max(2, self.cfg.files_per_table)).select(
            F.col("id").alias("cid")
        )
        out = base.select(
            cid,
            F.concat(F.lit("C"), F.lpad(cid.cast("string"), 7, "0")).alias("customer_id"),
            r.choice("segment", [str(i) for i in range(k)], [a.weight for a in self.archetypes], cid)
            .cast("int")
            .alias("segment"),
            F.concat_ws(" ", first, last).alias("name"),
            F.concat(
                F.lower(first),
                F.lit("."),
                F.lower(last),
                (cid % 997).cast("string"),
                F.lit("@"),
                r.pick("domain", self._arr(P.EMAIL_DOMAINS), cid),
            ).alias("email"),
            F.format_string(
                "+44 7%03d %06d",
                (F.floor(r.uniform("ph1", cid) * 1000)).cast("int"),
                (F.floor(r.uniform("ph2", cid) * 1000000)).cast("int"),
            ).alias("phone"),
            F.date_add(F.lit(dt.date(1950, 1, 1)), F.floor(r.uniform("birth", cid) * 365 * 55).cast("int")).alias(
                "birth_date"
            ),
            r.choice("gender", ["F", "M", "X"], [0.49, 0.48, 0.03], cid).alias("gender"),
            r.pick("city", self._arr(P.CITIES), cid).alias("city"),
            signup.alias("signup_date"),
            r.pick("channel", self._arr(P.CHANNELS), cid).alias("channel"),
            (r.uniform("consent", cid) < 0.85).alias("consent"),
            taste_a.alias("taste_a"),
            ((taste_a + 1 + F.floor(r.uniform("taste_b", cid) * (n_clusters - 1))) % n_clusters)
            .cast("int")
            .alias("taste_b"),
        )
        params = self._segment_params()
        churn_day = F.floor((0.35 + 0.6 * r.uniform("churn_day", cid)) * span).cast("int")
        return (
            out.join(params, on="segment", how="left")
            .withColumn(
                "churn_date",
                F.when(r.uniform("churn", cid) < F.col("p_churn"), F.date_add(F.lit(self.start), churn_day)),
            )
            .withColumn("active_from", F.greatest(F.col("signup_date"), F.lit(self.start)))
        )

    # -- behaviour -----------------------------------------------------------------------------
    def sessions(self, customers: DataFrame) -> DataFrame:
        r = self.rng
        months = F.datediff(F.lit(self.end), F.col("active_from")) / 30.4
        start_s = F.unix_timestamp(F.col("active_from").cast("timestamp"))
        span_s = F.unix_timestamp(F.lit(self.end).cast("timestamp")) - start_s
        key = (F.col("cid"), F.col("s"))
        # Habitual shoppers: session s of n falls in the s-th of n equal slices of the active period
        # (jittered within it), so a regular customer's gaps stay near their own rhythm.
        slot = (F.col("s") - 1 + r.uniform("day", *key)) / F.greatest(F.col("n_sessions"), F.lit(1))
        day = F.to_date(F.timestamp_seconds(start_s + F.floor(slot * span_s)))
        weekend_shift = F.when(
            (F.dayofweek(day).between(2, 6)) & (r.uniform("weekend", *key) < 0.25), F.next_day(day, "Sat")
        ).otherwise(day)
        hour = r.choice(
            "hour",
            [str(h) for h in range(24)],
            [1, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 7, 8, 7, 6, 6, 7, 8, 10, 12, 12, 10, 6, 3],
            *key,
        ).cast("int")
        ts = F.timestamp_seconds(
            F.unix_timestamp(weekend_shift.cast("timestamp")) + hour * 3600 + F.floor(r.uniform("sec", *key) * 3600)
        )
        season = (
            F.when(F.month(F.col("ts")).isin(11, 12), 1.0).when(F.month(F.col("ts")).isin(6, 7, 8), 0.85).otherwise(0.7)
        )
        to_churn = F.datediff(F.col("churn_date"), F.to_date(F.col("ts")))
        churn_keep = (
            F.col("churn_date").isNull()
            | (to_churn > CHURN_DECAY_DAYS)
            | ((to_churn > 0) & (r.uniform("decay", *key) < to_churn / CHURN_DECAY_DAYS))
        )
        return (
            customers.withColumn("n_sessions", r.count("n_sessions", F.col("p_sessions") * months, F.col("cid")))
            .select("*", F.explode(F.sequence(F.lit(1), F.greatest(F.col("n_sessions"), F.lit(1)))).alias("s"))
            .where(F.col("s") <= F.col("n_sessions"))
            # Made in a generator so the filter below reads it: a filter is pushed under a plain projection
            # with `ts` inlined into each use, 200 hash draws per row instead of 55 (2-3x slower sessions).
            .select("*", F.inline(F.array(F.struct(ts.alias("ts")))))
            .where(
                (F.col("ts") < F.lit(self.end).cast("timestamp")) & (r.uniform("season", *key) < season) & churn_keep
            )
            .withColumn("session_id", F.concat(F.col("customer_id"), F.lit("-S"), F.col("s").cast("string")))
            .withColumn(
                "device",
                F.when(r.uniform("mobile", *key) < F.col("p_mobile"), F.lit("mobile")).otherwise(
                    r.pick("device", self._arr(P.DEVICES), *key)
                ),
            )
            .withColumn("buys", r.uniform("buys", *key) < F.col("p_buy"))
        )

    def views(self, sessions: DataFrame) -> DataFrame:
        """One row per product view, with the funnel outcome (click, cart, purchase) of that view."""
        r, tpc, n_cat = self.rng, P.TASTE_CLUSTERS_PER_CATEGORY, self.n_cat
        key = (F.col("cid"), F.col("s"), F.col("v"))
        cluster = F.when(r.uniform("which_taste", *key) < 0.5, F.col("taste_a")).otherwise(F.col("taste_b"))
        tier = (
            F.when(r.uniform("tier", *key) < F.col("p_budget"), 0)
            .when(r.uniform("tier", *key) < F.col("p_budget") + F.col("p_mid"), 1)
            .otherwise(2)
        )
        slots = math.ceil(self.per_cat / tpc)
        per_tier = F.greatest(F.floor((slots - tier - 1) / 3) + 1, F.lit(1))
        slot = tier + 3 * F.floor(F.pow(r.uniform("slot", *key), 1.5) * per_tier)
        # Popular views come from popular clusters, but at the customer's own price tier.
        n_clusters = n_cat * tpc
        popular_cluster = F.floor(F.pow(r.uniform("popular", *key), 2.0) * n_clusters)
        chosen = F.when(r.uniform("affinity", *key) < AFFINITY_SHARE, cluster).otherwise(popular_cluster)
        rank = (chosen % tpc) + tpc * slot
        pid = rank * n_cat + F.floor(chosen / tpc)
        clicked = r.uniform("click", *key) < F.col("p_click")
        carted = clicked & (r.uniform("cart", *key) < F.col("p_cart"))
        n_views = F.greatest(r.count("n_views", F.col("p_views"), F.col("cid"), F.col("s")), F.lit(1))
        return (
            sessions.select("*", F.explode(F.sequence(F.lit(1), n_views)).alias("v"))
            .withColumn("pid", F.least(pid, F.lit(self.n_products - 1)).cast("long"))
            .withColumn("product_id", self.product_id(F.col("pid")))
            .withColumn("clicked", clicked)
            .withColumn("carted", carted)
            .withColumn("purchased", F.col("carted") & F.col("buys"))
            .withColumn("view_ts", F.col("ts") + F.make_interval(secs=F.col("v") * SECONDS_PER_VIEW))
        )

    def span(self) -> tuple[dt.date, dt.date]:
        return self.start, self.end


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    return dt.date(day.year + month // 12, month % 12 + 1, 1)
