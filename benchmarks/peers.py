"""pmkt's Spark steps against the single-node tools a team uses today, on the same data, in the same run.

    .venv/bin/python -m benchmarks.peers --lake lakehouse     # a lake the demo pipeline (or the scale run) built
    (benchmarks.scale runs it after the pipeline at every scale factor)

The lake's tables are exported to Parquet first (not timed); then each pair does the same work on it:

    features  the order and event feature groups of one snapshot (MLlib-free Spark SQL)  vs pandas
    kmeans    KMeans (k = 4) on the standardised segment features, iterations as configured  vs scikit-learn
    logreg    logistic regression on the churn training rows (16 features)  vs scikit-learn (lbfgs)
    fpgrowth  frequent itemsets and rules of the order baskets at the configured support  vs mlxtend
    als       implicit ALS fit, then top-10 for every customer without seen items  vs implicit

Each timing is the median of `--repeats` runs, and each pair checks that both sides found the same answer
(row totals, itemset counts, clustering cost, training AUC) so a fast wrong peer can't win.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's own advice when benchmarking it

ROOT = Path(__file__).resolve().parent.parent

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from pmkt.libs.config import Config
    from pmkt.libs.lake import Lake


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def export(spark: SparkSession, lake: Lake, work: Path, config: Config) -> dict[str, str]:
    """The inputs of every pair as Parquet files (Spark writes them; nothing is collected)."""
    from pyspark.sql import functions as F

    from pmkt.libs import tables
    from pmkt.libs.basket import mining
    from pmkt.libs.c360 import inputs as c360_inputs
    from pmkt.libs.c360 import snapshot
    from pmkt.libs.churn import labels
    from pmkt.libs.frames import union_all
    from pmkt.libs.recommend import interactions, protocol

    paths = {}

    def save(name: str, df: DataFrame) -> None:
        paths[name] = str(work / f"{name}.parquet")
        df.write.mode("overwrite").parquet(paths[name])

    inputs = c360_inputs.load(lake)
    lines, events = _present(inputs.lines, "silver.order_lines"), _present(inputs.events, "silver.events")
    save("lines", lines.select("customer_id", "order_id", "order_ts", "amount", "quantity"))
    save("events", events.select("customer_id", "event_type", "event_ts", "device", "session_id"))
    save("segment_rows", _present(lake.latest_rows(tables.CUSTOMER_FEATURES), "gold.customer_features"))
    cfg = config.churn
    last_day = c360_inputs.default_cutoff(inputs)
    train_days, _ = labels.labelled_cutoffs(last_day, cfg.horizon_days, cfg.train_cutoffs, cfg.step_days)
    feats = snapshot.build_many(inputs, train_days, config.features)
    labelled = [
        feats.where(F.col("snapshot_date") == F.lit(d)).join(
            labels.churn_labels(lines, d, cfg.horizon_days, cfg.activity_days),
            on=["customer_id", "snapshot_date"],
            how="inner",
        )
        for d in train_days
    ]
    numeric = [c for c in cfg.numeric_features if c in feats.columns]
    churn_rows = union_all(labelled)
    save(
        "churn_rows",
        churn_rows.select(
            *[F.coalesce(F.col(c).cast("double"), F.lit(0.0)).alias(c) for c in numeric],
            F.col(labels.LABEL).cast("double").alias("label"),
        ),
    )
    save("baskets", mining.baskets_from(lines, inputs.products, config.basket).select("items"))
    feedback = interactions.load(lake, config.recommend)
    end = protocol.end_of(interactions.span(feedback.contacts))
    strengths = interactions.strengths(feedback.contacts, config.recommend, end)
    users = lake.read(tables.CUSTOMER_INDEX).select("customer_id", "user_idx")
    items = lake.read(tables.PRODUCT_INDEX).select("product_id", "item_idx")
    save(
        "strengths",
        strengths.join(users, on="customer_id", how="inner")
        .join(items, on="product_id", how="inner")
        .select("user_idx", "item_idx", F.col("strength").cast("float").alias("strength")),
    )
    return {**paths, "cutoff": last_day.isoformat(), "numeric": ",".join(numeric)}


def _present(df: DataFrame | None, table: str) -> DataFrame:
    if df is None:  # the pairs read the demo world's tables, which the demo and the scale runs write
        raise SystemExit(f"the lake has no {table}: the peers need the demo's world")
    return df


def features_pair(spark: SparkSession, paths: dict[str, str], windows: list[int], repeats: int) -> dict:
    import pandas as pd
    from pyspark.sql import functions as F

    from pmkt.libs.c360 import features as fx
    from pmkt.libs.frames import one

    cutoff = dt.date.fromisoformat(paths["cutoff"])

    def spark_side() -> dict[str, float]:
        days = fx.cutoff_frame(spark, [cutoff])
        lines, events = spark.read.parquet(paths["lines"]), spark.read.parquet(paths["events"])
        orders = fx.order_features(lines, None, days, windows).cache()
        evs = fx.event_features(fx.event_rows(events), days, windows).cache()
        out = {
            **one(orders.agg(F.sum("frequency").alias("orders"), F.sum("monetary").alias("monetary"))).asDict(),
            **one(evs.agg(F.sum("events").alias("events"), F.sum("sessions").alias("sessions"))).asDict(),
        }
        orders.unpersist()
        evs.unpersist()
        return out

    def pandas_side() -> dict[str, float]:
        at = pd.Timestamp(cutoff)
        lines = _naive(pd.read_parquet(paths["lines"]), "order_ts")
        lines = lines[lines["order_ts"] < at]
        orders = (
            lines.groupby(["customer_id", "order_id"], sort=False)
            .agg(order_ts=("order_ts", "min"), amount=("amount", "sum"), items=("quantity", "sum"))
            .reset_index()
        )
        orders["ago"] = (at - orders["order_ts"].dt.normalize()).dt.days
        agg = {
            "recency_days": ("ago", "min"),
            "first_order_days": ("ago", "max"),
            "frequency": ("order_id", "size"),
            "monetary": ("amount", "sum"),
            "avg_items_per_order": ("items", "mean"),
        }
        for d in windows:
            orders[f"in_{d}"] = orders["ago"].between(1, d)
            orders[f"rev_{d}"] = orders["amount"].where(orders[f"in_{d}"], 0.0)
            agg |= {f"orders_{d}d": (f"in_{d}", "sum"), f"revenue_{d}d": (f"rev_{d}", "sum")}
        per_customer = orders.groupby("customer_id", sort=False).agg(**agg)
        per_customer["avg_order_value"] = per_customer["monetary"] / per_customer["frequency"]
        events = _naive(pd.read_parquet(paths["events"]), "event_ts")
        events = events[events["event_ts"] < at]
        events["ago"] = (at - events["event_ts"].dt.normalize()).dt.days
        flags = {f"{k}s": events["event_type"] == k for k in ("view", "click", "purchase")}
        flags |= {"carts": events["event_type"] == "add_to_cart", "mobile": events["device"] == "mobile"}
        flags |= {f"events_{d}d": events["ago"].between(1, d) for d in windows}
        flags["prior_90d"] = events["ago"].between(31, 120)
        table = events[["customer_id", "session_id", "ago"]].assign(**flags)
        grouped = table.groupby("customer_id", sort=False)
        evs = (
            grouped[[*flags]]
            .sum()
            .join(
                grouped.agg(
                    sessions=("session_id", "nunique"),
                    events=("ago", "size"),
                    last=("ago", "min"),
                    first=("ago", "max"),
                )
            )
        )
        evs["conversion_rate"] = evs["purchases"] / evs["views"].where(evs["views"] > 0)
        evs["views_per_session"] = evs["views"] / evs["sessions"].where(evs["sessions"] > 0)
        return {
            "orders": float(per_customer["frequency"].sum()),
            "monetary": float(per_customer["monetary"].sum()),
            "events": float(evs["events"].sum()),
            "sessions": float(evs["sessions"].sum()),
        }

    return _pair("features", spark_side, pandas_side, repeats, rel=1e-9)


def _naive(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Spark writes UTC instants; compare them as the UTC wall clock, as the Spark session does."""
    if getattr(frame[column].dt, "tz", None) is not None:
        frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


