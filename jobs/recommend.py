"""`recommend`: ALS, item-CF, content and basket candidates blended into gold.recommendations.

Every method is evaluated on a temporal split against popularity, in gold.model_metrics.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence

from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.ml.fpm import FPGrowthModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs import models, tables, tracking
from pmkt.libs.config import AlsConfig, Config
from pmkt.libs.errors import UserError
from pmkt.libs.frames import union_all
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.metrics import append_metrics
from pmkt.libs.recommend import hybrid, ids, interactions, protocol, similarity, sources, splits
from pmkt.libs.report import plots
from pmkt.libs.runner import run_job

log = get_logger(__name__)
MODEL = "recommend"


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.recommend
    lake = Lake(spark, config.lake)
    feedback = interactions.load(lake, cfg)
    contacts = feedback.contacts.persist(StorageLevel.MEMORY_AND_DISK)
    span = interactions.span(contacts)
    end = protocol.end_of(span)
    if span.latest is not None and span.undated:
        log.warning(
            "%s of %s contacts have no time: they count as history of unknown age (never decayed, never held out)",
            f"{span.undated:,}",
            f"{span.contacts:,}",
        )
    with tracking.model_run(lake, config, MODEL, config.recommend) as run_id:
        with timed(log, "id indexes"):
            ctx = _context(spark, lake, config, contacts, feedback.products)
        with timed(log, f"split ({cfg.split})"):
            split = splits.make(contacts, cfg, end, cfg.split, cfg.test_days, dated=span.latest is not None)
        log.info("evaluation split: %s", split.name)
        with timed(log, "tuning on validation"):
            als_cfg, mix, metrics = protocol.tune(ctx, contacts, split)
        with timed(log, f"evaluation ({split.name})"):
            metrics += protocol.evaluate_split(ctx, contacts, split, als_cfg, mix)
        with timed(log, "recommendations for every customer") as stats:
            stats["rows"] = _serve(ctx, lake, contacts, end, als_cfg, mix, config)
        contacts.unpersist()
        append_metrics(spark, lake, metrics, run_id)
        ndcg = {m.variant: m.value for m in metrics if m.split == "test" and m.metric == f"ndcg@{cfg.top_k}"}
        tracking.log_png(plots.bars(list(ndcg), list(ndcg.values()), f"nDCG@{cfg.top_k}", fmt="{:.3f}"), "ndcg")
    for method in ("popular", "als", "itemcf", "content", "basket", "hybrid"):
        found = {m.metric: m.value for m in metrics if m.variant == method and m.split == "test"}
        if found:
            log.info(
                "%-8s ndcg@%d %.4f  precision %.4f  recall %.4f  map %.4f  coverage %.3f",
                method,
                cfg.top_k,
                found[f"ndcg@{cfg.top_k}"],
                found[f"precision@{cfg.top_k}"],
                found[f"recall@{cfg.top_k}"],
                found[f"map@{cfg.top_k}"],
                found["coverage"],
            )


def _context(
    spark: SparkSession, lake: Lake, config: Config, contacts: DataFrame, products: DataFrame | None
) -> sources.Context:
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
    if products is not None and cfg.weights["content"] > 0:  # a source with weight 0 is not built
        content_model = similarity.content_model(products, cfg.content_features)
        models.save(config, "recommend_content", content_model, {"features": cfg.content_features})
        vectors = similarity.content_vectors(content_model, products).cache()
        n_products = vectors.count()  # one number
        if n_products > cfg.lsh_above:
            content = similarity.content_lsh(
                vectors,
                cfg.content_neighbours,
                cfg.content_min_similarity,
                cfg.lsh_bucket_length,
                cfg.lsh_tables,
                cfg.als.seed,
            )
        else:
            content = similarity.content_exact(vectors, cfg.content_neighbours, cfg.content_min_similarity)
        content = content.cache()
        log.info(
            "content neighbours for %s products (%s)",
            f"{n_products:,}",
            "LSH" if n_products > cfg.lsh_above else "exact",
        )
    segments = lake.latest_rows(tables.SEGMENTS)
    basket = None
    if lake.exists(tables.ASSOCIATION_RULES):
        try:
            fp, meta, _ = models.load(config, "basket")
            if meta.get("level") == "product" and isinstance(fp.stages[0], FPGrowthModel):
                basket = (fp.stages[0], lake.read(tables.ASSOCIATION_RULES))
        except UserError:  # no basket model yet: the blend goes without it
            basket = None
    lines = lake.read_if_exists(tables.SILVER["transactions"])
    return sources.Context(
        spark,
        cfg,
        customer_index,
        product_index,
        products,
        content,
        segments,
        lines,
        basket,
        config.basket.crosssell_last_orders,
    )


def _serve(
    ctx: sources.Context,
    lake: Lake,
    contacts: DataFrame,
    end: dt.datetime,
    als_cfg: AlsConfig,
    mix: hybrid.Blend,
    config: Config,
) -> int:
    cfg = ctx.cfg
    strengths = interactions.strengths(contacts, cfg, end).persist(StorageLevel.MEMORY_AND_DISK)
    excluded = interactions.excluded(contacts, cfg)
    excluded = excluded.persist(StorageLevel.MEMORY_AND_DISK) if excluded is not None else None
    built = sources.build(ctx, strengths, ctx.customer_index, ctx.lines, excluded, als_cfg)
    recs = hybrid.serve(
        mix.of(list(built.candidates.values())), excluded, ctx.products, cfg.top_k, cfg.max_per_category
    )
    neighbours = [n for n in (built.itemcf_neighbours, ctx.content_neighbours) if n is not None]
    if neighbours:
        lake.write(union_all(neighbours), tables.SIMILAR_ITEMS, mode="overwrite")
    lake.write(recs.withColumn("generated_at", F.current_timestamp()), tables.RECOMMENDATIONS, mode="overwrite")
    lake.write(hybrid.popular_items(strengths, sources.catalogue(ctx)), tables.POPULAR_ITEMS, mode="overwrite")
    if built.als_model is not None:
        models.save(
            config,
            "recommend_als",
            PipelineModel(stages=[built.als_model]),
            {
                "rank": als_cfg.rank,
                "reg_param": als_cfg.reg_param,
                "alpha": als_cfg.alpha,
                "max_iter": als_cfg.max_iter,
                "trained_until": end.isoformat(),
                "weights": dict(mix.weights),
                "rrf_k": mix.rrf_k,
            },
        )
    built.unpersist()
    strengths.unpersist()
    if excluded is not None:
        excluded.unpersist()
    return int(lake.read(tables.RECOMMENDATIONS).count())


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("recommend", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
