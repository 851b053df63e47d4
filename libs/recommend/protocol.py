"""The evaluation protocol: every method on one split through the same serving rules, and the tuning of
ALS and the blend weights on a validation split of the same family inside the training side."""
from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from libs.config import AlsConfig
from libs.log import get_logger
from libs.metrics import Metric
from libs.recommend import als, evaluate, hybrid, interactions, sources, splits

log = get_logger(__name__)
MODEL = "recommend"
WEIGHT_LEVELS = (0.0, 0.1, 0.25, 0.5, 1.0)  # relative to ALS at 1: a reciprocal-rank blend depends only on ratios
POPULAR_LEVELS = (0.01, 0.05, 0.1, 0.25)  # never 0: popularity fills every list


@dataclass
class Side:
    """The training side of a split, ready to build sources from; `unpersist` when done."""

    strengths: DataFrame
    excluded: DataFrame | None
    lines: DataFrame | None
    users: DataFrame  # customers with at least one test item
    test: DataFrame

    def unpersist(self) -> None:
        for df in (self.strengths, self.excluded, self.users, self.test):
            if df is not None:
                df.unpersist()


def prepare(ctx: sources.Context, contacts: DataFrame, split: splits.Split) -> Side:
    train = split.keep(contacts, "ts")
    strengths = interactions.strengths(train, ctx.cfg, split.as_of).persist(StorageLevel.MEMORY_AND_DISK)
    excluded = interactions.excluded(train, ctx.cfg)
    excluded = excluded.persist(StorageLevel.MEMORY_AND_DISK) if excluded is not None else None
    lines = split.keep(ctx.lines, "order_ts") if ctx.lines is not None else None
    test = split.test.persist(StorageLevel.MEMORY_AND_DISK)
    return Side(strengths, excluded, lines, test.select("customer_id").distinct().cache(), test)


def method_lists(ctx: sources.Context, built: sources.Built, side: Side, weights: Mapping[str, float]) -> dict[str, DataFrame]:
    """Each source alone and the hybrid, through the same serving rules."""
    def serve(candidates: DataFrame) -> DataFrame:
        return hybrid.serve(candidates, side.excluded, ctx.products, ctx.cfg.top_k, ctx.cfg.max_per_category)

    lists = {name: serve(c) for name, c in built.candidates.items()}
    lists["hybrid"] = serve(hybrid.blend(list(built.candidates.values()), weights, ctx.cfg.rrf_k))
    return lists


def evaluate_split(ctx: sources.Context, contacts: DataFrame, split: splits.Split, als_cfg: AlsConfig,
                   weights: Mapping[str, float]) -> list[Metric]:
    """Every method's ranking metrics and coverage on `split`, with the test set's size and power."""
    cfg = ctx.cfg
    side = prepare(ctx, contacts, split)
    try:
        power = splits.power(side.test, cfg, f"recommendation test set ({split.name})")
        if power.customers == 0 or side.strengths.limit(1).count() == 0:
            log.warning("no evaluation: the %s split leaves %s", split.name, "no training data" if power.customers else "no test items")
            return []
        out = [Metric(MODEL, "all", "test_customers", float(power.customers), "test"),
               Metric(MODEL, "all", "test_pairs", float(power.pairs), "test"),
               Metric(MODEL, "all", "underpowered", 0.0 if power.enough else 1.0, "test"),
               Metric(MODEL, "all", f"split:{split.name}", 1.0, "test")]
        built = sources.build(ctx, side.strengths, side.users, side.lines, side.excluded, als_cfg)
        catalogue = (ctx.products if ctx.products is not None else ctx.product_index).select("product_id").distinct().count()  # one number
        for method, recs in method_lists(ctx, built, side, weights).items():
            recs = recs.cache()
            scores = evaluate.ranking_metrics(evaluate.ranking_lists(recs, side.test, ctx.product_index), cfg.top_k)
            scores["coverage"] = evaluate.coverage(recs, catalogue)
            out += [Metric(MODEL, method, name, value, "test") for name, value in scores.items()]
            recs.unpersist()
        built.unpersist()
        return out
    finally:
        side.unpersist()


def validation_split(contacts: DataFrame, ctx: sources.Context, split: splits.Split) -> tuple[DataFrame, splits.Split]:
    """The same split family again, inside the training side of `split`: (training contacts, split)."""
    train = split.keep(contacts, "ts")
    return train, splits.make(train, ctx.cfg, split.as_of, split.name, ctx.cfg.validation_days)


