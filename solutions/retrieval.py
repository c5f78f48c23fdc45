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
        # BEGIN SOLUTION
        if not documents:
            raise ValueError("documents is empty: BM25 needs at least one document to index")
        if k1 < 0:
            raise ValueError(f"k1={k1}: use k1 >= 0 (Lucene's default is 1.2)")
        if not 0 <= b <= 1:
            raise ValueError(f"b={b}: use 0 <= b <= 1 (Lucene's default is 0.75)")
        self.k1, self.b = k1, b
        self.term_frequencies = [Counter(document) for document in documents]
        self.lengths = [len(document) for document in documents]
        self.avgdl = sum(self.lengths) / len(documents)
        self.document_frequency = Counter(term for tf in self.term_frequencies for term in tf)
        # END SOLUTION

    def idf(self, term: str) -> float:
        """Lucene's idf: ln(1 + (N - n + 0.5) / (n + 0.5)), N documents, n of them containing
        `term` (n = 0 for a term not in the collection)."""
        # BEGIN SOLUTION
        N, n = len(self.lengths), self.document_frequency[term]
        return math.log(1 + (N - n + 0.5) / (n + 0.5))
        # END SOLUTION

    def get_scores(self, query: list[str]) -> list[float]:
        """The BM25 score of every document for the tokenized `query`, in document order.

        score(D) = Σ over query tokens t (repeats included) of
            idf(t) · tf · (k1 + 1) / (tf + k1 · (1 - b + b · |D| / avgdl)),
        tf = occurrences of t in D, |D| = tokens in D, avgdl = mean |D| over the collection. A
        term with tf = 0 adds 0 (so an empty document, or a collection of empty ones, scores 0).
        """
        # BEGIN SOLUTION
        scores = []
        for tf, length in zip(self.term_frequencies, self.lengths):
            score = 0.0
            for term in query:
                if tf[term]:
                    norm = self.k1 * (1 - self.b + self.b * length / self.avgdl)
                    score += self.idf(term) * tf[term] * (self.k1 + 1) / (tf[term] + norm)
            scores.append(score)
        return scores
        # END SOLUTION


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
    # BEGIN SOLUTION
    if query.dim() != 1 or documents.dim() != 2 or documents.shape[1] != query.shape[0]:
        raise ValueError(f"query {tuple(query.shape)} must be (d_model,) and documents "
                         f"{tuple(documents.shape)} must be (docs, d_model) with the same d_model")
    dtype = torch.float64 if query.dtype == torch.float64 else torch.float32
    query, documents = query.to(dtype), documents.to(dtype)
    query_norm = query.norm()
    if query_norm == 0:
        return torch.zeros(documents.shape[0], dtype=dtype, device=documents.device)
    norms = documents.norm(dim=1, keepdim=True)  # (docs, 1)
    unit_documents = torch.where(norms > 0, documents / norms.clamp_min(torch.finfo(dtype).tiny),
                                 0.0)  # (docs, d_model)
    return unit_documents @ (query / query_norm)  # (docs, d_model) @ (d_model,) -> (docs,)
    # END SOLUTION


