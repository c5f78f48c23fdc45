"""Grader for the `retrieval` kata: BM25, dense cosine, top-k, RRF, score fusion, metrics.

Expected values are derived here from the documented formulas (math.log, math.log2), on
collections small enough to follow by hand.
"""

import math

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from kata.check import assert_close, assert_equal, call

# A collection of 3 documents, lengths 2, 4, 1 → avgdl = 7/3.
DOCS = [["a", "b"], ["a", "a", "c", "d"], ["c"]]
AVGDL = 7 / 3


def _bm25(impl, documents=DOCS, **options):
    return call(impl.BM25, documents, **options)


def _scores(index, query):
    scores = call(index.get_scores, query)
    assert isinstance(scores, list) and all(isinstance(s, float) for s in scores), (
        f"get_scores must return a list of floats (one per document), got {scores!r}")
    return scores


def _close(actual, expected, what):
    assert len(actual) == len(expected) and all(
        math.isclose(a, e, rel_tol=1e-9, abs_tol=1e-12) for a, e in zip(actual, expected)), (
        f"{what}: expected {expected}, got {actual}")


def term(idf, tf, length, k1=1.2, b=0.75, avgdl=AVGDL):
    """One term's BM25 contribution, written out from Robertson's formula."""
    return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgdl))


# ---------------------------------------------------------------- BM25 worked examples


def test_idf_is_lucenes(impl):
    index = _bm25(impl)
    # N = 3. "a" is in 2 documents, "b" in 1, "zzz" in none.
    for token, n in [("a", 2), ("b", 1), ("c", 2), ("zzz", 0)]:
        expected = math.log(1 + (3 - n + 0.5) / (n + 0.5))
        actual = call(index.idf, token)
        assert math.isclose(actual, expected, rel_tol=1e-12), (
            f"idf({token!r}) with N=3, n={n}: expected ln(1 + (N - n + 0.5)/(n + 0.5)) = "
            f"{expected:.6f}, got {actual}")


def test_term_in_every_document_keeps_a_positive_idf(impl):
    index = _bm25(impl, [["the", "cat"], ["the", "dog"], ["the"]])
    expected = math.log(1 + 0.5 / 3.5)  # = ln(8/7) > 0; rank_bm25's ln(0.5/3.5) is negative
    actual = call(index.idf, "the")
    assert math.isclose(actual, expected, rel_tol=1e-12), (
        f"idf('the') in 3 of 3 documents: Lucene's idf is ln(8/7) = {expected:.6f}, got {actual}"
        " (ln((N - n + 0.5)/(n + 0.5)) without the 1 + is the original, negative variant)")


def test_scores_without_length_normalisation(impl):
    # b = 0: the tf part is tf·(k1 + 1)/(tf + k1). "a" occurs once in d0, twice in d1.
    index = _bm25(impl, b=0.0)
    idf_a = math.log(1 + 1.5 / 2.5)
    expected = [idf_a * 1 * 2.2 / (1 + 1.2), idf_a * 2 * 2.2 / (2 + 1.2), 0.0]
    _close(_scores(index, ["a"]), expected, "BM25(b=0).get_scores(['a'])")


def test_scores_with_full_length_normalisation(impl):
    # b = 1: k1 is scaled by |D| / avgdl. The shorter d0 beats d1 per occurrence.
    index = _bm25(impl, b=1.0)
    idf_a = math.log(1.6)
    expected = [term(idf_a, 1, 2, b=1.0), term(idf_a, 2, 4, b=1.0), 0.0]
    _close(_scores(index, ["a"]), expected, "BM25(b=1).get_scores(['a'])")


