"""`basket`: FPGrowth rules with an explosion guard; itemsets, rules, bought-together and cross-sell tables."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs import models, tables, tracking
from pmkt.libs.basket import crosssell, mining
from pmkt.libs.config import Config
from pmkt.libs.errors import MissingInput
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.metrics import Metric, append_metrics
from pmkt.libs.runner import run_job

log = get_logger(__name__)
MODEL = "basket"


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.basket
    lake = Lake(spark, config.lake)
    if not lake.exists(tables.SILVER["transactions"]):
        raise MissingInput("basket needs silver.order_lines: ingest a transactions source first")
    lines = lake.read(tables.SILVER["transactions"])
    products = lake.read(tables.SILVER["products"]) if lake.exists(tables.SILVER["products"]) else None
    with (
        tracking.model_run(lake, config, MODEL, config.basket) as run_id,
        timed(log, f"basket rules ({cfg.level} level)") as stats,
    ):
        baskets = mining.drop_frequent_items(mining.baskets_from(lines, products, cfg), cfg).cache()
        guarded = mining.guard(baskets, cfg)
        note = mining.support_note(guarded, cfg)
        if note:
            log.log(*note)
        log.info(
            "mining %s baskets at min_support %g (%s frequent itemsets)",
            f"{guarded.baskets:,}",
            guarded.min_support,
            f"{guarded.itemsets:,}",
        )
        model = mining.fit(baskets, cfg, guarded.min_support)
        lake.write(
            mining.itemsets(model, guarded.baskets, cfg, guarded.min_support),
            tables.FREQUENT_ITEMSETS,
            mode="overwrite",
        )
        lake.write(
            mining.rules(model, guarded.baskets, cfg, guarded.min_support), tables.ASSOCIATION_RULES, mode="overwrite"
        )
        rules = lake.read(tables.ASSOCIATION_RULES)
        lake.write(mining.bought_together(rules, cfg), tables.BOUGHT_TOGETHER, mode="overwrite")
        if cfg.level == "product":
            recent = crosssell.recent_items(lines, cfg.crosssell_last_orders)
            lake.write(
                crosssell.candidates(model, rules, recent, cfg.crosssell_top_n), tables.CROSS_SELL, mode="overwrite"
            )
        n_rules = rules.count()
        stats["rows"] = n_rules
        if not n_rules:
            log.warning(mining.no_rules_note(model, guarded, cfg))
        baskets.unpersist()
        models.save(
            config,
            MODEL,
            PipelineModel(stages=[model]),
            {"min_support_used": guarded.min_support, "baskets": guarded.baskets, "level": cfg.level},
        )
        append_metrics(
            spark,
            lake,
            [
                Metric(MODEL, "fpgrowth", "rules", float(n_rules), cfg.level),
                Metric(MODEL, "fpgrowth", "min_support_requested", cfg.min_support, cfg.level),
                Metric(MODEL, "fpgrowth", "min_support_used", guarded.min_support, cfg.level),
                Metric(MODEL, "fpgrowth", "baskets", float(guarded.baskets), cfg.level),
            ],
            run_id,
        )
    for r in rules.orderBy(F.desc("lift")).limit(5).collect():  # the five strongest rules, for the log
        log.info(
            "rule %s -> %s  support %.4f confidence %.2f lift %.1f",
            "+".join(r.antecedent),
            "+".join(r.consequent),
            r.support,
            r.confidence,
            r.lift,
        )


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("basket", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
