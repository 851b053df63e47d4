"""FPGrowth rules against a brute-force oracle, the planted rules, and the explosion guard."""

from __future__ import annotations

import itertools
import logging
import random
from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.jobs import basket, ingest
from pmkt.libs import tables
from pmkt.libs.basket import crosssell, mining
from pmkt.libs.config import BasketConfig, load_config
from pmkt.libs.lake import Lake
from tests.conftest import GeneratedLake, own_copy


def _random_baskets(seed: int, n: int) -> list[list[str]]:
    rng = random.Random(seed)
    items = [f"i{k:02d}" for k in range(12)]
    baskets = []
    for _ in range(n):
        basket = {i for i in items if rng.random() < 0.12 + 0.02 * int(i[1:]) % 5}
        if "i01" in basket and rng.random() < 0.7:
            basket.add("i07")
        if len(basket) >= 2:
            baskets.append(sorted(basket))
    return baskets


def _brute_force(baskets: list[list[str]], min_support: float, min_confidence: float) -> dict:
    n = len(baskets)
    counts: Counter = Counter()
    for b in baskets:
        for size in range(1, len(b) + 1):
            counts.update(frozenset(c) for c in itertools.combinations(b, size))
    frequent = {s: c for s, c in counts.items() if c >= min_support * n}
    rules = {}
    for itemset, count in frequent.items():
        for consequent in itemset if len(itemset) > 1 else ():
            antecedent = itemset - {consequent}
            confidence = count / frequent[antecedent]
            if confidence >= min_confidence:
                p_b = frequent[frozenset([consequent])] / n
                conviction = (1 - p_b) / (1 - confidence) if confidence < 1 else None
                rules[(tuple(sorted(antecedent)), consequent)] = (
                    count / n,
                    confidence,
                    confidence / p_b,
                    count / n - frequent[antecedent] / n * p_b,
                    conviction,
                )
    return {"itemsets": {tuple(sorted(s)): c for s, c in frequent.items()}, "rules": rules}


def test_rules_match_a_brute_force_count(spark: SparkSession) -> None:
    baskets = _random_baskets(seed=11, n=400)
    cfg = BasketConfig(min_support=0.04, min_count=1, min_confidence=0.3)
    df = spark.createDataFrame([(str(i), b) for i, b in enumerate(baskets)], "basket_id string, items array<string>")
    oracle = _brute_force(baskets, cfg.min_support, cfg.min_confidence)
    model = mining.fit(df, cfg, cfg.min_support)
    found_sets = {tuple(r.items): r.freq for r in mining.itemsets(model, len(baskets), cfg, cfg.min_support).collect()}
    assert found_sets == oracle["itemsets"]
    found = {
        (tuple(r.antecedent), r.consequent[0]): r
        for r in mining.rules(model, len(baskets), cfg, cfg.min_support).collect()
    }
    assert set(found) == set(oracle["rules"]) and len(found) > 20
    for key, (support, confidence, lift, leverage, conviction) in oracle["rules"].items():
        r = found[key]
        assert (r.support, r.confidence, r.lift, r.leverage) == pytest.approx(
            (support, confidence, lift, leverage), rel=1e-9, abs=1e-12
        )
        assert r.conviction == (None if conviction is None else pytest.approx(conviction, rel=1e-9))
        assert r.basket_count == len(baskets)


def test_no_rule_above_min_confidence_names_the_strongest_one(spark: SparkSession) -> None:
    baskets = _random_baskets(seed=11, n=400)
    every = _brute_force(baskets, 0.04, 0.0)["rules"]
    best = max(c for _, c, *_ in every.values())
    cfg = BasketConfig(min_support=0.04, min_count=1, min_confidence=round(best + 0.01, 2))
    df = spark.createDataFrame([(str(i), b) for i, b in enumerate(baskets)], "basket_id string, items array<string>")
    model = mining.fit(df, cfg, cfg.min_support)
    assert mining.rules(model, len(baskets), cfg, cfg.min_support).count() == 0
    guarded = mining.GuardResult(cfg.min_support, len(_brute_force(baskets, 0.04, 1.0)["itemsets"]), 0, len(baskets))
    note = mining.no_rules_note(model, guarded, cfg)
    strongest = {f"{'+'.join(a)} -> {c}" for (a, c), (_, conf, *_) in every.items() if conf == best}
    prefix = f"no association rule reaches basket.min_confidence {cfg.min_confidence:g}: the most confident of the "
    assert note.startswith(prefix + f"{guarded.itemsets:,} frequent itemsets' rules, ")
    assert note.endswith(f", has {best:.3f}") and note[len(prefix) :].split(", ")[1] in strongest
    apart = spark.createDataFrame([(str(i), [f"x{i % 5}"]) for i in range(50)], "basket_id string, items array<string>")
    alone = mining.no_rules_note(mining.fit(apart, cfg, 0.1), mining.GuardResult(0.1, 5, 0, 50), cfg)
    assert alone == (
        "no association rule: no two items share baskets often enough (an itemset needs a share of 0.1 of the 50 "
        "baskets: basket.min_support, basket.min_count)"
    )