def test_scores_with_defaults_sum_over_query_terms(impl):
    index = _bm25(impl)
    idf_a, idf_b, idf_c = math.log(1.6), math.log(1 + 2.5 / 1.5), math.log(1.6)
    expected = [term(idf_a, 1, 2) + term(idf_b, 1, 2),
                term(idf_a, 2, 4) + term(idf_c, 1, 4),
                term(idf_c, 1, 1)]
    _close(_scores(index, ["a", "b", "c", "unseen"]), expected,
           "BM25().get_scores(['a', 'b', 'c', 'unseen']) with k1=1.2, b=0.75")


def test_k1_zero_counts_each_term_once(impl):
    index = _bm25(impl, k1=0.0)
    idf_a, idf_c = math.log(1.6), math.log(1.6)
    _close(_scores(index, ["a", "c"]), [idf_a, idf_a + idf_c, idf_c],
           "BM25(k1=0).get_scores(['a', 'c']): every matching term adds exactly its idf")


def test_repeated_query_term_counts_twice(impl):
    index = _bm25(impl)
    once, twice = _scores(index, ["a"]), _scores(index, ["a", "a"])
    _close(twice, [2 * s for s in once], "get_scores(['a', 'a']) versus 2 · get_scores(['a'])")


def test_empty_documents_score_zero(impl):
    index = _bm25(impl, [[], ["x"], []])
    _close(_scores(index, ["x"]), [0.0, term(math.log(1 + 2.5 / 1.5), 1, 1, avgdl=1 / 3), 0.0],
           "an empty document scores 0")
    _close(_scores(_bm25(impl, [[], []]), ["x"]), [0.0, 0.0],
           "a collection of empty documents (avgdl = 0) scores 0 without dividing by zero")


def test_chinese_query_with_the_given_tokenizer(impl):
    documents = [impl.tokenize(text) for text in ["检索增强生成", "大模型幻觉", "检索模型"]]
    assert documents[0] == ["检", "索", "增", "强", "生", "成"]
    index = _bm25(impl, documents)
    scores = _scores(index, impl.tokenize("检索"))
    idf = math.log(1 + 1.5 / 2.5)  # 检 and 索 are each in 2 of 3 documents
    avgdl = 15 / 3
    expected = [2 * term(idf, 1, 6, avgdl=avgdl), 0.0, 2 * term(idf, 1, 4, avgdl=avgdl)]
    _close(scores, expected, "BM25 over single-ideograph tokens, query '检索'")


# ---------------------------------------------------------------- dense, top-k


def test_dense_cosine_worked_example(impl):
    query = torch.tensor([1.0, 0.0])
    documents = torch.tensor([[1.0, 1.0], [0.0, 0.0], [-2.0, 0.0], [3.0, 0.0]])
    scores = call(impl.dense_scores, query, documents)
    assert_close(scores, torch.tensor([1 / math.sqrt(2), 0.0, -1.0, 1.0]),
                 what="dense_scores: cos with [1,1], a zero vector (0, not NaN), [-2,0], [3,0]")


def test_dense_zero_query_scores_zero(impl):
    scores = call(impl.dense_scores, torch.zeros(3), torch.eye(3))
    assert_close(scores, torch.zeros(3), what="dense_scores with a zero query: 0.0, never NaN")


def test_dense_tiny_vectors_keep_their_cosine(impl):
    # Cosine is scale-free: vectors of norm ~1e-6 (|q|·|d| ~ 1e-12) are not zero vectors. An eps
    # added to or clamping the norms (F.cosine_similarity's eps = 1e-8) shrinks these scores.
    query = 1e-6 * torch.tensor([1.0, 0.0])
    documents = 1e-6 * torch.tensor([[1.0, 1.0], [3.0, 0.0], [0.0, -2.0]])
    scores = call(impl.dense_scores, query, documents)
    assert_close(scores, torch.tensor([1 / math.sqrt(2), 1.0, 0.0]),
                 what="dense_scores on vectors of norm ~1e-6: the same cosines as at norm ~1")


