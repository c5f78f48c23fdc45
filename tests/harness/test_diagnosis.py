"""Diagnosis names a catalogued mistake only when the recorded calls single it out."""

from __future__ import annotations

import pytest

from kata.check import Call
from kata.diagnosis import diagnose, mutant_modules
from kata.mutants import module_from_source

# alpha's reference is `return x + 1`. `plus_two` and `double_plus_two` agree at x=0 (both 2,
# the reference 1) and differ at x=1 (3 and 4); `parse` raises ValueError with its own message.
MUTANTS = '''
[[mutant]]
id = "plus_two"
find = "x + 1"
replace = "x + 2"
mistake = "Adds two."

[[mutant]]
id = "double_plus_two"
find = "x + 1"
replace = "2 * x + 2"
mistake = "Doubles, then adds two."

[[mutant]]
id = "parse"
find = "return x + 1"
replace = "return int(str(x) + 'a')"
mistake = "Parses the input as text."
'''


@pytest.fixture
def alpha(katas):
    kata = katas[0]
    kata.mutants.parent.mkdir(parents=True, exist_ok=True)
    kata.mutants.write_text(MUTANTS, encoding="utf-8")
    return kata


def _reference(kata, name):
    return module_from_source(kata.solution.read_text(), f"kata_ref_test_{name}",
                              str(kata.solution))


def _call(x, output=None, error=None):
    return Call("f", (x,), {}, output=output, error=error)


def test_another_failing_call_singles_out_the_mistake(alpha):
    # The learner computes 2x + 2: on the last call (x=0) both mutants match; x=1 decides.
    calls = [_call(1, output=4), _call(0, output=2)]
    found = diagnose(alpha, calls[-1], _reference(alpha, "single"), calls)
    assert found is not None and found.id == "double_plus_two"


def test_a_call_the_learner_got_right_rules_a_mutant_out(alpha):
    # Wrong at 0 (2, like both mutants) but right at 1 (2), where both mutants are wrong.
    calls = [_call(1, output=2), _call(0, output=2)]
    assert diagnose(alpha, calls[-1], _reference(alpha, "right"), calls) is None


def test_look_alikes_are_named_as_candidates_not_as_the_mistake(alpha):
    calls = [_call(0, output=2)]
    found = diagnose(alpha, calls[-1], _reference(alpha, "both"), calls)
    assert found is not None and found.id == "plus_two|double_plus_two"
    assert "Adds two." in found.mistake and "Doubles, then adds two." in found.mistake
    assert found.mistake.startswith("One of these mistakes")


def test_an_exception_matches_only_with_the_same_message(alpha):
    own = ValueError("my own error")
    calls = [_call(0, error=own)]
    assert diagnose(alpha, calls[-1], _reference(alpha, "own"), calls) is None
    same = ValueError("invalid literal for int() with base 10: '0a'")
    calls = [_call(0, error=same)]
    found = diagnose(alpha, calls[-1], _reference(alpha, "same"), calls)
    assert found is not None and found.id == "parse"


def test_attention_minus_1e9_fill_is_not_called_a_reversed_mask():
    """Issue 8, item 7: on a 1x1 fully masked row a -1e9 fill and a reversed mask agree."""
    import torch

    from kata.catalog import find_kata, load_catalog, repo_root

    kata = find_kata("attention", load_catalog(repo_root()))
    reference = module_from_source(kata.solution.read_text(), "kata_ref_test_attention",
                                   str(kata.solution))
    mutant = next(module for m, module in mutant_modules(kata)
                  if m.id == "large_negative_fill_gives_mean")

    def recorded(query, key, value, mask):
        output = mutant.scaled_dot_product_attention(query, key, value, attn_mask=mask)
        return Call("scaled_dot_product_attention", (query, key, value), {"attn_mask": mask},
                    output=output)

    tiny = recorded(torch.ones(1, 2), torch.ones(1, 2), torch.tensor([[3.0, 4.0]]),
                    torch.zeros(1, 1, dtype=torch.bool))
    found = diagnose(kata, tiny, reference, [tiny])
    assert found is None or found.id != "mask_polarity_flipped"
    # A second call with one blocked and one allowed key tells the two apart.
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(2, 3, generator=generator)
    key, value = (torch.randn(3, 3, generator=generator) for _ in range(2))
    mask = torch.tensor([[True, False, True], [False, False, False]])
    other = recorded(query, key, value, mask)
    reference = module_from_source(kata.solution.read_text(), "kata_ref_test_attention2",
                                   str(kata.solution))
    found = diagnose(kata, tiny, reference, [other, tiny])
    assert found is not None and found.id == "large_negative_fill_gives_mean"


