"""Library check for the `retrieval` reference: BM25 against rank_bm25 (0.2.2) on random corpora.

Not part of the grader (rank_bm25 is not a dependency). Run in a venv with rank_bm25 installed:
    python -m pytest tests/oracles/test_retrieval.py --target solutions -q

Two checks back the docstring's comparison:
1. with rank_bm25's idf table replaced by the reference's (Lucene's) idf, `BM25Okapi.get_scores`
   equals the reference's scores: the tf part, (k1 + 1), avgdl and repeated query terms agree;
2. rank_bm25's own idf is ln((N - n + 0.5)/(n + 0.5)), with every negative value replaced by
   0.25 · (mean idf over the vocabulary), as the reference's docstring states.
"""

import math
import random

import pytest

rank_bm25 = pytest.importorskip("rank_bm25")

VOCABULARY = ["a", "b", "c", "d", "e", "检", "索"]


def _corpus(rng):
    documents = [[rng.choice(VOCABULARY) for _ in range(rng.randint(1, 8))]
                 for _ in range(rng.randint(1, 7))]
    query = [rng.choice(VOCABULARY + ["unseen"]) for _ in range(rng.randint(1, 4))]
    return documents, query


def test_scores_match_rank_bm25_with_lucene_idf(ref, record_property):
    rng, cases, worst = random.Random(0), 0, 0.0
    for _ in range(300):
        documents, query = _corpus(rng)
        k1, b = rng.choice([0.5, 1.2, 2.0]), rng.choice([0.0, 0.3, 0.75, 1.0])
        ours = ref.BM25(documents, k1=k1, b=b)
        theirs = rank_bm25.BM25Okapi(documents, k1=k1, b=b)
        theirs.idf = {token: ours.idf(token) for token in theirs.idf}
        expected = [float(score) for score in theirs.get_scores(query)]
        actual = ours.get_scores(query)
        worst = max(worst, *(abs(x - y) for x, y in zip(actual, expected)))
        cases += 1
    record_property("library", f"rank_bm25 {getattr(rank_bm25, '__version__', '0.2.2')}")
    record_property("cases", cases)
    record_property("max_abs_diff", worst)
    assert worst < 1e-9, f"BM25 scores differ from rank_bm25 with Lucene's idf by {worst}"


def test_rank_bm25_idf_is_the_documented_variant(ref, record_property):
    rng, cases, worst = random.Random(1), 0, 0.0
    for _ in range(300):
        documents, _ = _corpus(rng)
        theirs = rank_bm25.BM25Okapi(documents)  # epsilon = 0.25
        N = len(documents)
        raw = {token: math.log((N - n + 0.5) / (n + 0.5))
               for token, n in ((t, sum(t in d for d in documents))
                                for t in {t for d in documents for t in d})}
        floor = 0.25 * sum(raw.values()) / len(raw)
        for token, value in raw.items():
            expected = floor if value < 0 else value
            worst = max(worst, abs(theirs.idf[token] - expected))
            lucene = ref.BM25(documents).idf(token)
            assert lucene > 0 and lucene >= value, (
                f"Lucene's idf {lucene} must be positive and at least the original {value}")
        cases += 1
    record_property("library", "rank_bm25")
    record_property("cases", cases)
    record_property("max_abs_diff", worst)
    assert worst < 1e-12, f"rank_bm25's idf differs from the documented variant by {worst}"