def test_explosion_guard_raises_support_on_long_dense_baskets(spark: SparkSession) -> None:
    rng = random.Random(3)
    items = [f"p{k}" for k in range(40)]
    baskets = [rng.sample(items, 28) for _ in range(300)]  # 2^28 subsets per basket at low support
    df = spark.createDataFrame(
        [(str(i), sorted(b)) for i, b in enumerate(baskets)], "basket_id string, items array<string>"
    )
    cfg = BasketConfig(min_support=0.001, min_count=1, max_itemsets=5000)
    guarded = mining.guard(df, cfg)
    assert guarded.steps > 0 and guarded.min_support > cfg.min_support and guarded.itemsets <= cfg.max_itemsets
    model = mining.fit(df, cfg, guarded.min_support)
    assert model.freqItemsets.count() == guarded.itemsets  # the guard counted exactly what FPGrowth then finds
    # The work is bounded too: a level that would expand past max_guard_rows counts as too many.
    assert mining.count_itemsets(df, len(baskets), 0.001, 10**9, max_rows=1000) is None


def test_guard_counts_a_ten_item_bundle_level_by_level(spark: SparkSession) -> None:
    """Ten items always bought together: every one of their 1,023 subsets is frequent, ten levels deep (the
    guard once took minutes from level 8 on, analysing plans that doubled with each level)."""
    rng = random.Random(4)
    bundle = [f"b{k}" for k in range(10)]
    baskets = [
        sorted(set(rng.sample([f"i{k}" for k in range(60)], 3)) | set(bundle if b % 20 == 0 else ()))
        for b in range(2000)
    ]
    df = spark.createDataFrame([(str(i), b) for i, b in enumerate(baskets)], "basket_id string, items array<string>")
    singles = Counter(i for b in baskets for i in b if not i.startswith("b"))
    expected = 2**10 - 1 + sum(1 for c in singles.values() if c >= 0.02 * len(baskets))
    cfg = BasketConfig(min_support=0.02, min_count=1, max_itemsets=10**6)
    guarded = mining.guard(df, cfg)
    assert (guarded.itemsets, guarded.steps) == (expected, 0)
    assert mining.fit(df, cfg, guarded.min_support).freqItemsets.count() == expected


def test_guard_counts_exactly_and_raises_support_only_when_the_data_needs_it(spark: SparkSession) -> None:
    baskets = _random_baskets(seed=11, n=400) + [["i03"], ["i05"], ["i03"]]  # single-item baskets count in n
    df = spark.createDataFrame([(str(i), b) for i, b in enumerate(baskets)], "basket_id string, items array<string>")
    exact = len(_brute_force(baskets, 0.04, 1.0)["itemsets"])
    assert mining.count_itemsets(df, len(baskets), 0.04, 10**6, 10**7) == exact
    fits = mining.guard(df, BasketConfig(min_support=0.04, min_count=1, max_itemsets=exact))
    assert (fits.min_support, fits.itemsets, fits.steps, fits.baskets) == (0.04, exact, 0, len(baskets))
    tight = mining.guard(df, BasketConfig(min_support=0.04, min_count=1, max_itemsets=exact - 1, support_step=1.25))
    assert tight.steps == 1 and tight.min_support == pytest.approx(0.05)
    assert tight.itemsets == len(_brute_force(baskets, 0.05, 1.0)["itemsets"])