def test_a_result_of_the_wrong_structure_says_what_was_expected():
    """Issue 8, item 10: `output` instead of `(output, weights)`."""
    import torch

    from kata.catalog import find_kata, load_catalog, repo_root

    kata = find_kata("attention", load_catalog(repo_root()))
    reference = module_from_source(kata.solution.read_text(), "kata_ref_test_arity",
                                   str(kata.solution))
    query = torch.ones(1, 2)
    output, _ = reference.scaled_dot_product_attention(query, query, query)
    only = Call("scaled_dot_product_attention", (query, query, query), {}, output=output)
    found = diagnose(kata, only, reference, [only])
    assert found is not None and "returned a Tensor" in found.mistake
    assert "a tuple of 2 (Tensor, Tensor)" in found.mistake
    reference = module_from_source(kata.solution.read_text(), "kata_ref_test_none",
                                   str(kata.solution))
    nothing = Call("scaled_dot_product_attention", (query, query, query), {}, output=None)
    found = diagnose(kata, nothing, reference, [nothing])
    assert found is not None and "returned None (a missing return?)" in found.mistake


def test_a_dataclass_result_is_matched_field_by_field():
    """chunking returns Chunk dataclasses: the learner's Chunk and a mutant's are different
    classes, so == alone never matched and the overlap off-by-one went unnamed."""
    from kata.catalog import find_kata, load_catalog, repo_root
    from kata.diagnosis import same

    kata = find_kata("chunking", load_catalog(repo_root()))
    source = kata.solution.read_text()
    reference = module_from_source(source, "kata_ref_test_chunking", str(kata.solution))
    learner = module_from_source(
        source.replace("(length(lo, hi) > chunk_overlap\n", "(length(lo, hi) >= chunk_overlap\n"),
        "kata_learner_test_chunking", str(kata.solution))
    output = learner.split_text("aaa bbb ccc", 8, 4)
    assert [(c.text, c.start) for c in output] == [("aaa bbb ", 0), ("ccc", 8)]
    call = Call("split_text", ("aaa bbb ccc", 8, 4), {}, output=output)
    found = diagnose(kata, call, reference, [call])
    assert found is not None and found.id == "overlap_exclusive"
    # field by field: a different value, or a different class name, is not the same
    chunk = learner.Chunk("ccc", 8)
    assert same(chunk, reference.Chunk("ccc", 8)) and not same(chunk, reference.Chunk("ccc", 7))


def test_a_constructor_call_is_no_evidence_against_a_mistake():
    """rag_pipeline: `RAGSystem(...)` is recorded before `answer`; its fresh instance equals
    nothing, so as evidence it used to rule out every mutant and nothing was named."""
    from kata.catalog import find_kata, load_catalog, repo_root
    from kata.check import _snapshot
    from kata.mutants import load_mutants

    kata = find_kata("rag_pipeline", load_catalog(repo_root()))
    source = kata.solution.read_text()
    reference = module_from_source(source, "kata_ref_test_rag", str(kata.solution))
    mutant = next(m for m in load_mutants(kata.mutants) if m.id == "threshold_inclusive")
    learner = module_from_source(mutant.apply(source), "kata_learner_test_rag", str(kata.solution))
    rows = [learner.Passage("d1", "a b", -1.0)]
    model = learner.ScriptedModel([""])
    def retrieve(question):
        return list(rows)
    rag = learner.RAGSystem(model, retrieve, min_score=-1.0)
    built = Call("RAGSystem", (model, retrieve), {"min_score": -1.0}, output=rag)
    owner = _snapshot(rag)
    answered = Call("answer", ("q",), {}, output=rag.answer("q"), owner=owner,
                    owner_class="RAGSystem")
    found = diagnose(kata, answered, reference, [built, answered])
    assert found is not None and found.id == "threshold_inclusive"