def test_dense_float64_stays_float64(impl):
    # cos([1, 0], [1, 1e-4]) = 1/sqrt(1 + 1e-8) = 1 - 5e-9; float32 rounds |d| to 1 and gives 1.
    scores = call(impl.dense_scores, torch.tensor([1.0, 0.0], dtype=torch.float64),
                  torch.tensor([[1.0, 1e-4]], dtype=torch.float64))
    assert scores.dtype == torch.float64, f"float64 inputs must give float64, got {scores.dtype}"
    expected = 1 / math.sqrt(1 + 1e-8)
    assert abs(scores.item() - expected) < 1e-12, (
        f"float64 cosine must be computed in float64: expected {expected!r}, got "
        f"{scores.item()!r} (a float32 computation gives 1.0)")


def test_dense_half_inputs_are_computed_in_float32(impl):
    # 300² = 90000 overflows float16 (max 65504): a float16 norm is inf and inf/inf is NaN.
    query = torch.full((4,), 300.0, dtype=torch.float16)
    documents = torch.tensor([[300.0] * 4, [300.0, -300.0, 300.0, -300.0]], dtype=torch.float16)
    scores = call(impl.dense_scores, query, documents)
    assert scores.dtype == torch.float32, f"float16 inputs must give float32, got {scores.dtype}"
    assert_close(scores, torch.tensor([1.0, 0.0]), what="dense_scores on float16 inputs of 300")


def test_top_k_orders_by_score_ties_to_lower_index(impl):
    assert_equal(call(impl.top_k, [0.5, 2.0, 0.5, 1.0, 2.0], 4), [1, 4, 3, 0],
                 what="top_k([0.5, 2.0, 0.5, 1.0, 2.0], 4)")
    assert_equal(call(impl.top_k, [0.1, 0.3], 5), [1, 0], what="top_k with k > len: all")
    assert_equal(call(impl.top_k, [0.1, 0.3], 0), [], what="top_k with k = 0")


# ---------------------------------------------------------------- hybrid


def test_rrf_worked_example(impl):
    fused = call(impl.reciprocal_rank_fusion, [[0, 1, 2], [2, 0]])
    expected = [(0, 1 / 61 + 1 / 62), (2, 1 / 63 + 1 / 61), (1, 1 / 62)]
    assert [d for d, _ in fused] == [0, 2, 1], f"RRF order: expected [0, 2, 1], got {fused}"
    _close([s for _, s in fused], [s for _, s in expected],
           "RRF(k=60) of [[0, 1, 2], [2, 0]]: 1/(60 + rank), rank from 1")


def test_rrf_ties_go_to_the_lower_index(impl):
    for rankings in ([[0, 1], [1, 0]], [[1, 0], [0, 1]]):
        fused = call(impl.reciprocal_rank_fusion, rankings)
        assert [d for d, _ in fused] == [0, 1], (
            f"RRF of {rankings}: both documents score 1/61 + 1/62; ties go to the lower index, "
            f"got {fused}")


def test_rrf_with_k_zero(impl):
    fused = call(impl.reciprocal_rank_fusion, [[3, 5]], k=0)
    _close([s for _, s in fused], [1.0, 0.5], "RRF(k=0) of [[3, 5]]: 1/1 and 1/2")
    assert [d for d, _ in fused] == [3, 5], f"expected documents [3, 5], got {fused}"


def test_score_fusion_worked_example(impl):
    # [1, 2, 3] → [0, 0.5, 1]; [10, 0, 5] → [1, 0, 0.5].
    _close(call(impl.score_fusion, [[1.0, 2.0, 3.0], [10.0, 0.0, 5.0]]), [0.5, 0.25, 0.75],
           "score_fusion with equal default weights")
    _close(call(impl.score_fusion, [[1.0, 2.0, 3.0], [10.0, 0.0, 5.0]], [0.3, 0.7]),
           [0.7, 0.15, 0.65], "score_fusion with weights [0.3, 0.7]")
    _close(call(impl.score_fusion, [[5.0, 5.0], [0.0, 4.0]], [1.0, 1.0]), [0.0, 1.0],
           "score_fusion: a constant score list normalises to all 0")


