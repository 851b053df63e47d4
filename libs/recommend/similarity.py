"""Item-item neighbours: co-occurrence cosine and TF-IDF content (`libs.recommend.scoring` scores customers).

Neighbour tables have the columns of `gold.similar_items`: product_id, neighbour_id, similarity,
common (customers shared; null for content), rank, method.
"""

from __future__ import annotations

import math

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import (
    IDF,
    BucketedRandomProjectionLSH,
    HashingTF,
    Normalizer,
    RegexTokenizer,
    SQLTransformer,
    StopWordsRemover,
)
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pmkt.libs.recommend.interactions import KIND_VERB

NEIGHBOURS = ("product_id", "neighbour_id", "similarity", "common", "rank", "method")


def strongest_items(strengths: DataFrame, per_customer: int) -> DataFrame:
    """Each customer's `per_customer` strongest items: bounds the pairs a heavy customer adds."""
    order = Window.partitionBy("customer_id").orderBy(F.desc("strength"), F.desc("last_ts"), "product_id")
    return strengths.withColumn("_n", F.row_number().over(order)).where(F.col("_n") <= per_customer).drop("_n")


def cooccurrence(items: DataFrame, neighbours: int, min_common: int) -> DataFrame:
    """Cosine of the customer sets: |U_i ∩ U_j| / sqrt(|U_i| · |U_j|), top `neighbours` per item."""
    pairs = items.select("customer_id", "product_id").distinct()
    sizes = pairs.groupBy("product_id").agg(F.count(F.lit(1)).alias("n"))
    common = (
        pairs.alias("a")
        .join(pairs.alias("b"), on="customer_id", how="inner")
        .where(F.col("a.product_id") < F.col("b.product_id"))
        .groupBy(F.col("a.product_id").alias("i"), F.col("b.product_id").alias("j"))
        .agg(F.count(F.lit(1)).alias("common"))
        .where(F.col("common") >= min_common)
    )
    n_i, n_j = (
        sizes.select(F.col("product_id").alias("i"), F.col("n").alias("n_i")),
        sizes.select(F.col("product_id").alias("j"), F.col("n").alias("n_j")),
    )
    scored = (
        common.join(n_i, on="i", how="inner")
        .join(n_j, on="j", how="inner")
        .select("i", "j", "common", (F.col("common") / F.sqrt(F.col("n_i") * F.col("n_j"))).alias("similarity"))
    )
    return _top(_both_ways(scored), neighbours, "itemcf")


def content_model(products: DataFrame, num_features: int) -> PipelineModel:
    """TF-IDF over name and description words plus one token each for category and brand, L2-normalised."""
    return Pipeline(
        stages=[
            RegexTokenizer(inputCol="text", outputCol="words", pattern="[^\\p{L}\\p{N}]+", minTokenLength=2),
            StopWordsRemover(inputCol="words", outputCol="plain"),
            SQLTransformer(statement="SELECT *, concat(plain, labels) AS tokens FROM __THIS__"),
            HashingTF(inputCol="tokens", outputCol="tf", numFeatures=num_features),
            IDF(inputCol="tf", outputCol="tfidf"),
            Normalizer(inputCol="tfidf", outputCol="features", p=2.0),
        ]
    ).fit(content_text(products))


def content_text(products: DataFrame) -> DataFrame:
    """`text` for the tokenizer, and `labels`: category and brand tokens, added after stop-word removal."""

    def token(prefix: str, col: str) -> Column:
        return F.when(F.col(col).isNotNull(), F.concat(F.lit(prefix), F.regexp_replace(F.lower(col), "\\s+", "_")))

    return products.select(
        "product_id",
        F.concat_ws(" ", F.coalesce("product_name", F.lit("")), F.coalesce("description", F.lit(""))).alias("text"),
        F.array_compact(F.array(token("category:", "category"), token("brand:", "brand"))).alias("labels"),
    )


def content_vectors(model: PipelineModel, products: DataFrame) -> DataFrame:
    """(product_id, features): unit TF-IDF vectors."""
    return model.transform(content_text(products)).select("product_id", "features")


def content_exact(vectors: DataFrame, neighbours: int, min_similarity: float) -> DataFrame:
    """Exact cosine (dot product of unit vectors) through a join on shared terms."""
    terms = vectors.select("product_id", F.posexplode(vector_to_array(F.col("features"))).alias("term", "w")).where(
        F.col("w") != 0
    )
    dots = (
        terms.alias("a")
        .join(terms.alias("b"), on="term", how="inner")
        .where(F.col("a.product_id") < F.col("b.product_id"))
        .groupBy(F.col("a.product_id").alias("i"), F.col("b.product_id").alias("j"))
        .agg(F.sum(F.col("a.w") * F.col("b.w")).alias("similarity"))
        .where(F.col("similarity") >= min_similarity)
    )
    return _top(_both_ways(dots.withColumn("common", F.lit(None).cast("long"))), neighbours, "content")


def content_lsh(
    vectors: DataFrame, neighbours: int, min_similarity: float, bucket_length: float, tables: int, seed: int
) -> DataFrame:
    """Approximate neighbours for large catalogues: for unit vectors, cosine = 1 - distance^2 / 2."""
    lsh = BucketedRandomProjectionLSH(
        inputCol="features", outputCol="hashes", bucketLength=bucket_length, numHashTables=tables, seed=seed
    ).fit(vectors)
    threshold = math.sqrt(max(2.0 * (1.0 - min_similarity), 0.0))
    joined = lsh.approxSimilarityJoin(vectors, vectors, threshold, distCol="distance").select(
        F.col("datasetA.product_id").alias("i"),
        F.col("datasetB.product_id").alias("j"),
        (1.0 - F.pow("distance", 2) / 2.0).alias("similarity"),
    )
    pairs = joined.where(F.col("i") < F.col("j")).withColumn("common", F.lit(None).cast("long"))
    return _top(_both_ways(pairs), neighbours, "content")


def because(source: str, anchor_id: Column, anchor_kind: Column) -> Column:
    """'because you bought P-17' from an anchor item and the strongest kind of contact with it."""
    verb = F.create_map(*[F.lit(x) for kv in KIND_VERB.items() for x in kv])[anchor_kind]
    return F.when(anchor_id.isNotNull(), F.concat(F.lit(f"{source}: because you "), verb, F.lit(" "), anchor_id))


def _both_ways(pairs: DataFrame) -> DataFrame:
    forward = pairs.select(F.col("i").alias("product_id"), F.col("j").alias("neighbour_id"), "similarity", "common")
    backward = pairs.select(F.col("j").alias("product_id"), F.col("i").alias("neighbour_id"), "similarity", "common")
    return forward.unionByName(backward)


def _top(pairs: DataFrame, neighbours: int, method: str) -> DataFrame:
    order = Window.partitionBy("product_id").orderBy(F.desc("similarity"), "neighbour_id")
    return (
        pairs.withColumn("rank", F.row_number().over(order))
        .where(F.col("rank") <= neighbours)
        .select(
            "product_id",
            "neighbour_id",
            "similarity",
            F.col("common").cast("long").alias("common"),
            "rank",
            F.lit(method).alias("method"),
        )
    )
