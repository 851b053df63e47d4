"""Scoring customers from item neighbours (item-CF, content) with numpy on the executors.

A customer's score for a candidate j is sum_i w_ui · sim(i, j) over the customer's items i. A join and a
group-by over (customer, candidate) would shuffle items × neighbours rows per customer; here each
customer's items stream through `mapInArrow` once, against the neighbour lists that travel with the
function (items × neighbours entries, bounded by the catalogue, as ALS's item factors are).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

OUTPUT = "customer_id string, product_id string, score double, anchor_id string, anchor_kind string"


class Neighbours:
    """Neighbour lists in compressed rows, items numbered in product-id order (so ties break by product id)."""

    def __init__(self, table: pa.Table) -> None:
        ids = pc.unique(pa.concat_arrays([table.column(c).combine_chunks() for c in ("product_id", "neighbour_id")]))
        self.ids = np.sort(ids.to_numpy(zero_copy_only=False).astype(str))
        src = self.index(table.column("product_id").to_numpy(zero_copy_only=False).astype(str))
        dst = self.index(table.column("neighbour_id").to_numpy(zero_copy_only=False).astype(str))
        order = np.argsort(src, kind="stable")
        self.indptr = np.searchsorted(src[order], np.arange(len(self.ids) + 1))
        self.indices = dst[order]
        self.data = table.column("similarity").to_numpy(zero_copy_only=False).astype(np.float64)[order]

    def index(self, products: np.ndarray) -> np.ndarray:
        """Positions of `products` among the ids; -1 where a product has no neighbour list at all."""
        at = np.searchsorted(self.ids, products).clip(max=max(len(self.ids) - 1, 0))
        found = (self.ids[at] == products) if len(self.ids) else np.zeros(len(products), dtype=bool)
        return np.where(found, at, -1)


def score_customers(
    items: DataFrame, neighbours: DataFrame, n: int, normalise: bool, excluded: DataFrame | None = None
) -> DataFrame:
    """(customer_id, product_id, score, anchor_id, anchor_kind): each customer's `n` best candidates.

    score(u, j) = sum_i w_ui · sim(i, j), divided by sum_i w_ui when `normalise` (then it is the dot
    product of j with the customer's weighted-mean profile, over the kept neighbours). The anchor is the
    item contributing most: the "because you viewed X" of the reason. `excluded` (customer, product)
    pairs are dropped before the top `n` are kept; ties rank by product id.
    """
    lists = Neighbours(neighbours.select("product_id", "neighbour_id", "similarity").toArrow())  # bounded by items
    rows = items.groupBy("customer_id").agg(
        F.collect_list(F.struct("product_id", F.col("strength").cast("double").alias("strength"), "kind")).alias(
            "items"
        )
    )
    if excluded is not None:
        gone = excluded.groupBy("customer_id").agg(F.collect_list("product_id").alias("excluded"))
        rows = rows.join(gone, on="customer_id", how="left")
    else:
        rows = rows.withColumn("excluded", F.lit(None).cast("array<string>"))

    def score(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        for batch in batches:
            yield _score_batch(batch, lists, n, normalise)

    return rows.select("customer_id", "items", "excluded").mapInArrow(score, schema=OUTPUT)


def _score_batch(batch: pa.RecordBatch, lists: Neighbours, n: int, normalise: bool) -> pa.RecordBatch:
    customers = batch.column("customer_id")
    items = batch.column("items")
    flat = pc.list_flatten(items)
    owner = pc.list_parent_indices(items).to_numpy()
    product = lists.index(flat.field("product_id").to_numpy(zero_copy_only=False).astype(str))
    strength = flat.field("strength").to_numpy(zero_copy_only=False).astype(np.float64)
    kind = np.asarray(flat.field("kind").to_pylist(), dtype=object)
    totals = np.bincount(owner, weights=strength, minlength=batch.num_rows)
    excluded = batch.column("excluded")
    gone_owner = pc.list_parent_indices(excluded).to_numpy()
    gone = lists.index(pc.list_flatten(excluded).to_numpy(zero_copy_only=False).astype(str))
    # One row per (item of a customer, neighbour of that item): the contributions.
    has = product >= 0
    counts = np.where(has, lists.indptr[product + 1] - lists.indptr[product], 0)
    source = np.repeat(np.arange(len(product)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    at = lists.indptr[product[source]] + offset
    candidate, part = lists.indices[at], strength[source] * lists.data[at]
    user = owner[source]
    size = len(lists.ids) + 1
    pairs, inverse = np.unique(user.astype(np.int64) * size + candidate, return_inverse=True)
    scores = np.bincount(inverse, weights=part, minlength=len(pairs))
    strongest = np.lexsort((-part, inverse))  # per pair, the largest contribution first
    first = strongest[np.r_[0, np.flatnonzero(np.diff(inverse[strongest])) + 1]] if len(pairs) else strongest
    pair_user, pair_item = pairs // size, pairs % size
    keep = ~np.isin(pairs, gone_owner.astype(np.int64) * size + gone)
    if normalise:
        scores = scores / totals[pair_user]
    pair_user, pair_item, scores, first = pair_user[keep], pair_item[keep], scores[keep], first[keep]
    order = np.lexsort((pair_item, -scores, pair_user))
    rank = np.arange(len(order)) - np.searchsorted(pair_user[order], pair_user[order])
    top = order[rank < n]
    anchor = source[first[top]]
    return pa.RecordBatch.from_arrays(
        [
            customers.take(pa.array(pair_user[top], pa.int64())),
            pa.array(lists.ids[pair_item[top]].astype(object), pa.string()),
            pa.array(scores[top], pa.float64()),
            pa.array(lists.ids[product[anchor]].astype(object), pa.string()),
            pa.array(kind[anchor], pa.string()),
        ],
        names=["customer_id", "product_id", "score", "anchor_id", "anchor_kind"],
    )