def kmeans_pair(spark: SparkSession, paths: dict[str, str], config: Config, repeats: int) -> dict:
    import numpy as np
    from pyspark.ml import Pipeline
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F
    from sklearn.cluster import KMeans as SkKMeans

    from pmkt.libs.c360 import segmentation as seg

    cfg = config.segment
    rows = seg.prepare(spark.read.parquet(paths["segment_rows"]), cfg.features)
    k = 4
    scaled = Pipeline(stages=seg.prep_stages(cfg, list(cfg.features))).fit(rows).transform(rows).select(seg.SCALED)
    scaled = scaled.cache()
    matrix_path = paths["segment_rows"] + ".matrix"
    scaled.select(vector_to_array(F.col(seg.SCALED)).alias("x")).write.mode("overwrite").parquet(matrix_path)
    import pyarrow.parquet as pq

    def spark_side() -> float:
        kmeans = KMeans(k=k, maxIter=cfg.max_iter, seed=cfg.seed, featuresCol=seg.SCALED, initMode="k-means||")
        model = kmeans.fit(scaled)
        return float(model.summary.trainingCost)

    def sklearn_side() -> float:
        x = np.vstack(pq.read_table(matrix_path).column("x").to_pylist())
        model = SkKMeans(n_clusters=k, max_iter=cfg.max_iter, n_init=1, random_state=cfg.seed).fit(x)
        return float(model.inertia_)

    # Different seeding (k-means|| against k-means++) may settle in different local optima: costs within 10%.
    out = _pair("kmeans", spark_side, sklearn_side, repeats, rel=0.10)
    scaled.unpersist()
    return out


