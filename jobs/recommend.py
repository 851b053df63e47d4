"""`recommend`: ALS, item-CF, content and basket candidates blended into gold.recommendations, with a
temporal evaluation of every method against popularity in gold.model_metrics."""
from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import replace

from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from libs import models, tables
from libs.c360 import inputs as c360_inputs
from libs.config import AlsConfig, Config
from libs.errors import UserError
from libs.lake import Lake
from libs.log import get_logger, timed
from libs.metrics import Metric, append_metrics, new_run_id
from libs.recommend import als, evaluate, hybrid, ids, interactions, similarity, sources

log = get_logger(__name__)
MODEL = "recommend"


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.recommend
    lake = Lake(spark, config.lake)
    feedback = interactions.load(lake, cfg)
    contacts = feedback.contacts.persist(StorageLevel.MEMORY_AND_DISK)
    end = interactions.latest_ts(contacts) + dt.timedelta(seconds=1)
    split = end - dt.timedelta(days=cfg.test_days)
    run_id = new_run_id(MODEL)
    with timed(log, "id indexes"):
        ctx = _context(spark, lake, config, contacts, feedback.products)
    metrics: list[Metric] = []
    als_cfg = cfg.als
    if als_cfg.tune_trials:
        with timed(log, f"ALS random search, {als_cfg.tune_trials} trials"):
            als_cfg, trials = _tune(ctx, contacts, split, als_cfg)
        metrics += trials
    with timed(log, f"evaluation: train before {split:%Y-%m-%d %H:%M}, test after"):
        metrics += _evaluate(ctx, contacts, split, end, als_cfg)
    with timed(log, "recommendations for every customer") as stats:
        stats["rows"] = _serve(ctx, lake, contacts, end, als_cfg, config, run_id)
    contacts.unpersist()
    append_metrics(spark, lake, metrics, run_id)
    for method in ("popular", "als", "itemcf", "content", "basket", "hybrid"):
        found = {m.metric: m.value for m in metrics if m.variant == method and m.split == "test"}
        if found:
            log.info("%-8s ndcg@%d %.4f  precision %.4f  recall %.4f  map %.4f  coverage %.3f", method, cfg.top_k,
                     found[f"ndcg@{cfg.top_k}"], found[f"precision@{cfg.top_k}"], found[f"recall@{cfg.top_k}"],
                     found[f"map@{cfg.top_k}"], found["coverage"])


def _context(spark: SparkSession, lake: Lake, config: Config, contacts: DataFrame, products: DataFrame | None) -> sources.Context:
    cfg = config.recommend
    customers = contacts.select("customer_id")
    if lake.exists(tables.SILVER["customers"]):
        customers = customers.unionByName(lake.read(tables.SILVER["customers"]).select("customer_id"))
    items = contacts.select("product_id")
    if products is not None:
        items = items.unionByName(products.select("product_id"))
    customer_index = ids.update(lake, tables.CUSTOMER_INDEX, customers, "customer_id", "user_idx").cache()
    product_index = ids.update(lake, tables.PRODUCT_INDEX, items, "product_id", "item_idx").cache()
    content = None
    if products is not None:
        content_model = similarity.content_model(products, cfg.content_features)
        models.save(spark, lake, config, "recommend_content", content_model, new_run_id(MODEL), {"features": cfg.content_features})
        vectors = similarity.content_vectors(content_model, products).cache()
        n_products = vectors.count()  # one number
        if n_products > cfg.lsh_above:
            content = similarity.content_lsh(vectors, cfg.content_neighbours, cfg.content_min_similarity,
                                             cfg.lsh_bucket_length, cfg.lsh_tables, cfg.als.seed)
        else:
            content = similarity.content_exact(vectors, cfg.content_neighbours, cfg.content_min_similarity)
        content = content.cache()
        log.info("content neighbours for %s products (%s)", f"{n_products:,}", "LSH" if n_products > cfg.lsh_above else "exact")
    segments = c360_inputs.latest_rows(lake, tables.SEGMENTS)
    basket = None
    if lake.exists(tables.ASSOCIATION_RULES) and lake.exists(tables.MODEL_REGISTRY):
        try:
            fp, meta, _ = models.load(lake, "basket")
            if meta.get("level") == "product":
                basket = (fp.stages[0], lake.read(tables.ASSOCIATION_RULES))
        except UserError:  # no basket model yet: the blend goes without it
            basket = None
    lines = lake.read_if_exists(tables.SILVER["transactions"])
    return sources.Context(spark, cfg, customer_index, product_index, products, content, segments, lines, basket,
                           config.basket.crosssell_last_orders)


def _truth(contacts: DataFrame, ctx: sources.Context, start: dt.datetime, end: dt.datetime, train: DataFrame) -> DataFrame:
    """Items each customer turned to in [start, end), minus those the serving rules would exclude."""
    later = interactions.strengths(interactions.window(contacts, start, end), ctx.cfg, end)
    truth = later.where(F.col("strength") >= ctx.cfg.min_relevance).select("customer_id", "product_id")
    if ctx.cfg.exclude_purchased:
        truth = truth.join(train.where(F.col("consumed")).select("customer_id", "product_id"), on=["customer_id", "product_id"], how="left_anti")
    return truth.cache()


