"""Train/test splits for evaluating and tuning recommenders, and a check that a test set can decide anything.

Three families, as in the usual recommender toolkits:
- `global_time`: train before one moment, test on the last `test_days` (what production sees);
- `per_user_last`: each customer's last `test_fraction` of liked items, by the time of first
  contact (the chronological per-user split), so every active customer is tested;
- `per_user_random`: a random `test_fraction` of each customer's liked items (hash-based, reproducible).

A split keeps the contacts (and order lines) a model may learn from and names the test pairs: items
with positive feedback that the customer first turned to on the test side. A contact without a time (a
rating or order line exported undated) is history of unknown age: every split keeps it on the training side
and no time-based split holds its item out. When no contact has a time, `auto` is `per_user_random`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from pmkt.libs.config import RecommendConfig
from pmkt.libs.errors import ConfigError
from pmkt.libs.frames import one
from pmkt.libs.log import get_logger
from pmkt.libs.recommend import interactions

log = get_logger(__name__)
MIN_PAIRS = 2  # a customer needs at least this many items to give one to the test side and keep one


@dataclass(frozen=True)
class Split:
    """`keep(df, ts_col)` restricts contacts or order lines to the training side; `test` holds
    (customer_id, product_id) pairs; `as_of` is the moment training strengths are decayed to."""

    name: str
    keep: Callable[[DataFrame, str], DataFrame]
    test: DataFrame
    as_of: dt.datetime


def make(
    contacts: DataFrame, cfg: RecommendConfig, end: dt.datetime, family: str, days: int, dated: bool = True
) -> Split:
    """The split of `contacts` (all before `end`) of one family; `days` is the global window's length.

    `dated` False says no contact has a time: only a random split can hold items out.
    """
    if not dated:
        if family not in ("auto", "per_user_random"):
            raise ConfigError(
                f"config key 'recommend.split' is {family}, which splits in time, but no contact has a time: "
                "use auto or per_user_random"
            )
        log.info(
            "no contact has a time: evaluating on a random %.0f%% of each customer's liked items (per_user_random)",
            100 * cfg.test_fraction,
        )
        return _per_user(contacts, cfg, end, last=False)
    if family == "auto":
        split = make(contacts, cfg, end, "global_time", days)
        # Personalisation can only be judged on customers with a history before the split; customers
        # who arrive inside the window are cold starts, which popularity serves whatever the model.
        warm = split.test.join(
            split.keep(contacts, "ts").select("customer_id").distinct(), on="customer_id", how="left_semi"
        )
        users = warm.select("customer_id").distinct().count()  # one number
        if users >= cfg.min_test_customers:
            return split
        log.warning(
            "the last %d days hold only %d customers with a history and new items (fewer than "
            "recommend.min_test_customers %d): evaluating on each customer's last %.0f%% of liked items "
            "instead (per_user_last)",
            days,
            users,
            cfg.min_test_customers,
            100 * cfg.test_fraction,
        )
        return make(contacts, cfg, end, "per_user_last", days)
    if family == "global_time":
        return _global_time(contacts, cfg, end, end - dt.timedelta(days=days))
    if family == "per_user_last":
        return _per_user(contacts, cfg, end, last=True)
    if family == "per_user_random":
        return _per_user(contacts, cfg, end, last=False)
    raise ValueError(f"unknown split family {family}")


def _pairs(contacts: DataFrame) -> DataFrame:
    """(customer_id, product_id, first_ts, strength): one row per item a customer turned to; `first_ts` is null
    when a contact with the item has no time (its first contact is unknown)."""
    undated = F.count_if(F.col("ts").isNull()) > 0
    return contacts.groupBy("customer_id", "product_id").agg(
        F.when(~undated, F.min("ts")).alias("first_ts"), F.sum("weight").alias("strength")
    )


def _relevant(pairs: DataFrame, cfg: RecommendConfig) -> DataFrame:
    """Positive feedback only: a low rating on the test side is not something to recommend."""
    good = (F.col("strength") > 0) & (F.col("strength") >= cfg.min_relevance)
    return pairs.where(good).select("customer_id", "product_id")


def _global_time(contacts: DataFrame, cfg: RecommendConfig, end: dt.datetime, split: dt.datetime) -> Split:
    def keep(df: DataFrame, ts: str) -> DataFrame:
        return df.where(F.col(ts).isNull() | (F.col(ts) < F.lit(split)))

    later = contacts.where((F.col("ts") >= F.lit(split)) & (F.col("ts") < F.lit(end)))
    test = _relevant(_pairs(later), cfg)
    served_never = interactions.excluded(keep(contacts, "ts"), cfg)
    if served_never is not None:  # what the serving rules drop can't be a hit, so it isn't counted as a miss
        test = test.join(served_never, on=["customer_id", "product_id"], how="left_anti")
    return Split("global_time", keep, test, split)


def _per_user(contacts: DataFrame, cfg: RecommendConfig, end: dt.datetime, last: bool) -> Split:
    # Held-out shares are taken of the items a customer liked, so a low rating at the end of a
    # history does not use up the customer's test side.
    pairs = _pairs(contacts).join(_relevant(_pairs(contacts), cfg), on=["customer_id", "product_id"], how="left_semi")
    per_user = Window.partitionBy("customer_id")
    if last:
        order = Window.partitionBy("customer_id").orderBy(F.desc("first_ts"), F.desc("product_id"))
    else:  # a reproducible shuffle of each customer's items
        order = Window.partitionBy("customer_id").orderBy(F.xxhash64("customer_id", "product_id", F.lit(cfg.als.seed)))
    n = F.count(F.lit(1)).over(per_user.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing))
    n_test = F.greatest(F.lit(1), F.floor(F.col("_n") * cfg.test_fraction))
    ranked = pairs.withColumn("_n", n).withColumn("_pos", F.row_number().over(order))
    # Chronologically, an item whose first contact is unknown is never the latest: it stays history.
    known = F.col("first_ts").isNotNull() if last else F.lit(True)
    chosen = ranked.where((F.col("_n") >= MIN_PAIRS) & (F.col("_pos") <= n_test) & known)
    if not last:
        held = chosen.select("customer_id", "product_id")

        def keep_random(df: DataFrame, ts: str) -> DataFrame:
            return df.join(held, on=["customer_id", "product_id"], how="left_anti")

        return Split("per_user_random", keep_random, held, end)
    # Chronological: everything from the first test item on is on the test side, ties included.
    cutoffs = chosen.groupBy("customer_id").agg(F.min("first_ts").alias("_cutoff"))

    def keep_last(df: DataFrame, ts: str) -> DataFrame:
        joined = df.join(cutoffs, on="customer_id", how="left")
        history = F.col("_cutoff").isNull() | F.col(ts).isNull() | (F.col(ts) < F.col("_cutoff"))
        return joined.where(history).drop("_cutoff")

    later = pairs.join(cutoffs, on="customer_id", how="inner").where(F.col("first_ts") >= F.col("_cutoff"))
    return Split("per_user_last", keep_last, later.select("customer_id", "product_id"), end)


@dataclass(frozen=True)
class Power:
    customers: int
    pairs: int
    enough: bool


def power(test: DataFrame, cfg: RecommendConfig, what: str) -> Power:
    """Count the test set and warn loudly when it is too small to tell methods apart."""
    counts = one(test.agg(F.count_distinct("customer_id").alias("c"), F.count(F.lit(1)).alias("p")))  # two numbers
    customers, pairs = int(counts["c"]), int(counts["p"])
    enough = customers >= cfg.min_test_customers and pairs >= cfg.min_test_pairs
    if not enough:
        log.warning(
            "UNDERPOWERED %s: %d customers and %d relevant items (need recommend.min_test_customers %d and "
            "min_test_pairs %d); differences between methods on it are noise",
            what,
            customers,
            pairs,
            cfg.min_test_customers,
            cfg.min_test_pairs,
        )
    return Power(customers, pairs, enough)