def logreg_pair(spark: SparkSession, paths: dict[str, str], config: Config, repeats: int) -> dict:
    import numpy as np
    import pandas as pd
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.feature import VectorAssembler
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression
    from sklearn.metrics import roc_auc_score

    numeric = paths["numeric"].split(",")
    reg = 0.01
    data = VectorAssembler(inputCols=numeric, outputCol="features").transform(spark.read.parquet(paths["churn_rows"]))
    data = data.select("features", "label").cache()
    n = data.count()

    def spark_side() -> float:
        model = LogisticRegression(regParam=reg, maxIter=100, labelCol="label").fit(data)
        return BinaryClassificationEvaluator(labelCol="label").evaluate(model.transform(data))

    def sklearn_side() -> float:
        frame = pd.read_parquet(paths["churn_rows"])
        x, y = frame[numeric].to_numpy(), frame["label"].to_numpy()
        mean, std = x.mean(axis=0), x.std(axis=0)
        z = (x - mean) / np.where(std > 0, std, 1.0)  # MLlib standardises internally; so does the peer
        model = SkLogisticRegression(C=1.0 / (reg * n), max_iter=100).fit(z, y)
        return float(roc_auc_score(y, model.decision_function(z)))

    out = _pair("logreg", spark_side, sklearn_side, repeats, rel=0.01)
    data.unpersist()
    return out


def fpgrowth_pair(spark: SparkSession, paths: dict[str, str], config: Config, repeats: int) -> dict:
    import pandas as pd
    from mlxtend.frequent_patterns import association_rules, fpgrowth
    from mlxtend.preprocessing import TransactionEncoder
    from pyspark.ml.fpm import FPGrowth

    cfg = config.basket
    baskets = spark.read.parquet(paths["baskets"]).cache()
    baskets.count()

    def spark_side() -> dict[str, float]:
        model = FPGrowth(itemsCol="items", minSupport=cfg.min_support, minConfidence=cfg.min_confidence).fit(baskets)
        return {"itemsets": float(model.freqItemsets.count()), "rules": float(model.associationRules.count())}

    def mlxtend_side() -> dict[str, float]:
        items = pd.read_parquet(paths["baskets"])["items"].tolist()
        encoder = TransactionEncoder()
        onehot = pd.DataFrame(encoder.fit(items).transform(items, sparse=False), columns=encoder.columns_)
        found = fpgrowth(onehot, min_support=cfg.min_support, use_colnames=True)
        rules = association_rules(found, num_itemsets=len(items), metric="confidence", min_threshold=cfg.min_confidence)
        single = rules[rules["consequents"].apply(len) == 1]  # MLlib's rules have one consequent
        return {"itemsets": float(len(found)), "rules": float(len(single))}

    out = _pair("fpgrowth", spark_side, mlxtend_side, repeats, rel=0.0)
    baskets.unpersist()
    return out


