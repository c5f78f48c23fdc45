"""Retrieval for RAG: BM25, dense cosine top-k, hybrid fusion, and recall@k / MRR / nDCG@k.

Task:
    Write the retriever of a RAG system and the metrics that evaluate it. `BM25` scores
    tokenized documents against a query (Okapi BM25 with Lucene's idf); `dense_scores` ranks
    embeddings by cosine similarity; `top_k` turns scores into a ranking; two hybrid rankers
    merge a sparse and a dense ranking: Reciprocal Rank Fusion (which needs only ranks) and
    min-max score fusion (which needs comparable scores); `recall_at_k`,
    `mean_reciprocal_rank` and `ndcg_at_k` measure a ranking against relevance judgements.

Rules:
    No rank_bm25, bm25s, pyserini, sklearn.metrics, langchain / llama_index retrievers, and not
    torch.nn.functional.cosine_similarity: write the formulas.

Shapes:
    docs (documents in the collection), d_model (embedding size). Documents are identified by
    their index 0 .. docs - 1 in the collection; a ranking is a list of indices, best first.

Reference:
    Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and Beyond", Eq. 3.
    Lucene `BM25Similarity` (k1 = 1.2, b = 0.75, idf = ln(1 + (N - n + 0.5) / (n + 0.5))).
    Cormack, Clarke & Büttcher 2009, "Reciprocal Rank Fusion outperforms Condorcet and
    individual rank learning methods" (k = 60). Järvelin & Kekäläinen 2002 (nDCG), with linear
    gain and log2(rank + 1) discount as in trec_eval and sklearn's ndcg_score.

Notable choices:
    - idf is Lucene's ln(1 + (N - n + 0.5) / (n + 0.5)): always > 0, so a term found in every
      document still counts a little. rank_bm25's `BM25Okapi` (0.2.2) uses the original
      ln((N - n + 0.5) / (n + 0.5)), negative when n > N / 2, and replaces every negative idf by
      epsilon · (mean idf over the vocabulary), epsilon = 0.25. The tf part is the same.
    - The score keeps Robertson's (k1 + 1) factor; Lucene 8+ drops it (a constant per query:
      same ranking, scores (k1 + 1) times smaller).
    - A query term that occurs twice counts twice (as rank_bm25 and a Lucene BooleanQuery).
    - Ties are broken by the lower document index everywhere, so rankings never depend on sort
      stability or dict order.

Grade: nox -s retrieval
"""

import math
import re
from collections import Counter

import torch
from jaxtyping import Float
from torch import Tensor


def tokenize(text: str) -> list[str]:
    """A stand-in analyzer: lower-cased runs of ASCII letters/digits, and every CJK ideograph as a
    token of its own (as Lucene's StandardAnalyzer does). tokenize("BM25 检索!") ==
    ["bm25", "检", "索"]."""
    return re.findall(r"[a-z0-9]+|[\u4e00-\u9fff]", text.lower())


