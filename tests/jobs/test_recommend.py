"""Recommendations end to end: beating popularity on generated data, serving rules, a ratings file."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from pmkt.jobs import ingest, recommend
from pmkt.libs import models, tables
from pmkt.libs.config import load_config
from pmkt.libs.lake import Lake
from pmkt.libs.metrics import latest_metrics
from tests.conftest import GeneratedLake


def test_hybrid_and_als_beat_popularity_and_serving_rules_hold(spark: SparkSession, modelled: GeneratedLake) -> None:
    config = modelled.config  # the fixture ran basket, then recommend, with this config
    lake = Lake(spark, config.lake)
    k = config.recommend.top_k
    ndcg = {
        r.variant: r.value for r in latest_metrics(lake, "recommend").where(F.col("metric") == f"ndcg@{k}").collect()
    }
    assert set(ndcg) == {"popular", "als", "itemcf", "content", "basket", "hybrid"}
    assert ndcg["hybrid"] >= 1.5 * ndcg["popular"]
    assert ndcg["als"] > ndcg["popular"]

    recs = lake.read(tables.RECOMMENDATIONS)
    customers = lake.read(tables.SILVER["customers"]).select("customer_id")
    # Everyone gets a full list, cold-start customers included, ranked 1..k without gaps.
    per_customer = recs.groupBy("customer_id").agg(F.count(F.lit(1)).alias("n"), F.max("rank").alias("top"))
    assert per_customer.where((F.col("n") != k) | (F.col("top") != k)).count() == 0
    assert customers.join(per_customer, on="customer_id", how="left_anti").count() == 0
    bought = lake.read(tables.SILVER["transactions"]).select("customer_id", "product_id").distinct()
    assert recs.join(bought, on=["customer_id", "product_id"], how="inner").count() == 0
    products = lake.read(tables.SILVER["products"])
    assert recs.join(products.where(~F.col("active")), on="product_id", how="inner").count() == 0
    per_category = recs.join(products, on="product_id", how="inner").groupBy("customer_id", "category").count()
    assert per_category.agg(F.max("count")).first()[0] <= config.recommend.max_per_category
    # Scores fall with rank, and every row says why.
    order = Window.partitionBy("customer_id").orderBy("rank")
    assert recs.withColumn("prev", F.lag("score").over(order)).where(F.col("score") > F.col("prev")).count() == 0
    assert recs.where(F.col("reason").isNull() | F.col("source").isNull()).count() == 0
    assert {r.source for r in recs.select("source").distinct().collect()} >= {"als", "popular"}
    assert recs.where(F.col("reason").startswith("itemcf: because you ")).count() > recs.count() / 2
    # Customers with no contact at all get their segment's (or everyone's) popular items.
    contacts = (
        lake.read(tables.SILVER["events"])
        .select("customer_id")
        .union(lake.read(tables.SILVER["transactions"]).select("customer_id"))
    )
    cold = recs.join(contacts.distinct(), on="customer_id", how="left_anti")
    never_seen = customers.join(contacts.distinct(), on="customer_id", how="left_anti").count()
    assert never_seen >= 5 and cold.count() == never_seen * k
    assert {r.source for r in cold.select("source").distinct().collect()} == {"popular"}
    neighbours = lake.read(tables.SIMILAR_ITEMS)
    assert {r.method for r in neighbours.select("method").distinct().collect()} == {"itemcf", "content"}
    assert (
        neighbours.groupBy("method", "product_id").count().agg(F.max("count")).first()[0]
        == config.recommend.itemcf_neighbours
    )
    _, meta, _ = models.load(config, "recommend_als")
    assert meta["rank"] == config.recommend.als.rank


def _ratings(seed: int, users: range, start: dt.datetime) -> list[str]:
    """Two taste groups: even users rate 5 of items I00-I09 high, odd users 5 of I10-I19; plus 2 low
    ratings in the other group, which min_rating turns away."""
    rng = random.Random(seed)
    rows = []
    for u in users:
        own = list(range(0, 10)) if u % 2 == 0 else list(range(10, 20))
        other = [i for i in range(20) if i not in own]
        for n, item in enumerate(rng.sample(own, 5) + rng.sample(other, 2)):
            rating = rng.choice([4, 5]) if item in own else rng.choice([1, 2])
            when = start + dt.timedelta(days=n * 10 + rng.random())
            rows.append(f"{u},I{item:02d},{rating},{int(when.timestamp())}")
    return rows


def test_ratings_file_end_to_end_with_stable_ids(spark: SparkSession, tmp_path: Path) -> None:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    (tmp_path / "ratings").mkdir()
    first = _ratings(1, range(40), start)
    (tmp_path / "ratings" / "part1.csv").write_text(
        "userId,movieId,rating,timestamp\n" + "\n".join(first) + "\n3,I01,five,1704067200\n"
    )
    conf = tmp_path / "ratings.yaml"
    conf.write_text(f"""lake: {{root: {tmp_path / "lake"}}}