# ---------------------------------------------------------------- metrics


def test_recall_at_k_worked_example(impl):
    ranking, relevant = [4, 2, 7, 1], {1, 2, 9}
    for k, expected in [(1, 0.0), (2, 1 / 3), (4, 2 / 3), (10, 2 / 3)]:
        actual = call(impl.recall_at_k, ranking, relevant, k)
        assert math.isclose(actual, expected, abs_tol=1e-12), (
            f"recall@{k} of {ranking} against {relevant}: expected {expected} (found / "
            f"|relevant| = 3), got {actual}")


def test_mrr_worked_example(impl):
    actual = call(impl.mean_reciprocal_rank, [[5, 1, 2], [3, 4], [7]], [{1}, {4, 3}, {9}])
    assert math.isclose(actual, (1 / 2 + 1 + 0) / 3), (
        f"MRR: first relevant at rank 2, rank 1, never → (1/2 + 1 + 0)/3 = 0.5, got {actual}")


def test_ndcg_worked_example(impl):
    gains = {0: 3.0, 1: 2.0, 5: 1.0}
    dcg = 0 / math.log2(2) + 3 / math.log2(3) + 2 / math.log2(4)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    actual = call(impl.ndcg_at_k, [2, 0, 1], gains, 3)
    assert math.isclose(actual, dcg / idcg), (
        f"nDCG@3 of [2, 0, 1] with gains {gains}: expected {dcg / idcg:.6f} (the ideal ranking "
        f"includes document 5, which was not retrieved), got {actual}")
    idcg2 = 3 / math.log2(2) + 2 / math.log2(3)
    actual = call(impl.ndcg_at_k, [2, 0, 1], gains, 2)
    assert math.isclose(actual, (3 / math.log2(3)) / idcg2), (
        f"nDCG@2 cuts both DCG and the ideal DCG at 2, got {actual}")


# ---------------------------------------------------------------- properties

vocabulary = st.sampled_from(["a", "b", "c", "d", "检", "索"])
collections = st.lists(st.lists(vocabulary, max_size=6), min_size=1, max_size=6)
queries = st.lists(vocabulary, max_size=4)


@given(documents=collections, query=queries)
def test_bm25_scores_are_non_negative_and_zero_without_a_match(impl, documents, query):
    scores = _scores(_bm25(impl, documents), query)
    for document, score in zip(documents, scores):
        assert score >= 0, f"a BM25 score is never negative with Lucene's idf, got {score}"
        if not set(document) & set(query):
            assert score == 0, f"document {document} shares no term with {query}, scored {score}"


@given(ranking=st.permutations(range(6)), relevant=st.sets(st.integers(0, 7), min_size=1))
def test_recall_grows_with_k_up_to_the_found_share(impl, ranking, relevant):
    values = [call(impl.recall_at_k, ranking, relevant, k) for k in range(1, 8)]
    assert values == sorted(values), f"recall@k must not decrease with k: {values}"
    assert math.isclose(values[-1], len(relevant & set(ranking)) / len(relevant)), (
        f"recall@k for k >= len(ranking) is the share of relevant documents retrieved: {values}")


@given(ranking=st.permutations(range(5)),
       gains=st.dictionaries(st.integers(0, 6), st.sampled_from([0.0, 1.0, 2.0, 3.0]),
                             min_size=1).filter(lambda g: any(g.values())),
       k=st.integers(1, 6))
def test_ndcg_is_between_zero_and_one_and_one_for_the_ideal_ranking(impl, ranking, gains, k):
    value = call(impl.ndcg_at_k, ranking, gains, k)
    assert -1e-12 <= value <= 1 + 1e-12, f"nDCG must lie in [0, 1], got {value}"
    ideal = sorted(gains, key=lambda d: (-gains[d], d))
    best = call(impl.ndcg_at_k, ideal, gains, k)
    assert math.isclose(best, 1.0), f"the ideal ranking {ideal} has nDCG 1, got {best}"