def _method_lists(ctx: sources.Context, built: sources.Built, train: DataFrame) -> dict[str, DataFrame]:
    """Each source alone and the hybrid, through the same serving rules."""
    purchased = train.where(F.col("consumed")) if ctx.cfg.exclude_purchased else None
    products = ctx.products
    serve = lambda c: hybrid.serve(c, purchased, products, ctx.cfg.top_k, ctx.cfg.max_per_category)  # noqa: E731
    lists = {name: serve(c) for name, c in built.candidates.items()}
    lists["hybrid"] = serve(hybrid.blend(list(built.candidates.values()), ctx.cfg.weights, ctx.cfg.rrf_k))
    return lists


def _evaluate(ctx: sources.Context, contacts: DataFrame, split: dt.datetime, end: dt.datetime, als_cfg: AlsConfig) -> list[Metric]:
    cfg = ctx.cfg
    train = interactions.strengths(contacts, cfg, split).persist(StorageLevel.MEMORY_AND_DISK)
    truth = _truth(contacts, ctx, split, end, train)
    users = truth.select("customer_id").distinct()
    n_users = users.count()  # one number
    if n_users == 0 or train.limit(1).count() == 0:
        log.warning("no evaluation: the last %d days leave %s", cfg.test_days, "no training data" if n_users else "no test interactions")
        train.unpersist()
        truth.unpersist()
        return []
    built = sources.build(ctx, train, users, split, als_cfg)
    out = [Metric(MODEL, "all", "test_customers", float(n_users), "test")]
    catalogue = (ctx.products if ctx.products is not None else ctx.product_index).select("product_id").distinct().count()  # one number
    for method, recs in _method_lists(ctx, built, train).items():
        recs = recs.cache()
        scores = evaluate.ranking_metrics(evaluate.ranking_lists(recs, truth, ctx.product_index), cfg.top_k)
        scores["coverage"] = evaluate.coverage(recs, catalogue)
        out += [Metric(MODEL, method, name, value, "test") for name, value in scores.items()]
        recs.unpersist()
    built.unpersist()
    train.unpersist()
    truth.unpersist()
    return out


def _tune(ctx: sources.Context, contacts: DataFrame, split: dt.datetime, base: AlsConfig) -> tuple[AlsConfig, list[Metric]]:
    """Random search scored by ALS's own nDCG@k on the last validation_days before the test split."""
    cfg = ctx.cfg
    start = split - dt.timedelta(days=cfg.validation_days)
    train = interactions.strengths(contacts, cfg, start).persist(StorageLevel.MEMORY_AND_DISK)
    truth = _truth(contacts, ctx, start, split, train)
    users = truth.select("customer_id").distinct().cache()
    if users.count() == 0 or train.limit(1).count() == 0:
        log.warning("no ALS tuning: the %d validation days leave no training data or no validation interactions", cfg.validation_days)
        train.unpersist()
        truth.unpersist()
        return base, []
    purchased = train.where(F.col("consumed")) if cfg.exclude_purchased else None

    def score(model) -> float:
        recs = hybrid.serve(sources.als_candidates(ctx, model, users, cfg.candidates), purchased, ctx.products, cfg.top_k, cfg.max_per_category)
        return evaluate.ranking_metrics(evaluate.ranking_lists(recs, truth, ctx.product_index), cfg.top_k)[f"ndcg@{cfg.top_k}"]

    trials = als.tune(ctx.spark, sources.with_indexes(ctx, train), score, base)
    for t in trials:
        log.info("ALS rank %d reg %g alpha %g: validation ndcg@%d %.4f", t.cfg.rank, t.cfg.reg_param, t.cfg.alpha, cfg.top_k, t.score)
    train.unpersist()
    truth.unpersist()
    best = trials[0].cfg
    metrics = [Metric(MODEL, f"als_r{t.cfg.rank}_l{t.cfg.reg_param:g}_a{t.cfg.alpha:g}", f"ndcg@{cfg.top_k}", t.score, "validation") for t in trials]
    return replace(base, rank=best.rank, reg_param=best.reg_param, alpha=best.alpha), metrics


def _serve(ctx: sources.Context, lake: Lake, contacts: DataFrame, end: dt.datetime, als_cfg: AlsConfig, config: Config, run_id: str) -> int:
    cfg = ctx.cfg
    strengths = interactions.strengths(contacts, cfg, end).persist(StorageLevel.MEMORY_AND_DISK)
    built = sources.build(ctx, strengths, ctx.customer_index, end, als_cfg)
    purchased = strengths.where(F.col("consumed")) if cfg.exclude_purchased else None
    recs = hybrid.serve(hybrid.blend(list(built.candidates.values()), cfg.weights, cfg.rrf_k), purchased, ctx.products, cfg.top_k, cfg.max_per_category)
    neighbours = built.itemcf_neighbours
    if ctx.content_neighbours is not None:
        neighbours = neighbours.unionByName(ctx.content_neighbours)
    lake.write(neighbours, tables.SIMILAR_ITEMS, mode="overwrite")
    lake.write(recs.withColumn("generated_at", F.current_timestamp()), tables.RECOMMENDATIONS, mode="overwrite")
    models.save(ctx.spark, lake, config, "recommend_als", PipelineModel(stages=[built.als_model]), run_id,
                {"rank": als_cfg.rank, "reg_param": als_cfg.reg_param, "alpha": als_cfg.alpha, "max_iter": als_cfg.max_iter,
                 "trained_until": end.isoformat()})
    built.unpersist()
    strengths.unpersist()
    return int(lake.read(tables.RECOMMENDATIONS).count())


def main(argv: Sequence[str] | None = None) -> int:
    from libs.cli import run_job

    return run_job("recommend", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
