"""Top-K product recommendations per customer: what they buy again, what is bought with it,
and what is popular.

Research on next-basket data finds a customer's own purchase frequency hard to beat for
products they have bought before, and judges repeat and new products apart; so does this
module. One score orders three sources:

* repeat (score 2-3): products the customer bought before, more purchases first, the more
  popular first among equals;
* co-purchase (score 1-2): products they have not bought among the NEIGHBOURS most similar
  (cosine of buyer sets) of each product they have, by the mean similarity to those;
* popular (score 0-1): everything else by its share of purchases; customers without a
  purchase get these only.

Memory is bounded by a chunk of customers' candidates and the neighbour lists, never by
customers x products (docs/decisions/0017-recommendations-from-item-neighbours-in-chunks.md).
`evaluate` fits on the purchases before the last H days and measures recall@K and NDCG@K on
what customers bought in those days, against personal top frequency and popularity, for
repeat and new products separately.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from scipy import sparse

K = 10
NEIGHBOURS = 50  # products kept as each product's co-purchase neighbours
# Candidate (customer, product) scores held at once: a chunk of customers is as many as fit,
# so peak memory is set by this bound, not by customers x products.
CHUNK_CELLS = 4_000_000
BLOCK_CELLS = 20_000_000  # products x products co-purchase cells worked out at once in `fit`
EMPTY = pd.DataFrame({"customer_id": pd.Series(dtype=object), "product_id": pd.Series(dtype=object),
                      "rank": pd.Series(dtype="int64"), "score": pd.Series(dtype="float64")})


@dataclass
class Recommender:
    customers: pd.Index
    products: pd.Index
    counts: sparse.csr_matrix  # customers x products purchase counts
    neighbours: sparse.csr_matrix  # products x products: each product's NEIGHBOURS most similar, cosine
    popularity: np.ndarray  # each product's share of purchases

    @classmethod
    def fit(cls, purchases: pd.DataFrame) -> Recommender:
        """From rows of customer_id, product_id, purchases (> 0), in any order: the warehouse
        returns rows in no fixed order, and the products' order breaks ties between equal
        scores, so it is sorted first (the same date recommends the same products every run)."""
        purchases = purchases[purchases["purchases"] > 0].sort_values(["product_id", "customer_id"])
        customers = pd.Index(purchases["customer_id"].unique())
        products = pd.Index(purchases["product_id"].unique())
        counts = sparse.csr_matrix(
            (purchases["purchases"].to_numpy("float32"),
             (customers.get_indexer(purchases["customer_id"]), products.get_indexer(purchases["product_id"]))),
            shape=(len(customers), len(products)))
        total = np.asarray(counts.sum(axis=0)).ravel().astype("float64")
        return cls(customers, products, counts, _neighbours(counts), total / max(total.sum(), 1.0))

    def scores(self, rows: np.ndarray, new_only: bool = False) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        """The scores of each customer row's candidates (-1: a customer without purchases, who has
        none), and what each bought: the products they bought (2-3, more purchases higher;
        none with `new_only`) and their neighbours (1-2, by the mean similarity to what they
        bought). Every other product scores its popularity (below 1), which `top` fills in."""
        known = (rows >= 0).astype("float32")
        repeat = (sparse.diags(known) @ self.counts[np.where(rows >= 0, rows, 0)]).tocsr()
        repeat.eliminate_zeros()
        bought = (repeat > 0).astype("float32")
        per_bought = 1 / np.maximum(np.asarray(bought.sum(axis=1)).ravel(), 1)
        copurchase = sparse.diags(per_bought) @ (bought @ self.neighbours)
        copurchase = (copurchase - copurchase.multiply(bought)).tocsr()  # what they bought scores as repeat
        copurchase.eliminate_zeros()
        copurchase.data = 1 + np.minimum(copurchase.data, 0.999)
        if new_only:
            return copurchase, bought.tocsr()
        repeat.data = 2 + repeat.data / (1 + repeat.data)
        return (repeat + copurchase).tocsr(), bought.tocsr()

    def recommend(self, customer_ids: pd.Series, k: int = K, new_only: bool = False) -> pd.DataFrame:
        """customer_id, product_id, rank (1 = best), score, source for every customer given; none
        in a shop without order lines (CDNOW), which has no products to recommend. `new_only`:
        products the customer has not bought."""
        ids = pd.Index(customer_ids.astype(str).unique())
        k = min(k, len(self.products))
        chunk = self.chunk_customers()
        by_popularity = np.argsort(-self.popularity, kind="stable")
        chunks = [self.top(ids[start:start + chunk], k, by_popularity, new_only)
                  for start in range(0, len(ids) if k else 0, chunk)]
        out = pd.concat([EMPTY, *chunks], ignore_index=True)
        out["source"] = np.where(out["score"] >= 2, "repeat", np.where(out["score"] >= 1, "co-purchase", "popular"))
        return out

    def chunk_customers(self) -> int:
        """Customers scored at once: as many as keep their candidates within CHUNK_CELLS, at the
        most candidates a customer can have (all they bought, with every one's neighbours)."""
        most_bought = int(np.diff(self.counts.indptr).max()) if self.counts.nnz else 0
        return max(1, CHUNK_CELLS // max(min(most_bought * (1 + NEIGHBOURS), len(self.products)), 1))

    def top(self, customer_ids: pd.Index, k: int, by_popularity: np.ndarray, new_only: bool = False) -> pd.DataFrame:
        """The k best-scored products of each customer, best first: their candidates by score,
        then popular products (`by_popularity`: the products, most bought first) that are
        neither candidates nor (`new_only`) bought."""
        scores, bought = self.scores(self.customers.get_indexer(customer_ids), new_only)
        popular = self.popularity[by_popularity] / max(self.popularity.max(), 1e-12) * 0.999
        picked = np.empty((len(customer_ids), k), dtype="int64")
        value = np.empty((len(customer_ids), k))
        for row in range(len(customer_ids)):
            start, end = scores.indptr[row], scores.indptr[row + 1]
            columns, data = scores.indices[start:end], scores.data[start:end]
            # Best score first; equal scores by popularity, then by the product's place in the catalogue.
            order = np.lexsort((columns, -self.popularity[columns], -data))[:k]
            taken = len(order)
            picked[row, :taken], value[row, :taken] = columns[order], data[order]
            if taken < k:
                skip = columns
                if new_only:
                    skip = np.concatenate([columns, bought.indices[bought.indptr[row]:bought.indptr[row + 1]]])
                fill = np.flatnonzero(~np.isin(by_popularity[:k + len(skip)], skip))[:k - taken]
                picked[row, taken:], value[row, taken:] = by_popularity[fill], popular[fill]
        return pd.DataFrame({
            "customer_id": np.repeat(customer_ids.to_numpy(), k),
            "product_id": self.products.to_numpy()[picked.ravel()],
            "rank": np.tile(np.arange(1, k + 1), len(customer_ids)),
            "score": value.ravel(),
        })

    def without_neighbours(self) -> Recommender:
        """The same purchases with no co-purchase: each customer's own most bought products, then
        the popular ones (the personal top frequency baseline)."""
        return replace(self, neighbours=sparse.csr_matrix(self.neighbours.shape, dtype="float32"))


def _neighbours(counts: sparse.csr_matrix) -> sparse.csr_matrix:
    """Each product's NEIGHBOURS most similar products by the cosine of their buyer sets, worked
    out for a block of products at a time: the full products x products matrix of a large
    catalogue holds billions of cells (Complete Journey: 68,509 products)."""
    bought = (counts > 0).astype("float32").tocsc()
    norms = np.sqrt(np.asarray(bought.sum(axis=0)).ravel())
    scaled = (bought @ sparse.diags(1 / np.maximum(norms, 1))).tocsc()
    products = scaled.shape[1]
    block = max(1, BLOCK_CELLS // max(products, 1))
    rows, cols, vals = [], [], []
    keep = min(NEIGHBOURS, max(products - 1, 0))
    for start in range(0, products if keep else 0, block):
        similar = (scaled[:, start:start + block].T @ scaled).toarray()
        similar[np.arange(similar.shape[0]), np.arange(start, start + similar.shape[0])] = 0
        best = np.argpartition(-similar, keep - 1, axis=1)[:, :keep]
        values = np.take_along_axis(similar, best, axis=1)
        rows.append(np.repeat(np.arange(start, start + similar.shape[0]), keep))
        cols.append(best.ravel())
        vals.append(values.ravel())
    if not rows:
        return sparse.csr_matrix((products, products), dtype="float32")
    neighbours = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                   shape=(products, products))
    neighbours.eliminate_zeros()
    return neighbours


def popular_for_everyone(model: Recommender, customer_ids: pd.Index, k: int = K) -> pd.DataFrame:
    top = model.products.to_numpy()[np.argsort(-model.popularity, kind="stable")[:k]]
    return pd.DataFrame({"customer_id": np.repeat(customer_ids.to_numpy(), len(top)),
                         "product_id": np.tile(top, len(customer_ids)),
                         "rank": np.tile(np.arange(1, len(top) + 1), len(customer_ids))})


def ranking_metrics(recommended: pd.DataFrame, truth: pd.DataFrame, k: int = K) -> dict[str, float]:
    """Mean recall@k and NDCG@k (binary relevance) over the customers with a truth row."""
    hits = truth[["customer_id", "product_id"]].merge(recommended[recommended["rank"] <= k],
                                                      on=["customer_id", "product_id"], how="left")
    hits["gain"] = np.where(hits["rank"].notna(), 1 / np.log2(hits["rank"].fillna(0) + 1), 0.0)
    per_customer = hits.groupby("customer_id").agg(relevant=("product_id", "size"), found=("rank", "count"),
                                                   dcg=("gain", "sum"))
    ideal = per_customer["relevant"].clip(upper=k).map(lambda n: (1 / np.log2(np.arange(2, n + 2))).sum())
    return {f"recall_at_{k}": float((per_customer["found"] / per_customer["relevant"]).mean()),
            f"ndcg_at_{k}": float((per_customer["dcg"] / ideal).mean()),
            "customers": float(len(per_customer))}


def evaluate(purchases: pd.DataFrame, k: int = K) -> pd.DataFrame:
    """Fit on the purchases before the last H days, test on those days; one row per method and
    product kind (all, repeat, new) with recall@k and NDCG@k.

    Methods: clm's list; the personal top frequency baseline (own most bought, then popular);
    popularity (one list for everyone); and, judged on new products only, clm's products new
    to the customer (`new_only`) against the most popular products they have not bought."""
    before = purchases.assign(purchases=purchases["purchases"] - purchases["purchases_last_horizon"])
    truth = purchases[purchases["purchases_last_horizon"] > 0].copy()
    truth["kind"] = np.where(truth["purchases"] > truth["purchases_last_horizon"], "repeat", "new")
    model = Recommender.fit(before)
    frequency = model.without_neighbours()
    customers = pd.Series(truth["customer_id"].unique())
    kinds = {"all": truth, "repeat": truth[truth["kind"] == "repeat"], "new": truth[truth["kind"] == "new"]}
    methods = {
        "clm": (model.recommend(customers, k), ("all", "repeat", "new")),
        "personal frequency": (frequency.recommend(customers, k), ("all", "repeat", "new")),
        "popularity": (popular_for_everyone(model, pd.Index(customers), k), ("all", "repeat", "new")),
        "clm, new to the customer": (model.recommend(customers, k, new_only=True), ("new",)),
        "popularity, not bought": (frequency.recommend(customers, k, new_only=True), ("new",)),
    }
    rows = []
    for method, (recommended, judged_on) in methods.items():
        for kind in judged_on:
            if len(kinds[kind]):
                rows.append({"method": method, "products": kind, **ranking_metrics(recommended, kinds[kind], k)})
    return pd.DataFrame(rows)


def log_evaluation(results: pd.DataFrame, as_of: str, experiment: str) -> str:
    """The evaluation as an MLflow run of its own: one metric per method, product kind and
    measure (`clm_repeat_recall_at_10`), and the table as `recommendations_evaluation.md`."""
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"recommendations, as of {as_of}") as run:
        mlflow.log_params({"task": "recommendations", "k": K, "as_of": as_of})
        for row in results.itertuples(index=False):
            name = f"{row.method.replace(', ', '_').replace(' ', '_')}_{row.products}"
            mlflow.log_metrics({f"{name}_recall_at_{K}": getattr(row, f"recall_at_{K}"),
                                f"{name}_ndcg_at_{K}": getattr(row, f"ndcg_at_{K}")})
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "recommendations_evaluation.md"
            path.write_text(results.to_markdown(index=False, floatfmt=".4f"))
            mlflow.log_artifact(str(path))
        return run.info.run_id