@given(rankings=st.lists(st.permutations(range(4)), min_size=1, max_size=3))
def test_rrf_puts_a_unanimous_winner_first(impl, rankings):
    rankings = [[7, *ranking] for ranking in rankings]
    fused = call(impl.reciprocal_rank_fusion, rankings)
    assert fused[0][0] == 7, f"document 7 is first in every ranking of {rankings}: got {fused}"


# ---------------------------------------------------------------- agreement with the reference


@given(documents=collections, query=queries, k1=st.sampled_from([0.0, 0.9, 1.2, 2.0]),
       b=st.sampled_from([0.0, 0.4, 0.75, 1.0]))
def test_bm25_matches_reference(impl, ref, documents, query, k1, b):
    actual = _scores(_bm25(impl, documents, k1=k1, b=b), query)
    expected = ref.BM25(documents, k1=k1, b=b).get_scores(query)
    _close(actual, expected, f"BM25({documents}, k1={k1}, b={b}).get_scores({query})")


@given(seed=st.integers(0, 2**31 - 1), docs=st.integers(1, 6), d_model=st.integers(1, 6))
def test_dense_matches_reference(impl, ref, seed, docs, d_model):
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(d_model, generator=generator)
    documents = torch.randn(docs, d_model, generator=generator)
    documents[0] = 0.0
    scores = call(impl.dense_scores, query, documents)
    assert_close(scores, ref.dense_scores(query, documents),
                 what=f"dense_scores on ({docs}, {d_model}) seed {seed}")
    assert_close(call(impl.dense_scores, 3.0 * query, 0.5 * documents), scores,
                 what="cosine is unchanged when the vectors are scaled")


@given(scores=st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.5]), max_size=8), k=st.integers(0, 9))
def test_top_k_matches_reference(impl, ref, scores, k):
    assert_equal(call(impl.top_k, scores, k), ref.top_k(scores, k), what=f"top_k({scores}, {k})")


@given(rankings=st.lists(st.lists(st.integers(0, 6), unique=True, max_size=5), max_size=3),
       k=st.sampled_from([0, 1, 60]))
def test_rrf_matches_reference(impl, ref, rankings, k):
    actual = call(impl.reciprocal_rank_fusion, rankings, k=k)
    expected = ref.reciprocal_rank_fusion(rankings, k=k)
    assert [d for d, _ in actual] == [d for d, _ in expected], (
        f"RRF(k={k}) of {rankings}: expected order {expected}, got {actual}")
    _close([s for _, s in actual], [s for _, s in expected], f"RRF(k={k}) scores of {rankings}")


@given(lists=st.integers(1, 3).flatmap(lambda m: st.integers(1, 5).flatmap(
    lambda n: st.lists(st.lists(st.sampled_from([0.0, 1.0, 2.0, 7.5, -3.0]), min_size=n,
                                max_size=n), min_size=m, max_size=m))))
@example(lists=[[4.0, 4.0, 4.0]])
def test_score_fusion_matches_reference(impl, ref, lists):
    _close(call(impl.score_fusion, lists), ref.score_fusion(lists), f"score_fusion({lists})")


@given(rankings=st.lists(st.lists(st.integers(0, 6), unique=True, max_size=5), min_size=1,
                         max_size=4).flatmap(
    lambda r: st.tuples(st.just(r), st.lists(st.sets(st.integers(0, 7), min_size=1),
                                             min_size=len(r), max_size=len(r)))))
def test_mrr_matches_reference(impl, ref, rankings):
    rankings, relevant = rankings
    actual = call(impl.mean_reciprocal_rank, rankings, relevant)
    assert math.isclose(actual, ref.mean_reciprocal_rank(rankings, relevant)), (
        f"MRR of {rankings} against {relevant}: expected "
        f"{ref.mean_reciprocal_rank(rankings, relevant)}, got {actual}")