def test_the_log_blames_the_explosion_guard_only_when_it_raised_the_support() -> None:
    cfg = BasketConfig(min_support=0.0005, min_count=10, max_itemsets=5000)
    # 3,000 baskets: min_count 10 lifts the support to 1/300 before any itemset is counted.
    level, line = mining.support_note(mining.GuardResult(10 / 3000, 1216, 0, 3000), cfg) or (0, "")
    assert level == logging.INFO and "explosion" not in line
    assert line == "min_support 0.00333333 instead of 0.0005: an itemset needs basket.min_count 10 of the 3,000 baskets"
    level, line = mining.support_note(mining.GuardResult(0.004, 4200, 2, 100_000), cfg) or (0, "")
    assert level == logging.WARNING and line.startswith("explosion guard: min_support raised from 0.0005 to 0.004")
    assert "(2 steps), where 4,200 frequent itemsets fit basket.max_itemsets 5,000" in line
    assert mining.support_note(mining.GuardResult(0.0005, 534, 0, 93_268), cfg) is None


@pytest.mark.slow
def test_planted_rules_are_found_with_their_lift(spark: SparkSession, generated: GeneratedLake, tmp_path: Path) -> None:
    own = own_copy(generated, tmp_path)
    basket.run(spark, own.config)
    lake = Lake(spark, own.config.lake)
    truth = lake.read(tables.TRUTH_RULES).collect()
    rules = lake.read(tables.ASSOCIATION_RULES)
    single = {(r.antecedent[0], r.consequent[0]): r for r in rules.where(F.size("antecedent") == 1).collect()}
    planted_pairs = [{t.antecedent, t.consequent} for t in truth]
    for t in truth:
        found = single.get((t.antecedent, t.consequent))
        assert found is not None, f"planted rule {t.antecedent} -> {t.consequent} not found"
        assert found.lift == pytest.approx(t.lift, rel=0.10)
    weakest = min(t.lift for t in truth)
    spurious = [
        r for r in rules.collect() if not any(p <= set(r.antecedent) | set(r.consequent) for p in planted_pairs)
    ]
    assert spurious and max(r.lift for r in spurious) < weakest
    together = lake.read(tables.BOUGHT_TOGETHER)
    for t in truth:
        assert (
            together.where((F.col("product_id") == t.antecedent) & (F.col("together_with") == t.consequent)).count()
            == 1
        )
    # Exactly the customers whose recent orders hold the planted antecedent but not its consequent
    # are offered the consequent, and each because of the antecedent.
    rule = truth[0]
    recent = crosssell.recent_items(
        lake.read(tables.SILVER["transactions"]), generated.config.basket.crosssell_last_orders
    )
    expected = {
        r.customer_id
        for r in recent.where(
            F.array_contains("items", rule.antecedent) & ~F.array_contains("items", rule.consequent)
        ).collect()
    }
    offered = lake.read(tables.CROSS_SELL).where(F.col("product_id") == rule.consequent).collect()
    assert len(expected) >= 10
    assert {r.customer_id for r in offered} == expected
    assert {r.reason for r in offered} == {f"often bought with {rule.antecedent}"}


def test_orders_and_products_alone_are_enough(spark: SparkSession, tmp_path: Path) -> None:
    rows = ["InvoiceNo,StockCode"] + [f"{o},{p}" for o in range(60) for p in (["A", "B"] if o % 2 else ["A", "C", "D"])]
    (tmp_path / "baskets").mkdir()
    (tmp_path / "baskets" / "orders.csv").write_text("\n".join(rows) + "\n")
    conf = tmp_path / "c.yaml"
    conf.write_text(
        f"lake: {{root: {tmp_path / 'lake'}}}\ningest:\n  check_references: false\n  sources:\n    transactions:\n"
        f"      path: {tmp_path / 'baskets'}\n      columns: {{order_id: InvoiceNo, product_id: StockCode}}\n"
        "basket: {min_support: 0.2, min_count: 1, min_confidence: 0.5}\n"
    )
    config = load_config(conf)
    [report] = ingest.run(spark, config)
    assert report.inserted == 150
    basket.run(spark, config)
    rules = {
        (tuple(r.antecedent), r.consequent[0]): (r.confidence, r.lift)
        for r in Lake(spark, config.lake).read(tables.ASSOCIATION_RULES).collect()
    }
    assert rules[(("C",), "D")] == pytest.approx((1.0, 2.0))
    assert rules[(("B",), "A")] == pytest.approx((1.0, 1.0))
