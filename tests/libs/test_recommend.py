"""Tiny-input oracles for the recommendation building blocks."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.config import AlsConfig, LakeConfig, RecommendConfig
from pmkt.libs.errors import ConfigError, MissingInput
from pmkt.libs.lake import Lake
from pmkt.libs.recommend import als, hybrid, ids, interactions, protocol, scoring, similarity, splits
from tests.conftest import seed

STRENGTHS = "customer_id string, product_id string, strength double, last_ts timestamp, kind string, consumed boolean"
T0 = dt.datetime(2025, 6, 1)


def _strengths(spark: SparkSession, rows: list[tuple[str, str, float]]) -> object:
    return spark.createDataFrame([(c, p, s, T0, "view", False) for c, p, s in rows], STRENGTHS)


def test_cooccurrence_cosine_matches_hand_computation(spark: SparkSession) -> None:
    # U_A = {u1, u2, u3}, U_B = {u1, u2}, U_C = {u2, u3}, U_D = {u4}
    items = _strengths(
        spark,
        [
            ("u1", "A", 1.0),
            ("u1", "B", 1.0),
            ("u2", "A", 3.0),
            ("u2", "B", 1.0),
            ("u2", "C", 1.0),
            ("u3", "A", 1.0),
            ("u3", "C", 2.0),
            ("u4", "D", 1.0),
        ],
    )
    got = {
        (r.product_id, r.neighbour_id): (r.similarity, r.common, r.rank)
        for r in similarity.cooccurrence(items, 5, 1).collect()
    }
    ab, bc = 2 / math.sqrt(3 * 2), 1 / math.sqrt(2 * 2)
    expected = {
        ("A", "B"): (ab, 2, 1),
        ("A", "C"): (ab, 2, 2),
        ("B", "A"): (ab, 2, 1),
        ("B", "C"): (bc, 1, 2),
        ("C", "A"): (ab, 2, 1),
        ("C", "B"): (bc, 1, 2),
    }
    assert got.keys() == expected.keys()
    for pair, (sim, common, rank) in expected.items():
        assert got[pair] == (pytest.approx(sim), common, rank)
    # min_common 2 drops B-C; neighbours 1 keeps only the best per item
    strict = {(r.product_id, r.neighbour_id) for r in similarity.cooccurrence(items, 1, 2).collect()}
    assert strict == {("A", "B"), ("B", "A"), ("C", "A")}


def test_item_scores_sum_similarity_times_strength_and_name_the_anchor(spark: SparkSession) -> None:
    neighbours = spark.createDataFrame(
        [("A", "X", 0.5), ("B", "X", 0.25), ("B", "Y", 0.9)],
        "product_id string, neighbour_id string, similarity double",
    )
    items = spark.createDataFrame(
        [("u1", "A", 2.0, "purchase"), ("u1", "B", 1.0, "view")],
        "customer_id string, product_id string, strength double, kind string",
    )
    got = {
        r.product_id: (r.score, r.anchor_id, r.anchor_kind)
        for r in scoring.score_customers(items, neighbours, 5, normalise=False).collect()
    }
    assert got == {"X": (pytest.approx(2 * 0.5 + 1 * 0.25), "A", "purchase"), "Y": (pytest.approx(0.9), "B", "view")}
    profile = {r.product_id: r.score for r in scoring.score_customers(items, neighbours, 5, normalise=True).collect()}
    assert profile["X"] == pytest.approx(1.25 / 3) and profile["Y"] == pytest.approx(0.9 / 3)
    reason = spark.range(1).select(similarity.because("itemcf", F.lit("A"), F.lit("purchase")).alias("r")).first().r
    assert reason == "itemcf: because you bought A"


def _brute_force_scores(items, neighbours, n, normalise, excluded):  # type: ignore[no-untyped-def]
    """The definition, one customer and candidate at a time."""
    out = {}
    for user in {u for u, *_ in items}:
        mine = [(p, w, k) for u, p, w, k in items if u == user]
        total = sum(w for _, w, _ in mine)
        parts: dict[str, list[tuple[float, str, str]]] = {}
        for p, w, k in mine:
            for src, dst, sim in neighbours:
                if src == p:
                    parts.setdefault(dst, []).append((w * sim, p, k))
        scored = [
            (dst, sum(x for x, _, _ in ps) / (total if normalise else 1.0), max(ps, key=lambda t: t[0])[1:])
            for dst, ps in parts.items()
            if (user, dst) not in excluded
        ]
        scored.sort(key=lambda t: (-t[1], t[0]))
        out.update({(user, dst): (score, anchor) for dst, score, anchor in scored[:n]})
    return out


@pytest.mark.parametrize("normalise", [False, True])
def test_neighbour_scores_match_the_definition_on_random_data(spark: SparkSession, normalise: bool) -> None:
    rng = np.random.default_rng(7)
    products = [f"P{i:02d}" for i in range(30)]
    neighbours = [
        (a, str(b), float(rng.choice([0.25, 0.5, round(rng.random(), 3)])))  # repeated values: ties to break
        for a in products[:25]  # five products have no list of their own
        for b in rng.choice(products, 6, replace=False)
        if a != b
    ]
    items = [
        (f"u{u}", str(p), float(rng.integers(1, 4)), str(rng.choice(["view", "purchase"])))
        for u in range(40)
        for p in rng.choice(products, int(rng.integers(1, 8)), replace=False)
    ]
    excluded = {(u, p) for u, p, _, _ in items if rng.random() < 0.5} | {("u1", p) for p in products[:10]}
    got = scoring.score_customers(
        spark.createDataFrame(items, "customer_id string, product_id string, strength double, kind string"),
        spark.createDataFrame(neighbours, "product_id string, neighbour_id string, similarity double"),
        4,
        normalise,
        spark.createDataFrame(sorted(excluded), "customer_id string, product_id string"),
    ).collect()
    expected = _brute_force_scores(items, neighbours, 4, normalise, excluded)
    assert {(r.customer_id, r.product_id) for r in got} == set(expected)
    for r in got:
        score, (anchor, kind) = expected[(r.customer_id, r.product_id)]
        assert r.score == pytest.approx(score, rel=1e-12)
        best = max(
            w * sim
            for u, p, w, _ in items
            for a, b, sim in neighbours
            if u == r.customer_id and p == a and b == r.product_id
        )
        contribution = next(w for u, p, w, _ in items if u == r.customer_id and p == r.anchor_id) * next(
            sim for a, b, sim in neighbours if a == r.anchor_id and b == r.product_id
        )
        assert contribution == pytest.approx(best)  # the anchor is a largest contribution (ties may pick either)
        assert r.anchor_kind == next(k for u, p, _, k in items if u == r.customer_id and p == r.anchor_id)
    assert len(got) == len(expected) > 100


def test_content_similarity_equals_the_dot_product_and_reaches_new_products(spark: SparkSession) -> None:
    products = spark.createDataFrame(
        [
            ("P1", "Trail shoe", "waterproof trail running shoe", "shoes", "Apex"),
            ("P2", "Road sandal", "light road sandal", "shoes", "Luma"),
            ("P3", "Espresso cup", "ceramic espresso cup", "kitchen", "Luma"),
            ("P4", "Trail boot", "waterproof trail hiking boot", "shoes", "Orbit"),  # new: nobody has touched it
        ],
        "product_id string, product_name string, description string, category string, brand string",
    )
    model = similarity.content_model(products, 256)
    vectors = similarity.content_vectors(model, products)
    dense = {
        r.product_id: np.array(r.v)
        for r in vectors.select("product_id", vector_to_array("features").alias("v")).collect()
    }
    exact = {(r.product_id, r.neighbour_id): r.similarity for r in similarity.content_exact(vectors, 3, 0.0).collect()}
    for (a, b), sim in exact.items():
        assert sim == pytest.approx(float(dense[a] @ dense[b]))
        assert np.linalg.norm(dense[a]) == pytest.approx(1.0)
    assert ("P1", "P3") not in exact  # no shared token, no similarity
    lsh = {
        (r.product_id, r.neighbour_id): r.similarity
        for r in similarity.content_lsh(vectors, 3, 0.0, 4.0, 3, 1).collect()
    }
    assert lsh and all(
        sim == pytest.approx(exact.get(pair, 0.0), abs=1e-9) for pair, sim in lsh.items()
    )  # orthogonal pairs: 0
    items = spark.createDataFrame(
        [("u1", "P1", 1.0, "view")], "customer_id string, product_id string, strength double, kind string"
    )
    top = scoring.score_customers(items, similarity.content_exact(vectors, 3, 0.0), 1, normalise=True).first()
    assert (top.product_id, top.anchor_id) == ("P4", "P1")


def test_serving_excludes_purchased_and_inactive_caps_categories_and_ranks(spark: SparkSession) -> None:
    candidates = (
        spark.createDataFrame(
            [
                ("u1", "A1", 0.9),
                ("u1", "A2", 0.8),
                ("u1", "A3", 0.7),
                ("u1", "B1", 0.6),
                ("u1", "B2", 0.5),
                ("u1", "C1", 0.4),
                ("u1", "Z9", 0.3),
                ("u2", "A1", 0.1),
            ],
            "customer_id string, product_id string, score double",
        )
        .withColumn("source", F.lit("als"))
        .withColumn("reason", F.lit("r"))
    )
    products = spark.createDataFrame(
        [
            ("A1", "a", True),
            ("A2", "a", True),
            ("A3", "a", True),
            ("B1", "b", False),
            ("B2", "b", True),
            ("C1", "c", True),
        ],
        "product_id string, category string, active boolean",
    )
    purchased = spark.createDataFrame([("u1", "A1")], "customer_id string, product_id string")
    got = hybrid.serve(candidates, purchased, products, top_k=4, max_per_category=1)
    expected = spark.createDataFrame(
        [("u1", 1, "A2", 0.8), ("u1", 2, "B2", 0.5), ("u1", 3, "C1", 0.4), ("u1", 4, "Z9", 0.3), ("u2", 1, "A1", 0.1)],
        "customer_id string, rank int, product_id string, score double",
    )
    assert_df_equality(
        got.select("customer_id", "rank", "product_id", "score"), expected, ignore_row_order=True, ignore_nullable=True
    )
    # The category cap gives way when nothing else is left: A3 fills the fifth place, scored below the rest.
    longer = [
        (r.rank, r.product_id, r.score)
        for r in hybrid.serve(candidates, purchased, products, 5, 1)
        .where("customer_id = 'u1'")
        .orderBy("rank")
        .collect()
    ]
    assert longer == [(1, "A2", 0.8), (2, "B2", 0.5), (3, "C1", 0.4), (4, "Z9", 0.3), (5, "A3", 0.3)]


def test_cold_start_gets_segment_popular_else_overall_popular(spark: SparkSession) -> None:
    strengths = _strengths(
        spark,
        [
            ("a1", "X", 1.0),
            ("a2", "X", 1.0),
            ("a1", "Y", 1.0),
            ("b1", "Z", 1.0),
            ("b2", "Z", 1.0),
            ("b3", "Z", 1.0),
            ("b1", "Y", 1.0),
        ],
    )
    segments = spark.createDataFrame(
        [
            ("a1", 0, "Savers"),
            ("a2", 0, "Savers"),
            ("b1", 1, "Spenders"),
            ("b2", 1, "Spenders"),
            ("b3", 1, "Spenders"),
            ("new_a", 0, "Savers"),
        ],
        "customer_id string, segment_id int, segment_name string",
    )
    customers = spark.createDataFrame([("new_a",), ("stranger",)], "customer_id string")
    got = {
        (r.customer_id, r.product_id): (r.score, r.reason)
        for r in hybrid.popular(strengths, customers, segments, 2).collect()
    }
    # Scores fall with the position in the customer's list: n, n-1, ...
    assert got == {
        ("new_a", "X"): (2.0, "popular with Savers"),
        ("new_a", "Y"): (1.0, "popular with Savers"),
        ("stranger", "Z"): (2.0, "popular overall"),
        ("stranger", "X"): (1.0, "popular overall"),  # X ties Y, wins by id
    }


def test_popular_fills_a_heavy_users_list_past_everything_they_have_seen(spark: SparkSession) -> None:
    # Popularity: P0 by 6 customers, P1 by 5, ..., P5 by 1; P6-P7 untouched catalogue items.
    rows = [(f"c{c}", f"P{p}", 1.0) for p in range(6) for c in range(6 - p)]
    strengths = _strengths(spark, rows)
    catalogue = spark.createDataFrame([(f"P{p}",) for p in range(8)], "product_id string")
    heavy_seen = [("heavy", f"P{p}") for p in (0, 1, 2, 3, 5)]  # seen all but P4 of the touched items
    excluded = spark.createDataFrame(heavy_seen + [("c0", "P0")], "customer_id string, product_id string")
    customers = spark.createDataFrame([("heavy",), ("c0",), ("new",)], "customer_id string")
    got = hybrid.popular(strengths, customers, None, 3, excluded, catalogue)
    lists = {
        c: [r.product_id for r in got.where(F.col("customer_id") == c).orderBy(F.desc("score")).collect()]
        for c in ("heavy", "c0", "new")
    }
    assert lists == {"heavy": ["P4", "P6", "P7"], "c0": ["P1", "P2", "P3"], "new": ["P0", "P1", "P2"]}


def test_popular_items_rank_the_catalogue_by_distinct_customers(spark: SparkSession) -> None:
    # X: 3 customers (one of them twice), Y and Z: 2 each (tie, Y first by id), W: in the catalogue only.
    rows = [("a", "X", 1.0), ("b", "X", 5.0), ("c", "X", 0.1), ("a", "Z", 9.0), ("b", "Z", 9.0)]
    rows += [("c", "Y", 1.0), ("d", "Y", 1.0), ("a", "X", 2.0)]
    catalogue = spark.createDataFrame([(p,) for p in "WXYZ"], "product_id string")
    got = hybrid.popular_items(_strengths(spark, rows), catalogue)
    assert [tuple(r) for r in got.orderBy("rank").collect()] == [(1, "X", 3), (2, "Y", 2), (3, "Z", 2), (4, "W", 0)]
    assert got.schema.simpleString() == "struct<rank:int,product_id:string,customers:bigint>"


def test_als_candidates_equal_mllib_top_k_and_leave_out_seen_items_before_the_cut(spark: SparkSession) -> None:
    model, _, _ = _tiny_als(spark)
    users = spark.createDataFrame([(u,) for u in range(20)], "user_idx int")
    mllib = {
        r.user_idx: [(x.item_idx, x.rating) for x in r.recommendations]
        for r in model.recommendForUserSubset(users, 15).collect()
    }
    ours = als.candidates(model, users, 4).collect()
    for u in range(20):
        mine = sorted([(r.item_idx, r.score) for r in ours if r.user_idx == u], key=lambda t: -t[1])
        everything = dict(mllib[u])
        # The same top-4 scores, each on an item MLlib scores the same (near-ties may swap places).
        assert [s for _, s in mine] == pytest.approx([s for _, s in mllib[u][:4]], rel=1e-4)
        assert all(everything[i] == pytest.approx(s, rel=1e-4) for i, s in mine)
    seen = spark.createDataFrame([(u, i) for u in range(20) for i in range(14) if i != 7], "user_idx int, item_idx int")
    left = {(r.user_idx, r.item_idx) for r in als.candidates(model, users, 4, seen).collect()}
    assert left == {(u, i) for u in range(20) for i in (7, 14)}  # only two unseen items exist: both, for everyone


def _tiny_als(spark: SparkSession) -> tuple[ALSModel, list[tuple[int, int, float]], AlsConfig]:
    rows = [(u, i, 1.0 + (u * i) % 4) for u in range(20) for i in range(15) if (u + 2 * i) % 3 != 0]
    cfg = AlsConfig(rank=5, max_iter=6, reg_param=0.1, alpha=2.0, seed=3)
    return als.fit(spark, spark.createDataFrame(rows, "user_idx int, item_idx int, strength double"), cfg), rows, cfg


def test_fold_in_is_the_implicit_least_squares_step_solved_by_hand(spark: SparkSession) -> None:
    model, _, cfg = _tiny_als(spark)
    factors = {r.id: np.array(r.features, dtype=np.float64) for r in model.itemFactors.collect()}  # 15 items
    y = np.array([factors[i] for i in range(15)])
    # A new customer: a purchase, a view, an item with a negative strength (confidence, no preference) and an
    # item the model never saw (left out).
    mine = [(100, 2, 3.0), (100, 5, 1.0), (100, 7, -1.0), (100, 99, 5.0)]
    got = als.fold_in(model, spark.createDataFrame(mine, "user_idx int, item_idx int, strength double"), 2.0, 0.1)
    [row] = got.collect()
    a = y.T @ y + 0.1 * 2 * np.eye(5)  # regularisation x the 2 positive interactions
    b = np.zeros(5)
    for item, r in ((2, 3.0), (5, 1.0), (7, -1.0)):
        c = cfg.alpha * abs(r)
        a += c * np.outer(y[item], y[item])
        b += (1 + c) * y[item] if r > 0 else 0
    assert row.user_idx == 100
    assert np.allclose(row.features, np.linalg.solve(a, b), rtol=1e-5, atol=1e-6)


def test_fold_in_of_the_training_rows_gives_back_mllibs_own_user_factors(spark: SparkSession) -> None:
    # ALS updates the users last in each iteration, so its final user factors are exactly this step.
    model, rows, cfg = _tiny_als(spark)
    data = spark.createDataFrame(rows, "user_idx int, item_idx int, strength double")
    folded = {r.user_idx: np.array(r.features) for r in als.fold_in(model, data, cfg.alpha, cfg.reg_param).collect()}
    trained = {r.id: np.array(r.features) for r in model.userFactors.collect()}
    assert set(folded) == set(trained) == set(range(20))
    for u in range(20):
        assert np.allclose(folded[u], trained[u], rtol=1e-4, atol=1e-5), u


def test_fresh_top_k_from_a_folded_in_factor_follows_a_purchase_and_leaves_it_out(spark: SparkSession) -> None:
    model, _, cfg = _tiny_als(spark)
    before = [(200, 1, 1.0), (200, 4, 1.0)]
    after = [*before, (200, 9, 8.0)]  # then the customer buys item 9
    users = spark.createDataFrame([(200,)], "user_idx int")
    y = {r.id: np.array(r.features) for r in model.itemFactors.collect()}

    def fresh(history: list[tuple[int, int, float]]) -> tuple[list[int], list[int]]:
        data = spark.createDataFrame(history, "user_idx int, item_idx int, strength double")
        factors = als.fold_in(model, data, cfg.alpha, cfg.reg_param)
        seen = data.select("user_idx", "item_idx")
        got = als.candidates(model, users, 3, seen, user_factors=factors).orderBy(F.desc("score")).collect()
        x = np.array(factors.first().features)
        unseen = [i for i in sorted(y) if i not in {h[1] for h in history}]
        oracle = sorted(unseen, key=lambda i: (-float(np.float32(x) @ np.float32(y[i])), i))[:3]
        return [r.item_idx for r in got], oracle

    ours_before, oracle_before = fresh(before)
    ours_after, oracle_after = fresh(after)
    assert ours_before == oracle_before and ours_after == oracle_after
    assert 9 not in ours_after and ours_after != ours_before


@pytest.mark.parametrize("n_items, k", [(2_000, 10), (400, 10), (30, 10), (6, 10)])
def test_top_k_equals_a_full_sort_with_ties_and_seen_items(n_items: int, k: int) -> None:
    rng = np.random.default_rng(n_items)
    scores = rng.standard_normal((64, n_items)).astype(np.float32)
    scores[3, : n_items // 2] = -np.inf  # half the catalogue seen
    scores[4] = np.round(scores[4], 1)  # many ties: the lower position wins
    scores[5, 1:] = -np.inf  # one unseen item left
    kept = min(k, n_items)
    positions, values = als.top_k(scores, kept)
    oracle = np.array([sorted(range(n_items), key=lambda j: (-scores[i, j], j))[:kept] for i in range(len(scores))])
    assert np.array_equal(positions, oracle)
    assert np.array_equal(values, np.take_along_axis(scores, oracle, axis=1))


def test_reciprocal_rank_blend(spark: SparkSession) -> None:
    cands = spark.createDataFrame(
        [("u", "A", 5.0, "als", "ra"), ("u", "B", 4.0, "als", "rb"), ("u", "B", 0.2, "itemcf", "because B")],
        "customer_id string, product_id string, score double, source string, reason string",
    )
    got = {
        r.product_id: (r.score, r.source, r.reason)
        for r in hybrid.blend([cands], {"als": 1.0, "itemcf": 3.0}, rrf_k=10).collect()
    }
    assert got == {
        "A": (pytest.approx(1 / 11), "als", "ra"),
        "B": (pytest.approx(1 / 12 + 3 / 11), "itemcf", "because B"),
    }
    als_led = {
        r.product_id: (r.source, r.reason)
        for r in hybrid.blend([cands], {"als": 10.0, "itemcf": 1.0}, rrf_k=10).collect()
    }
    assert als_led["B"] == ("als", "because B")  # ALS leads, the item-CF anchor explains
    scaled = {r.product_id: r.score for r in hybrid.blend([cands], {"als": 1.0, "itemcf": 3.0}, rrf_k=0).collect()}
    assert scaled == {"A": pytest.approx(1.0), "B": pytest.approx(0.8 + 3.0)}


def test_strength_sums_weights_with_half_life_decay(spark: SparkSession) -> None:
    contacts = spark.createDataFrame(
        [
            ("u", "A", T0 - dt.timedelta(days=10), "purchase", 8.0),
            ("u", "A", T0 - dt.timedelta(days=20), "view", 1.0),
            ("u", "B", T0 + dt.timedelta(days=1), "view", 1.0),  # after as_of: not counted
            ("u", "C", None, "rating", 2.0),  # no time: history of unknown age, counted undecayed
        ],
        "customer_id string, product_id string, ts timestamp, kind string, weight double",
    )
    got = interactions.strengths(contacts, RecommendConfig(half_life_days=10.0), T0).orderBy("product_id").collect()
    assert [(r.product_id, r.kind, r.consumed) for r in got] == [("A", "purchase", True), ("C", "rating", True)]
    assert [r.strength for r in got] == [pytest.approx(8 * 0.5 + 1 * 0.25), 2.0]


def test_rating_weights_linear_and_log_scaled_from_the_centre(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(spark, LakeConfig(root=str(tmp_path / "lake")))
    plays = [("u", "A", 1.0), ("u", "B", 2.0), ("u", "C", 9.0), ("u", "D", 2001.0), ("v", "A", 0.0)]
    schema = "customer_id string, product_id string, rating double, rated_ts timestamp"
    seed(lake, spark.createDataFrame([(*p, None) for p in plays], schema), tables.SILVER["ratings"])

    def weights(**cfg: object) -> dict[tuple[str, str], float]:
        contacts = interactions.load(lake, RecommendConfig(**cfg)).contacts  # type: ignore[arg-type]
        return {(r.customer_id, r.product_id): r.weight for r in contacts.collect()}  # five rows

    assert weights(rating_centre=1.0, min_rating=2.0) == {
        ("u", "A"): 0.0,  # below min_rating: seen, not liked
        ("u", "B"): 1.0,
        ("u", "C"): 8.0,
        ("u", "D"): 2000.0,
        ("v", "A"): 0.0,
    }
    assert weights(rating_centre=1.0, min_rating=2.0, rating_scale="log", rating_weight=2.0) == {
        ("u", "A"): 0.0,
        ("u", "B"): pytest.approx(2 * math.log(2)),
        ("u", "C"): pytest.approx(2 * math.log(9)),
        ("u", "D"): pytest.approx(2 * math.log(2001)),
        ("v", "A"): 0.0,
    }
    with pytest.raises(ConfigError, match="recommend.rating_scale"):
        RecommendConfig(rating_scale="sqrt")


def test_id_index_is_stable_and_only_grows(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(spark, LakeConfig(root=str(tmp_path / "lake")))
    first = ids.update(
        lake,
        tables.CUSTOMER_INDEX,
        spark.createDataFrame([("c",), ("a",), ("b",), ("a",)], "customer_id string"),
        "customer_id",
        "user_idx",
    )
    assert {r.customer_id: r.user_idx for r in first.collect()} == {"a": 0, "b": 1, "c": 2}
    second = ids.update(
        lake,
        tables.CUSTOMER_INDEX,
        spark.createDataFrame([("d",), ("a",), ("0",)], "customer_id string"),
        "customer_id",
        "user_idx",
    )
    assert {r.customer_id: r.user_idx for r in second.collect()} == {"a": 0, "b": 1, "c": 2, "0": 3, "d": 4}


def test_als_save_and_load_round_trip(spark: SparkSession, tmp_path: Path) -> None:
    rows = [(u, i, 1.0 + (u + i) % 3) for u in range(12) for i in range(8) if (u + i) % 2 == 0]
    train = spark.createDataFrame(rows, "user_idx int, item_idx int, strength double")
    model = als.fit(spark, train, AlsConfig(rank=4, max_iter=5, reg_param=0.1, alpha=2.0, seed=3))
    path = str(tmp_path / "als")
    PipelineModel(stages=[model]).write().overwrite().save(path)
    loaded = PipelineModel.load(path).stages[0]
    assert (loaded.rank, loaded.getColdStartStrategy(), loaded.getUserCol()) == (4, "drop", "user_idx")
    users = spark.createDataFrame([(u,) for u in range(3)], "user_idx int")
    before = {(r.user_idx, r.item_idx): r.score for r in als.candidates(model, users, 3).collect()}
    after = {(r.user_idx, r.item_idx): r.score for r in als.candidates(loaded, users, 3).collect()}
    assert before.keys() == after.keys() and len(before) == 9
    assert all(after[k] == pytest.approx(v, rel=1e-6) for k, v in before.items())


def _contacts(spark: SparkSession, rows: list[tuple[str, str, int, float]]) -> object:
    return spark.createDataFrame(
        [(c, p, T0 + dt.timedelta(days=d), "rating", w) for c, p, d, w in rows],
        "customer_id string, product_id string, ts timestamp, kind string, weight double",
    )


def test_splits_hold_out_what_each_family_promises(spark: SparkSession) -> None:
    contacts = _contacts(
        spark,
        [
            ("a", "A", 1, 1.0),
            ("a", "B", 2, 1.0),
            ("a", "C", 3, 1.0),
            ("a", "D", 4, 1.0),
            ("a", "E", 5, 1.0),
            ("a", "A", 6, 1.0),
            ("b", "X", 1, 1.0),  # one item: nothing to hold out
            ("c", "P", 1, 1.0),
            ("c", "Q", 2, 0.0),  # Q is a low rating: c liked one item only, nothing to hold out
        ],
    )
    cfg = RecommendConfig(test_fraction=0.4, min_test_customers=1, min_test_pairs=1)
    end = T0 + dt.timedelta(days=7)

    def pairs(df: object, cols: tuple[str, ...] = ("customer_id", "product_id")) -> set:
        return {tuple(r) for r in df.select(*cols).collect()}

    last = splits.make(contacts, cfg, end, "per_user_last", 30)
    assert pairs(last.test) == {("a", "D"), ("a", "E")}  # a's last 40% of 5 items; A again on day 6 is not new
    assert pairs(last.keep(contacts, "ts")) == {("a", "A"), ("a", "B"), ("a", "C"), ("b", "X"), ("c", "P"), ("c", "Q")}
    randomly = splits.make(contacts, cfg, end, "per_user_random", 30)
    held = pairs(randomly.test)
    assert len(held) == 2 and {c for c, _ in held} == {"a"}
    assert pairs(randomly.keep(contacts, "ts")) == {("a", p) for p in "ABCDE"} - held | {
        ("b", "X"),
        ("c", "P"),
        ("c", "Q"),
    }
    timed = splits.make(contacts, cfg, end, "global_time", 3)  # the last 3 days: days 4, 5 and 6
    assert pairs(timed.test) == {("a", "D"), ("a", "E")}  # A was seen before the split: excluded when served
    power = splits.power(timed.test, RecommendConfig(min_test_customers=2), "test")
    assert (power.customers, power.pairs, power.enough) == (1, 2, False)
    fallback = splits.make(contacts, RecommendConfig(test_fraction=0.4, min_test_customers=2), end, "auto", 3)
    assert fallback.name == "per_user_last"  # one test customer in the global window is too few
    # A newcomer who arrives inside the window is a cold start: it doesn't make the window fit for judging models.
    newcomer = contacts.unionByName(_contacts(spark, [("n", "A", 5, 1.0), ("n", "B", 6, 1.0)]))
    assert (
        splits.make(newcomer, RecommendConfig(min_test_customers=2), end, "global_time", 3)
        .test.select("customer_id")
        .distinct()
        .count()
        == 2
    )
    assert splits.make(newcomer, RecommendConfig(min_test_customers=2), end, "auto", 3).name == "per_user_last"
    warm = newcomer.unionByName(_contacts(spark, [("b", "Y", 5, 1.0)]))  # b had a history before the window
    assert splits.make(warm, RecommendConfig(min_test_customers=2), end, "auto", 3).name == "global_time"


def test_undated_contacts_stay_history_and_an_undated_export_splits_at_random(spark: SparkSession) -> None:
    dated = _contacts(spark, [("a", p, d, 1.0) for d, p in enumerate("ABCD", start=1)])
    undated = spark.createDataFrame(
        [("a", "U", None, "rating", 1.0), ("a", "D", None, "rating", 1.0), ("b", "V", None, "rating", 1.0)],
        dated.schema,
    )
    contacts = dated.unionByName(undated)
    cfg = RecommendConfig(test_fraction=0.5, min_test_customers=1, min_test_pairs=1)
    end = T0 + dt.timedelta(days=5)

    def pairs(df: object) -> set:
        return {(r.customer_id, r.product_id) for r in df.select("customer_id", "product_id").collect()}

    # a liked A-D and U: half of 5 is 2 held out, the latest first contacts. D also has an undated rating,
    # so its first contact is unknown: C and B are held out, and D and U stay history with A.
    last = splits.make(contacts, cfg, end, "per_user_last", 30)
    assert pairs(last.test) == {("a", "B"), ("a", "C")}
    assert pairs(last.keep(contacts, "ts")) == {("a", "A"), ("a", "D"), ("a", "U"), ("b", "V")}
    timed = splits.make(contacts, cfg, end, "global_time", 2)  # days 3 and 4 are the test window
    assert pairs(timed.keep(contacts, "ts")) == {("a", "A"), ("a", "B"), ("a", "D"), ("a", "U"), ("b", "V")}
    assert pairs(timed.test) == {("a", "C")}  # D was rated (undated) on the training side: never served again
    # Nothing dated at all: auto holds out a random half of each customer's items; a time split can't.
    assert interactions.span(undated) == interactions.Span(None, 3, 3)
    randomly = splits.make(undated, cfg, end, "auto", 30, dated=False)
    assert randomly.name == "per_user_random" and len(pairs(randomly.test)) == 1
    assert pairs(randomly.keep(undated, "ts")) | pairs(randomly.test) == pairs(undated)
    with pytest.raises(ConfigError, match=r"^config key 'recommend.split' is global_time, which splits in time"):
        splits.make(undated, cfg, end, "global_time", 30, dated=False)


def test_the_span_counts_undated_contacts_and_names_what_is_missing(spark: SparkSession) -> None:
    schema = "customer_id string, product_id string, ts timestamp, kind string, weight double"
    stamped = [("c1", "p1", dt.datetime(2025, 3, 1, 8), "purchase", 1.0), ("c2", "p2", None, "purchase", 1.0)]
    span = interactions.span(spark.createDataFrame(stamped, schema))
    assert span == interactions.Span(dt.datetime(2025, 3, 1, 8), 2, 1)
    assert protocol.end_of(span) == dt.datetime(2025, 3, 1, 8, 0, 1)
    # CDNOW's order lines have no product ids, so none becomes a contact.
    with pytest.raises(MissingInput, match=r"names a product \(product_id\): nothing to recommend$"):
        interactions.span(spark.createDataFrame([], schema))