class BM25:
    """Okapi BM25 over a fixed collection of tokenized documents."""

    def __init__(self, documents: list[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        """Index the collection: term frequencies per document, document frequencies, lengths.

        Args:
            documents: one token list per document (see `tokenize`); a document may be empty.
            k1: term-frequency saturation, >= 0 (0: a term counts once however often it occurs).
            b: length normalisation, in [0, 1] (0: none, 1: full).

        Raises:
            ValueError: no documents; k1 < 0; b outside [0, 1].
        """
        # TODO: implement this (about 11 lines in the reference).
        raise NotImplementedError(
            "__init__: not written yet. Stuck? nox -s hint -- retrieval"
        )

    def idf(self, term: str) -> float:
        """Lucene's idf: ln(1 + (N - n + 0.5) / (n + 0.5)), N documents, n of them containing
        `term` (n = 0 for a term not in the collection)."""
        # TODO: implement this (about 2 lines in the reference).
        raise NotImplementedError(
            "idf: not written yet. Stuck? nox -s hint -- retrieval"
        )

    def get_scores(self, query: list[str]) -> list[float]:
        """The BM25 score of every document for the tokenized `query`, in document order.

        score(D) = Σ over query tokens t (repeats included) of
            idf(t) · tf · (k1 + 1) / (tf + k1 · (1 - b + b · |D| / avgdl)),
        tf = occurrences of t in D, |D| = tokens in D, avgdl = mean |D| over the collection. A
        term with tf = 0 adds 0 (so an empty document, or a collection of empty ones, scores 0).
        """
        # TODO: implement this (about 9 lines in the reference).
        raise NotImplementedError(
            "get_scores: not written yet. Stuck? nox -s hint -- retrieval"
        )


def dense_scores(query: Float[Tensor, " d_model"],
                 documents: Float[Tensor, "docs d_model"]) -> Float[Tensor, " docs"]:
    """Cosine similarity of `query` with each document embedding.

    cos = q · d / (|q| · |d|), computed in float32 (float64 stays float64); a zero query or
    document vector scores 0.0, never NaN.

    Returns:
        (docs,) float32, or float64 for float64 inputs.

    Raises:
        ValueError: query is not 1-D, documents not 2-D, or their d_model differ.
    """
    # TODO: implement this (about 12 lines in the reference).
    raise NotImplementedError(
        "dense_scores: not written yet. Stuck? nox -s hint -- retrieval"
    )


def top_k(scores: list[float], k: int) -> list[int]:
    """Indices of the k highest scores, highest first, ties to the lower index; all of them when
    k > len(scores).

    Raises:
        ValueError: k < 0.
    """
    # TODO: implement this (about 3 lines in the reference).
    raise NotImplementedError(
        "top_k: not written yet. Stuck? nox -s hint -- retrieval"
    )


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse rankings by RRF: score(d) = Σ over rankings that contain d of 1 / (k + rank(d)),
    rank counted from 1.

    Returns:
        [(document index, fused score), ...] for every document in any ranking, highest score
        first, ties to the lower document index.

    Raises:
        ValueError: k < 0; a ranking that lists a document twice.
    """
    # TODO: implement this (about 9 lines in the reference).
    raise NotImplementedError(
        "reciprocal_rank_fusion: not written yet. Stuck? nox -s hint -- retrieval"
    )


def score_fusion(score_lists: list[list[float]], weights: list[float] | None = None) -> list[float]:
    """Weighted sum of min-max normalised scores (the "convex combination" hybrid).

    Each list holds one retriever's scores for the same documents, in document order; it is
    normalised to (s - min) / (max - min) (a list whose scores are all equal becomes all 0.0),
    then fused[d] = Σ_i weights[i] · normalised_i[d]. Default weights: 1 / len(score_lists) each.

    Raises:
        ValueError: no lists; lists of different lengths; len(weights) != len(score_lists); a
            negative weight.
    """
    # TODO: implement this (about 15 lines in the reference).
    raise NotImplementedError(
        "score_fusion: not written yet. Stuck? nox -s hint -- retrieval"
    )


def recall_at_k(ranking: list[int], relevant: set[int], k: int) -> float:
    """|relevant documents among ranking[:k]| / |relevant|.

    Raises:
        ValueError: k < 1; relevant is empty (recall is undefined).
    """
    # TODO: implement this (about 4 lines in the reference).
    raise NotImplementedError(
        "recall_at_k: not written yet. Stuck? nox -s hint -- retrieval"
    )


def mean_reciprocal_rank(rankings: list[list[int]], relevant: list[set[int]]) -> float:
    """Mean over queries of 1 / (rank of the first relevant document), rank counted from 1; a
    query whose ranking holds no relevant document contributes 0.

    Raises:
        ValueError: no queries; len(rankings) != len(relevant); an empty relevant set.
    """
    # TODO: implement this (about 10 lines in the reference).
    raise NotImplementedError(
        "mean_reciprocal_rank: not written yet. Stuck? nox -s hint -- retrieval"
    )


def ndcg_at_k(ranking: list[int], gains: dict[int, float], k: int) -> float:
    """Normalised discounted cumulative gain at k.

    DCG@k = Σ_{i=1}^{min(k, len(ranking))} gain(ranking[i-1]) / log2(i + 1), gain = gains.get(d,
    0); IDCG@k is the DCG@k of the ideal ranking: every judged document sorted by gain, highest
    first (judged documents the ranking missed included). nDCG@k = DCG@k / IDCG@k, in [0, 1].

    Raises:
        ValueError: k < 1; a negative gain; no document with a positive gain.
    """
    # TODO: implement this (about 8 lines in the reference).
    raise NotImplementedError(
        "ndcg_at_k: not written yet. Stuck? nox -s hint -- retrieval"
    )