def top_k(scores: list[float], k: int) -> list[int]:
    """Indices of the k highest scores, highest first, ties to the lower index; all of them when
    k > len(scores).

    Raises:
        ValueError: k < 0.
    """
    # BEGIN SOLUTION
    if k < 0:
        raise ValueError(f"k={k}: ask for k >= 0 results")
    return sorted(range(len(scores)), key=lambda index: (-scores[index], index))[:k]
    # END SOLUTION


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse rankings by RRF: score(d) = Σ over rankings that contain d of 1 / (k + rank(d)),
    rank counted from 1.

    Returns:
        [(document index, fused score), ...] for every document in any ranking, highest score
        first, ties to the lower document index.

    Raises:
        ValueError: k < 0; a ranking that lists a document twice.
    """
    # BEGIN SOLUTION
    if k < 0:
        raise ValueError(f"k={k}: RRF needs k >= 0 (Cormack et al. use 60)")
    fused: dict[int, float] = {}
    for ranking in rankings:
        if len(set(ranking)) != len(ranking):
            raise ValueError(f"ranking {ranking} lists a document twice; deduplicate it first")
        for rank, document in enumerate(ranking, start=1):
            fused[document] = fused.get(document, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    # END SOLUTION


def score_fusion(score_lists: list[list[float]], weights: list[float] | None = None) -> list[float]:
    """Weighted sum of min-max normalised scores (the "convex combination" hybrid).

    Each list holds one retriever's scores for the same documents, in document order; it is
    normalised to (s - min) / (max - min) (a list whose scores are all equal becomes all 0.0),
    then fused[d] = Σ_i weights[i] · normalised_i[d]. Default weights: 1 / len(score_lists) each.

    Raises:
        ValueError: no lists; lists of different lengths; len(weights) != len(score_lists); a
            negative weight.
    """
    # BEGIN SOLUTION
    if not score_lists or len({len(scores) for scores in score_lists}) != 1:
        raise ValueError("score_lists must hold at least one list, all scoring the same "
                         f"documents (lengths {[len(scores) for scores in score_lists]})")
    if weights is None:
        weights = [1.0 / len(score_lists)] * len(score_lists)
    if len(weights) != len(score_lists) or any(weight < 0 for weight in weights):
        raise ValueError(f"weights={weights}: give one non-negative weight per score list "
                         f"({len(score_lists)})")
    fused = [0.0] * len(score_lists[0])
    for weight, scores in zip(weights, score_lists):
        low, high = min(scores), max(scores)
        for index, score in enumerate(scores):
            if high > low:
                fused[index] += weight * (score - low) / (high - low)
    return fused
    # END SOLUTION


def recall_at_k(ranking: list[int], relevant: set[int], k: int) -> float:
    """|relevant documents among ranking[:k]| / |relevant|.

    Raises:
        ValueError: k < 1; relevant is empty (recall is undefined).
    """
    # BEGIN SOLUTION
    if k < 1 or not relevant:
        raise ValueError(f"recall@k needs k >= 1 (got {k}) and at least one relevant document "
                         f"(got {relevant})")
    return len(set(ranking[:k]) & set(relevant)) / len(relevant)
    # END SOLUTION


def mean_reciprocal_rank(rankings: list[list[int]], relevant: list[set[int]]) -> float:
    """Mean over queries of 1 / (rank of the first relevant document), rank counted from 1; a
    query whose ranking holds no relevant document contributes 0.

    Raises:
        ValueError: no queries; len(rankings) != len(relevant); an empty relevant set.
    """
    # BEGIN SOLUTION
    if not rankings or len(rankings) != len(relevant) or not all(relevant):
        raise ValueError(f"give one ranking and one non-empty relevant set per query "
                         f"({len(rankings)} rankings, {len(relevant)} relevant sets)")
    total = 0.0
    for ranking, wanted in zip(rankings, relevant):
        for rank, document in enumerate(ranking, start=1):
            if document in wanted:
                total += 1.0 / rank
                break
    return total / len(rankings)
    # END SOLUTION


def ndcg_at_k(ranking: list[int], gains: dict[int, float], k: int) -> float:
    """Normalised discounted cumulative gain at k.

    DCG@k = Σ_{i=1}^{min(k, len(ranking))} gain(ranking[i-1]) / log2(i + 1), gain = gains.get(d,
    0); IDCG@k is the DCG@k of the ideal ranking: every judged document sorted by gain, highest
    first (judged documents the ranking missed included). nDCG@k = DCG@k / IDCG@k, in [0, 1].

    Raises:
        ValueError: k < 1; a negative gain; no document with a positive gain.
    """
    # BEGIN SOLUTION
    if k < 1 or any(gain < 0 for gain in gains.values()) or not any(gains.values()):
        raise ValueError(f"nDCG@k needs k >= 1 (got {k}) and non-negative gains with at least "
                         f"one positive (got {gains})")
    dcg = sum(gains.get(document, 0.0) / math.log2(i + 1)
              for i, document in enumerate(ranking[:k], start=1))
    ideal = sorted(gains.values(), reverse=True)[:k]
    idcg = sum(gain / math.log2(i + 1) for i, gain in enumerate(ideal, start=1))
    return dcg / idcg
    # END SOLUTION