def tune(ctx: sources.Context, contacts: DataFrame, split: splits.Split) -> tuple[AlsConfig, dict[str, float], list[Metric]]:
    """ALS hyperparameters by random search, then the blend weights, both scored by nDCG@k on validation."""
    cfg = ctx.cfg
    als_cfg, weights = cfg.als, dict(cfg.weights)
    if not (cfg.als.tune_trials and sources.on(ctx, "als")) and not cfg.weight_trials:
        return als_cfg, weights, []
    train, inner = validation_split(contacts, ctx, split)
    side = prepare(ctx, train, inner)
    metrics: list[Metric] = []
    try:
        power = splits.power(side.test, cfg, f"validation set ({inner.name})")
        if power.customers == 0 or side.strengths.limit(1).count() == 0:
            log.warning("no tuning: the validation split leaves no training data or no validation items")
            return als_cfg, weights, []
        k = cfg.top_k

        def ndcg(candidates: DataFrame) -> float:
            recs = hybrid.serve(candidates, side.excluded, ctx.products, k, cfg.max_per_category)
            return evaluate.ranking_metrics(evaluate.ranking_lists(recs, side.test, ctx.product_index), k)[f"ndcg@{k}"]

        if cfg.als.tune_trials and sources.on(ctx, "als"):
            trials = als.tune(ctx.spark, sources.with_indexes(ctx, side.strengths),
                              lambda model: ndcg(sources.als_candidates(ctx, model, side.users, cfg.candidates, side.excluded)), cfg.als)
            for t in trials:
                log.info("ALS rank %d reg %g alpha %g iterations %d: validation ndcg@%d %.4f",
                         t.cfg.rank, t.cfg.reg_param, t.cfg.alpha, t.cfg.max_iter, k, t.score)
            metrics += [Metric(MODEL, f"als_r{t.cfg.rank}_l{t.cfg.reg_param:g}_a{t.cfg.alpha:g}_i{t.cfg.max_iter}",
                               f"ndcg@{k}", t.score, "validation") for t in trials]
            best = trials[0].cfg
            als_cfg = replace(cfg.als, rank=best.rank, reg_param=best.reg_param, alpha=best.alpha, max_iter=best.max_iter)
        if cfg.weight_trials:
            weights, found = _tune_weights(ctx, side, als_cfg, ndcg)
            metrics += found
        return als_cfg, weights, metrics
    finally:
        side.unpersist()


def _tune_weights(ctx: sources.Context, side: Side, als_cfg: AlsConfig, ndcg) -> tuple[dict[str, float], list[Metric]]:
    """The configured weights against `weight_trials` random draws; the best on validation wins."""
    cfg = ctx.cfg
    built = sources.build(ctx, side.strengths, side.users, side.lines, side.excluded, als_cfg)
    try:
        names = [n for n in built.candidates if n not in ("als", "popular")]
        grid = [dict(zip(names, levels)) for levels in itertools.product(WEIGHT_LEVELS, repeat=len(names))]
        draws = random.Random(cfg.als.seed).sample(grid, min(cfg.weight_trials, len(grid)))
        popular = random.Random(cfg.als.seed + 1)
        pool = [dict(cfg.weights)] + [{**d, "als": 1.0, "popular": popular.choice(POPULAR_LEVELS)} for d in draws]
        scored = []
        for w in pool:
            value = ndcg(hybrid.blend(list(built.candidates.values()), w, cfg.rrf_k))
            log.info("blend %s: validation ndcg@%d %.4f", _label(w), cfg.top_k, value)
            scored.append((value, w))
        best_value, best = max(scored, key=lambda t: t[0])  # ties keep the configured weights (first)
        log.info("blend weights chosen on validation: %s (ndcg@%d %.4f)", _label(best), cfg.top_k, best_value)
        return best, [Metric(MODEL, f"blend_{_label(w)}", f"ndcg@{cfg.top_k}", v, "validation") for v, w in scored]
    finally:
        built.unpersist()


def _label(weights: Mapping[str, float]) -> str:
    return "_".join(f"{k}{v:g}" for k, v in sorted(weights.items()))


def end_of(contacts: DataFrame) -> dt.datetime:
    """Just after the latest contact: the end of every split."""
    return interactions.latest_ts(contacts) + dt.timedelta(seconds=1)