@given(ranking=st.lists(st.integers(0, 6), unique=True, max_size=6),
       gains=st.dictionaries(st.integers(0, 7), st.sampled_from([0.0, 1.0, 2.0, 3.0]),
                             min_size=1).filter(lambda g: any(g.values())),
       k=st.integers(1, 7))
def test_ndcg_matches_reference(impl, ref, ranking, gains, k):
    actual = call(impl.ndcg_at_k, ranking, gains, k)
    expected = ref.ndcg_at_k(ranking, gains, k)
    assert math.isclose(actual, expected, abs_tol=1e-12), (
        f"nDCG@{k} of {ranking} with gains {gains}: expected {expected}, got {actual} (linear "
        "gain, log2(rank + 1) discount)")


# ---------------------------------------------------------------- bad input


def test_bm25_parameter_boundaries(impl):
    for options in [{"k1": 0.0}, {"b": 0.0}, {"b": 1.0}]:
        _bm25(impl, **options)  # valid: the boundaries themselves
    for options in [{"k1": -0.1}, {"b": -0.01}, {"b": 1.01}]:
        with pytest.raises(ValueError):
            call(impl.BM25, DOCS, **options)
    _bm25(impl, [[]])  # one empty document is a collection
    with pytest.raises(ValueError):
        call(impl.BM25, [])


def test_dense_shape_mismatch(impl):
    with pytest.raises(ValueError):
        call(impl.dense_scores, torch.ones(3), torch.ones(2, 4))
    with pytest.raises(ValueError):
        call(impl.dense_scores, torch.ones(1, 3), torch.ones(2, 3))


def test_k_boundaries(impl):
    with pytest.raises(ValueError):
        call(impl.top_k, [1.0], -1)
    with pytest.raises(ValueError):
        call(impl.reciprocal_rank_fusion, [[0]], k=-1)
    with pytest.raises(ValueError):
        call(impl.reciprocal_rank_fusion, [[0, 1, 0]])
    assert math.isclose(call(impl.recall_at_k, [1], {1}, 1), 1.0), "recall@1 of a hit is 1"
    with pytest.raises(ValueError):
        call(impl.recall_at_k, [1], {1}, 0)
    with pytest.raises(ValueError):
        call(impl.recall_at_k, [1], set(), 1)


def test_fusion_and_metric_inputs(impl):
    with pytest.raises(ValueError):
        call(impl.score_fusion, [[1.0, 2.0], [1.0]])
    with pytest.raises(ValueError):
        call(impl.score_fusion, [])
    with pytest.raises(ValueError):
        call(impl.score_fusion, [[1.0, 2.0]], [1.0, 1.0])
    with pytest.raises(ValueError):
        call(impl.score_fusion, [[1.0, 2.0], [0.0, 1.0]], [1.0, -0.5])
    _close(call(impl.score_fusion, [[1.0, 2.0], [0.0, 1.0]], [1.0, 0.0]), [0.0, 1.0],
           "a zero weight is allowed")
    with pytest.raises(ValueError):
        call(impl.mean_reciprocal_rank, [[1]], [{1}, {2}])
    with pytest.raises(ValueError):
        call(impl.mean_reciprocal_rank, [[1]], [set()])
    assert math.isclose(call(impl.ndcg_at_k, [1], {1: 1.0, 2: 0.0}, 1), 1.0)
    with pytest.raises(ValueError):
        call(impl.ndcg_at_k, [1], {1: 0.0}, 1)
    with pytest.raises(ValueError):
        call(impl.ndcg_at_k, [1], {1: 1.0, 2: -1.0}, 1)
    with pytest.raises(ValueError):
        call(impl.ndcg_at_k, [1], {1: 1.0}, 0)