ingest:
  check_references: false
  sources:
    ratings:
      path: {tmp_path / "ratings"}
      timestamp_format: epoch_seconds
      columns: {{customer_id: userId, product_id: movieId, rating: rating, rated_ts: timestamp}}
recommend:
  min_rating: 3.0
  top_k: 3
  candidates: 10
  test_days: 15
  itemcf_min_common: 1
  als: {{rank: 4, max_iter: 8, reg_param: 0.1, alpha: 2.0, tune_trials: 0}}
  weight_trials: 0
  weights: {{itemcf: 0}}       # not built at all: no item-CF candidates, metrics or neighbours
""")
    config = load_config(conf)
    [report] = ingest.run(spark, config)
    assert (report.input, report.inserted, report.quarantined) == (len(first) + 1, len(first), 1)
    recommend.run(spark, config)
    lake = Lake(spark, config.lake)
    index = {r.customer_id: r.user_idx for r in lake.read(tables.CUSTOMER_INDEX).collect()}
    assert len(index) == 40
    recs = lake.read(tables.RECOMMENDATIONS).collect()  # 40 customers x 3
    assert len(recs) == 40 * 3
    own = [int(r.product_id[1:]) // 10 == int(r.customer_id) % 2 for r in recs]
    assert sum(own) / len(own) >= 0.9  # the planted taste groups decide what is recommended
    rated = {(c, p) for c, p, r, _ in (line.split(",") for line in first)}
    assert any(float(line.split(",")[2]) < 3 for line in first)
    assert (
        not {(r.customer_id, r.product_id) for r in recs} & rated
    )  # rated at all, low ratings included: never recommended back
    metrics = {(r.variant, r.metric) for r in latest_metrics(lake, "recommend").collect()}
    assert ("als", "ndcg@3") in metrics and ("hybrid", "map@3") in metrics
    # Item-CF (weight 0) and content (no products) are never built.
    assert {v for v, _ in metrics} == {"all", "als", "popular", "hybrid"}
    assert not lake.exists(tables.SIMILAR_ITEMS)

    # New customers arrive: they get new integers, and nobody's id changes.
    # And a heavy user who rated 17 of the 20 movies: their list still holds exactly three, the three left.
    heavy = [f"heavy,I{i:02d},{4 if i % 3 == 0 else 1},{int(start.timestamp()) + 3600 * i}" for i in range(17)]
    (tmp_path / "ratings" / "part2.csv").write_text(
        "userId,movieId,rating,timestamp\n" + "\n".join(_ratings(2, range(40, 46), start) + heavy) + "\n"
    )
    ingest.run(spark, config)
    tuned = load_config(
        conf,
        [
            "recommend.als.tune_trials=2",
            "recommend.validation_days=10",
            "recommend.als.ranks=[2, 6]",
            "recommend.als.reg_params=[0.1]",
            "recommend.als.alphas=[2.0]",
            "recommend.weight_trials=3",
            "recommend.min_test_customers=10",  # a small world: let it tune (a real one needs 100 customers)
            "recommend.min_test_pairs=10",
        ],
    )
    recommend.run(spark, tuned)
    trials = latest_metrics(lake, "recommend").where(F.col("split") == "validation").collect()
    als_trials = [r for r in trials if r.variant.startswith("als_")]
    assert sorted(r.variant for r in als_trials) == ["als_r2_l0.1_a2_i8", "als_r6_l0.1_a2_i8"]
    best = max(als_trials, key=lambda r: r.value).variant
    _, meta, _ = models.load(tuned, "recommend_als")  # the serving model uses the winning trial's settings
    assert f"als_r{meta['rank']}_l{meta['reg_param']:g}_a{meta['alpha']:g}_i{meta['max_iter']}" == best
    blends = [r for r in trials if r.variant.startswith("blend_")]
    # The configured blend, three draws, and each source built here (ALS and popularity) alone.
    assert len(blends) == 6
    assert {"blend_als1_popular0.01_rrf60", "blend_als0_popular1_rrf60"} <= {r.variant for r in blends}
    served = "blend_" + "_".join(f"{k}{v:g}" for k, v in sorted(meta["weights"].items())) + f"_rrf{meta['rrf_k']}"
    assert {r.variant: r.value for r in blends}[served] == max(r.value for r in blends)  # the best on validation serves
    again = {r.customer_id: r.user_idx for r in lake.read(tables.CUSTOMER_INDEX).collect()}
    assert {c: again[c] for c in index} == index
    assert sorted(again[str(u)] for u in range(40, 46)) == list(range(40, 46))
    assert lake.read(tables.RECOMMENDATIONS).where(F.col("customer_id") == "45").count() == 3
    heavy_rows = lake.read(tables.RECOMMENDATIONS).where(F.col("customer_id") == "heavy").collect()
    heavy_list = {r.product_id for r in heavy_rows}
    assert heavy_list == {"I17", "I18", "I19"}


def test_an_undated_ratings_export_is_recommended_from_on_a_random_split(spark: SparkSession, tmp_path: Path) -> None:
    """A ratings export with no times (Book-Crossing's shape: `;`-separated, quoted, 1-10 and 0 for "seen")."""
    rng = random.Random(7)
    lines, liked = ['"User-ID";"ISBN";"Book-Rating"'], {}
    for u in range(40):
        own = [f"0{i:09d}" for i in (range(0, 12) if u % 2 == 0 else range(12, 24))]
        other = [f"0{i:09d}" for i in (range(12, 24) if u % 2 == 0 else range(0, 12))]
        mine = rng.sample(own, 1 if u == 0 else 4 + u % 6)  # user 0 likes one book: nothing to hold out
        liked[str(u)] = len(mine)
        lines += [f'"{u}";"{b}";"{rng.choice([8, 9, 10])}"' for b in mine]
        lines += [f'"{u}";"{b}";"{rating}"' for b, rating in zip(rng.sample(other, 2), (0, 2), strict=True)]
    (tmp_path / "BX-Book-Ratings.csv").write_text("\n".join(lines) + "\n")
    conf = tmp_path / "books.yaml"
    conf.write_text(f"""lake: {{root: {tmp_path / "lake"}}}
ingest:
  check_references: false
  sources:
    ratings:
      path: {tmp_path / "BX-Book-Ratings.csv"}
      options: {{sep: ";"}}
      columns: {{customer_id: User-ID, product_id: ISBN, rating: Book-Rating}}
recommend:
  min_rating: 6
  rating_centre: 5
  test_fraction: 0.25
  min_test_customers: 10
  top_k: 3
  candidates: 10
  itemcf_min_common: 1
  als: {{rank: 4, max_iter: 8, reg_param: 0.1, alpha: 2.0, tune_trials: 0}}
  weight_trials: 0
""")
    config = load_config(conf)
    [report] = ingest.run(spark, config)
    assert (report.input, report.inserted) == (len(lines) - 1, len(lines) - 1)
    recommend.run(spark, config)
    lake = Lake(spark, config.lake)
    metrics = {(r.variant, r.metric): r.value for r in latest_metrics(lake, "recommend").collect()}  # one run's
    assert metrics[("all", "split:per_user_random")] == 1.0
    # Each customer with two or more liked books holds out a quarter of them (at least one); user 0 holds none.
    held = {u: max(1, n // 4) for u, n in liked.items() if n >= 2}
    assert (metrics[("all", "test_customers")], metrics[("all", "test_pairs")]) == (len(held), sum(held.values()))
    assert metrics[("itemcf", "ndcg@3")] > metrics[("popular", "ndcg@3")]
    recs = lake.read(tables.RECOMMENDATIONS).collect()
    assert len(recs) == 40 * 3
    own = [(int(r.product_id) < 12) == (int(r.customer_id) % 2 == 0) for r in recs]
    assert sum(own) / len(own) >= 0.9  # the planted taste groups decide what is recommended
    rated = {(line.split(";")[0].strip('"'), line.split(";")[1].strip('"')) for line in lines[1:]}
    assert not {(r.customer_id, r.product_id) for r in recs} & rated  # a 0 ("seen") included
