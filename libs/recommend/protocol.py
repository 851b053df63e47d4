"""The evaluation protocol: every method on one split through the same serving rules, and the tuning of
ALS and the blend weights on a validation split of the same family inside the training side."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from dataclasses import dataclass, replace

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs.config import AlsConfig
from pmkt.libs.frames import union_all
from pmkt.libs.log import get_logger
from pmkt.libs.metrics import Metric
from pmkt.libs.recommend import als, evaluate, hybrid, interactions, sources, splits

log = get_logger(__name__)
MODEL = "recommend"
WEIGHT_LEVELS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)  # relative to ALS at 1: a blend depends only on ratios
POPULAR_LEVELS = (0.01, 0.05, 0.1, 0.25)  # never 0: popularity fills every list
RRF_LEVELS = (10, 30, 60)  # smaller: a source's first places count more against its later ones


@dataclass
class Side:
    """The training side of a split, ready to build sources from; `unpersist` when done."""

    strengths: DataFrame
    excluded: DataFrame | None
    lines: DataFrame | None
    users: DataFrame  # customers with at least one test item
    test: DataFrame

    def unpersist(self) -> None:
        self.users.unpersist()  # the rest are local checkpoints: their blocks go with the frames


def prepare(ctx: sources.Context, contacts: DataFrame, split: splits.Split) -> Side:
    """Checkpointed, not cached: every source and list then plans against one scan, not the split's windows and
    the contacts' reads again (a per-user split's plan ran to a million characters, with a warning from Spark)."""
    train = split.keep(contacts, "ts")
    strengths = interactions.strengths(train, ctx.cfg, split.as_of).localCheckpoint(eager=True)
    excluded = interactions.excluded(train, ctx.cfg)
    excluded = excluded.localCheckpoint(eager=True) if excluded is not None else None
    lines = split.keep(ctx.lines, "order_ts") if ctx.lines is not None else None
    test = split.test.localCheckpoint(eager=True)
    return Side(strengths, excluded, lines, test.select("customer_id").distinct().cache(), test)


METHOD = "method"


def method_lists(ctx: sources.Context, built: sources.Built, side: Side, mix: hybrid.Blend) -> DataFrame:
    """Each source alone and the hybrid, through the same serving rules, in one frame told apart by `method`."""
    candidates = [c.withColumn(METHOD, F.lit(name)) for name, c in built.candidates.items()]
    candidates.append(mix.of(list(built.candidates.values())).withColumn(METHOD, F.lit("hybrid")))
    return hybrid.serve(
        union_all(candidates), side.excluded, ctx.products, ctx.cfg.top_k, ctx.cfg.max_per_category, by=[METHOD]
    )


def evaluate_split(
    ctx: sources.Context, contacts: DataFrame, split: splits.Split, als_cfg: AlsConfig, mix: hybrid.Blend
) -> list[Metric]:
    """Every method's ranking metrics and coverage on `split`, with the test set's size and power."""
    cfg = ctx.cfg
    side = prepare(ctx, contacts, split)
    try:
        power = splits.power(side.test, cfg, f"recommendation test set ({split.name})")
        if power.customers == 0 or side.strengths.limit(1).count() == 0:
            log.warning(
                "no evaluation: the %s split leaves %s",
                split.name,
                "no training data" if power.customers else "no test items",
            )
            return []
        out = [
            Metric(MODEL, "all", "test_customers", float(power.customers), "test"),
            Metric(MODEL, "all", "test_pairs", float(power.pairs), "test"),
            Metric(MODEL, "all", "underpowered", 0.0 if power.enough else 1.0, "test"),
            Metric(MODEL, "all", f"split:{split.name}", 1.0, "test"),
        ]
        built = sources.build(ctx, side.strengths, side.users, side.lines, side.excluded, als_cfg)
        catalogue = (
            (ctx.products if ctx.products is not None else ctx.product_index).select("product_id").distinct().count()
        )  # one number
        methods = [*built.candidates, "hybrid"]
        # Checkpointed, not cached: the two queries below then plan against the lists, not every source again.
        recs = method_lists(ctx, built, side, mix).localCheckpoint(eager=True)
        lists = evaluate.ranking_lists(recs, side.test, ctx.product_index, METHOD, methods)
        scores = evaluate.ranking_metrics_by(lists, cfg.top_k, METHOD, methods)
        covered = evaluate.coverage_by(recs, catalogue, METHOD)
        for method in methods:
            values = {**scores[method], "coverage": covered.get(method, 0.0)}
            out += [Metric(MODEL, method, name, value, "test") for name, value in values.items()]
        built.unpersist()
        return out
    finally:
        side.unpersist()


def validation_split(contacts: DataFrame, ctx: sources.Context, split: splits.Split) -> tuple[DataFrame, splits.Split]:
    """The same split family again, inside the training side of `split`: (training contacts, split)."""
    train = split.keep(contacts, "ts")
    return train, splits.make(train, ctx.cfg, split.as_of, split.name, ctx.cfg.validation_days)


def tune(
    ctx: sources.Context, contacts: DataFrame, split: splits.Split
) -> tuple[AlsConfig, hybrid.Blend, list[Metric]]:
    """ALS hyperparameters by random search, then the blend, both scored by nDCG@k on validation."""
    cfg = ctx.cfg
    als_cfg, mix = cfg.als, hybrid.Blend(dict(cfg.weights), cfg.rrf_k)
    if not (cfg.als.tune_trials and sources.on(ctx, "als")) and not cfg.weight_trials:
        return als_cfg, mix, []
    train, inner = validation_split(contacts, ctx, split)
    side = prepare(ctx, train, inner)
    metrics: list[Metric] = []
    try:
        power = splits.power(side.test, cfg, f"validation set ({inner.name})")
        if not power.enough or side.strengths.limit(1).count() == 0:
            # Choosing among settings on a handful of customers picks noise: keep the configured ones.
            log.warning(
                "no tuning: the validation split is too small to choose settings on (%d customers, %d items); "
                "using the configured ALS settings and blend",
                power.customers,
                power.pairs,
            )
            return als_cfg, mix, []
        k = cfg.top_k

        def ndcg(candidates: DataFrame) -> float:
            recs = hybrid.serve(candidates, side.excluded, ctx.products, k, cfg.max_per_category)
            lists = evaluate.ranking_lists(recs, side.test, ctx.product_index)
            return evaluate.ranking_metrics(lists, k, ["ndcg"])[f"ndcg@{k}"]

        if cfg.als.tune_trials and sources.on(ctx, "als"):
            trials = als.tune(
                ctx.spark,
                sources.with_indexes(ctx, side.strengths),
                lambda model: ndcg(sources.als_candidates(ctx, model, side.users, cfg.candidates, side.excluded)),
                cfg.als,
            )
            for t in trials:
                log.info(
                    "ALS rank %d reg %g alpha %g iterations %d: validation ndcg@%d %.4f",
                    t.cfg.rank,
                    t.cfg.reg_param,
                    t.cfg.alpha,
                    t.cfg.max_iter,
                    k,
                    t.score,
                )
            metrics += [
                Metric(
                    MODEL,
                    f"als_r{t.cfg.rank}_l{t.cfg.reg_param:g}_a{t.cfg.alpha:g}_i{t.cfg.max_iter}",
                    f"ndcg@{k}",
                    t.score,
                    "validation",
                )
                for t in trials
            ]
            best = trials[0].cfg
            als_cfg = replace(
                cfg.als, rank=best.rank, reg_param=best.reg_param, alpha=best.alpha, max_iter=best.max_iter
            )
        if cfg.weight_trials:
            mix, found = _tune_blend(ctx, side, als_cfg, mix)
            metrics += found
        return als_cfg, mix, metrics
    finally:
        side.unpersist()


def _tune_blend(
    ctx: sources.Context, side: Side, als_cfg: AlsConfig, configured: hybrid.Blend
) -> tuple[hybrid.Blend, list[Metric]]:
    """The configured blend against `weight_trials` random draws of weights and rrf_k and each source alone; the
    best on validation wins.

    Every blend is served and ranked in one keyed pass; only nDCG is read for each.
    """
    cfg = ctx.cfg
    built = sources.build(ctx, side.strengths, side.users, side.lines, side.excluded, als_cfg)
    try:
        names = [n for n in built.candidates if n not in ("als", "popular")]
        grid = list(itertools.product(itertools.product(WEIGHT_LEVELS, repeat=len(names)), POPULAR_LEVELS, RRF_LEVELS))
        draws = random.Random(cfg.als.seed).sample(grid, min(cfg.weight_trials, len(grid)))
        pool = [configured] + [
            hybrid.Blend({**dict(zip(names, levels, strict=True)), "als": 1.0, "popular": popular}, rrf_k)
            for levels, popular, rrf_k in draws
        ]
        # Each source alone too (popularity only filling short lists): the blend served is never worse on
        # validation than the best single source, which the draws above (ALS always in) cannot promise.
        zero = dict.fromkeys(built.candidates, 0.0)
        pool += [
            hybrid.Blend({**zero, "popular": POPULAR_LEVELS[0], name: 1.0}, configured.rrf_k)
            for name in built.candidates
        ]
        labels = [f"{i}" for i in range(len(pool))]  # two draws may share a label's weights: number them
        candidates = list(built.candidates.values())
        blended = union_all(
            [mix.of(candidates).withColumn(METHOD, F.lit(i)) for i, mix in zip(labels, pool, strict=True)]
        )
        recs = hybrid.serve(blended, side.excluded, ctx.products, cfg.top_k, cfg.max_per_category, by=[METHOD])
        lists = evaluate.ranking_lists(recs, side.test, ctx.product_index, METHOD, labels)
        found = evaluate.ranking_metrics_by(lists, cfg.top_k, METHOD, labels, ["ndcg"])
        scored = [(found[i][f"ndcg@{cfg.top_k}"], mix) for i, mix in zip(labels, pool, strict=True)]
        for value, mix in scored:
            log.info("blend %s: validation ndcg@%d %.4f", mix.label, cfg.top_k, value)
        best_value, best = max(scored, key=lambda t: t[0])  # ties keep the configured blend (first)
        log.info("blend chosen on validation: %s (ndcg@%d %.4f)", best.label, cfg.top_k, best_value)
        return best, [Metric(MODEL, f"blend_{m.label}", f"ndcg@{cfg.top_k}", v, "validation") for v, m in scored]
    finally:
        built.unpersist()


def end_of(span: interactions.Span) -> dt.datetime:
    """Just after the latest contact: the end of every split. When no contact has a time, now (nothing decays)."""
    if span.latest is None:
        return dt.datetime.now().replace(microsecond=0)  # naive local time, as Spark returns timestamps
    return span.latest + dt.timedelta(seconds=1)