def als_pair(spark: SparkSession, paths: dict[str, str], config: Config, repeats: int) -> dict:
    import implicit
    import numpy as np
    import pyarrow.parquet as pq
    import scipy.sparse as sp

    from pmkt.libs.recommend import als

    cfg = config.recommend.als
    strengths = spark.read.parquet(paths["strengths"]).cache()
    strengths.count()
    seen = strengths.select(als.USER, als.ITEM)

    def spark_side() -> dict[str, float]:
        model = als.fit(spark, strengths, cfg)
        recs = als.candidates(model, strengths.select(als.USER), 10, seen)
        return {"lists": float(recs.select(als.USER).distinct().count()), "rows": float(recs.count())}

    def implicit_side() -> dict[str, float]:
        table = pq.read_table(paths["strengths"])
        users, items = table[als.USER].to_numpy(), table[als.ITEM].to_numpy()
        matrix = sp.csr_matrix(
            (table["strength"].to_numpy(), (users, items)), shape=(int(users.max()) + 1, int(items.max()) + 1)
        )
        model = implicit.cpu.als.AlternatingLeastSquares(
            factors=cfg.rank,
            regularization=cfg.reg_param,
            alpha=cfg.alpha,
            iterations=cfg.max_iter,
            random_state=1,
            num_threads=os.cpu_count() or 1,
            use_cg=False,
        )
        model.fit(matrix, show_progress=False)
        who = np.unique(users).astype(np.int32)
        ids, scores = model.recommend(who, matrix[who], N=10, filter_already_liked_items=True)
        return {"lists": float(len(who)), "rows": float((np.isfinite(scores) & (ids >= 0)).sum())}

    out = _pair("als", spark_side, implicit_side, repeats, rel=0.01)
    strengths.unpersist()
    return out


def _pair(name: str, pmkt: Callable[[], Any], peer: Callable[[], Any], repeats: int, rel: float) -> dict:
    pmkt_s, mine = median_time(pmkt, repeats)
    peer_s, theirs = median_time(peer, repeats)
    agree = _close(mine, theirs, rel)
    print(
        f"{name:9s} pmkt {pmkt_s:7.2f}s  peer {peer_s:7.2f}s  pmkt/peer {pmkt_s / peer_s:6.2f}  "
        f"same answer: {agree} ({mine} vs {theirs})",
        flush=True,
    )
    return {
        "pair": name,
        "pmkt_s": round(pmkt_s, 3),
        "peer_s": round(peer_s, 3),
        "ratio": round(pmkt_s / peer_s, 2),
        "pmkt": mine,
        "peer": theirs,
        "agree": agree,
    }


def _close(a: Any, b: Any, rel: float) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], rel) for k in a)
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


def measure(spark: SparkSession, config: Config, work: Path, repeats: int) -> list[dict]:
    """Every pair on the lake of `config`; scratch files under `work`."""
    from pmkt.libs.lake import Lake

    work.mkdir(parents=True, exist_ok=True)
    spark.sparkContext.setJobGroup("peers", "benchmark peers")
    paths = export(spark, Lake(spark, config.lake), work, config)
    return [
        features_pair(spark, paths, list(config.features.windows), repeats),
        kmeans_pair(spark, paths, config, repeats),
        logreg_pair(spark, paths, config, repeats),
        fpgrowth_pair(spark, paths, config, repeats),
        als_pair(spark, paths, config, repeats),
    ]


def table(by_factor: dict[str, list[dict]]) -> str:
    """Markdown: per pair, pmkt and peer seconds and the ratio at each scale."""
    factors = list(by_factor)
    head = ["pair", *[f"{f} pmkt s | {f} peer s | {f} pmkt/peer" for f in factors]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * (1 + 3 * len(factors))]
    for i, row in enumerate(by_factor[factors[0]]):
        cells = [row["pair"]]
        for f in factors:
            r = by_factor[f][i]
            cells += [f"{r['pmkt_s']:.2f}", f"{r['peer_s']:.2f}", f"{r['ratio']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf-file", default=str(ROOT / "conf" / "local.yaml"))
    parser.add_argument("--lake", help="lake root (default: the conf's)")
    parser.add_argument("--work", default="/tmp/pmkt-peers")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--driver-memory", default="2g")
    args = parser.parse_args()
    from pmkt.libs.config import load_config
    from pmkt.libs.session import get_spark

    sets = [f"spark.options.spark.driver.memory={args.driver_memory}", "spark.master=local[*]"]
    if args.lake:
        sets.append(f"lake.root={args.lake}")
    config = load_config(args.conf_file, sets)
    spark = get_spark(config)
    results = measure(spark, config, Path(args.work), args.repeats)
    spark.stop()
    print("\n" + table({"1x": results}))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
