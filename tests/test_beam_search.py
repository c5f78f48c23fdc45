"""Grader for the `beam_search` kata: worked examples, properties, then exhaustive search."""

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kata.check import assert_equal, call
from kata.strategies import seeds

EOS, A, B = 0, 1, 2
PROMPT = [1, 2, 1]


class TableLM:
    """Next-token probabilities looked up by the generated prefix (the prompt is skipped);
    prefixes not in the table get a uniform distribution. Records the shape of every call."""

    def __init__(self, table, vocab=3, prompt_len=len(PROMPT)):
        self.table, self.vocab, self.prompt_len = table, vocab, prompt_len
        self.calls = []

    def __call__(self, sequences):
        self.calls.append(tuple(sequences.shape))
        rows = [self.table.get(tuple(row[self.prompt_len:]), [1 / self.vocab] * self.vocab)
                for row in sequences.tolist()]
        return torch.tensor(rows, dtype=torch.float64, device=sequences.device).log()


class Recording:
    """Wraps a step function and records the sequences it is called with."""

    def __init__(self, step_fn):
        self.step_fn, self.calls = step_fn, []

    def __call__(self, sequences):
        self.calls.append(sequences.detach().cpu().clone())
        return self.step_fn(sequences)


def _prompt(device, tokens=PROMPT):
    return torch.tensor(tokens, dtype=torch.long, device=device)


def _score(step_fn, prompt, tokens, length_penalty):
    """Penalised score of one continuation, re-scored step by step (float64)."""
    total, sequence = 0.0, prompt.tolist()
    for token in tokens:
        total += float(step_fn(torch.tensor([sequence], device=prompt.device))[0, token])
        sequence.append(token)
    return total / len(tokens) ** length_penalty


def _greedy(step_fn, prompt, max_new_tokens, eos, length_penalty):
    tokens = []
    for _ in range(max_new_tokens):
        sequence = torch.tensor([prompt.tolist() + tokens], device=prompt.device)
        tokens.append(int(step_fn(sequence)[0].argmax()))
        if tokens[-1] == eos:
            break
    return tokens, _score(step_fn, prompt, tokens, length_penalty)


def _exhaustive(step_fn, prompt, vocab, max_new_tokens, eos, length_penalty):
    """Every EOS-terminated continuation up to max_new_tokens, and every full-length one."""
    best = None
    for length in range(1, max_new_tokens + 1):
        for tokens in itertools.product(range(vocab), repeat=length):
            if eos in tokens[:-1] or (length < max_new_tokens and tokens[-1] != eos):
                continue
            score = _score(step_fn, prompt, list(tokens), length_penalty)
            if best is None or score > best[1]:
                best = (list(tokens), score)
    return best


def _check_score(score, expected, what):
    assert isinstance(score, float) and math.isclose(score, expected, rel_tol=1e-9,
                                                     abs_tol=1e-9), (
        f"{what}: expected score {expected:.6g}, got {score!r}")


# ---------------------------------------------------------------- worked examples


def test_width_two_finds_what_greedy_misses(impl, device):
    # greedy: A (0.5) then EOS (0.4): p = 0.2. Beam 2 also keeps B (0.4), then EOS (0.9): 0.36.
    lm = TableLM({(): [0.1, 0.5, 0.4], (A,): [0.4, 0.3, 0.3], (B,): [0.9, 0.05, 0.05]})
    tokens, score = call(impl.beam_search, lm, _prompt(device), 2, 2, EOS, length_penalty=0.0)
    assert_equal(tokens, torch.tensor([B, EOS], device=device),
                 what="beam_width=2 result (B then EOS, probability 0.4 · 0.9 = 0.36)")
    _check_score(score, math.log(0.36), "score with length_penalty=0 (summed log-prob)")
    tokens, score = call(impl.beam_search, lm, _prompt(device), 1, 2, EOS, length_penalty=0.0)
    assert_equal(tokens, torch.tensor([A, EOS], device=device),
                 what="beam_width=1 result (greedy: A then EOS, probability 0.2)")
    _check_score(score, math.log(0.2), "greedy score")


LENGTH_TABLE = {(): [0.4, 0.55, 0.05], (A,): [0.5, 0.3, 0.2], (B,): [0.9, 0.05, 0.05]}


def test_length_penalty_zero_prefers_the_short_hypothesis(impl, device):
    # [EOS]: log 0.4 = -0.92; [A, EOS]: log 0.275 = -1.29; [A, A]: log 0.165 = -1.80
    tokens, score = call(impl.beam_search, TableLM(LENGTH_TABLE), _prompt(device), 3, 2, EOS,
                         length_penalty=0.0)
    assert_equal(tokens, torch.tensor([EOS], device=device), what="best with length_penalty=0")
    _check_score(score, math.log(0.4), "score of [EOS] with length_penalty=0")


def test_length_penalty_one_divides_by_generated_length(impl, device):
    # alpha = 1: [EOS]: -0.92 / 1; [A, EOS]: -1.29 / 2 = -0.65 (best); [A, A]: -1.80 / 2 = -0.90.
    # new_len counts the generated tokens, EOS included, never the 3 prompt tokens.
    tokens, score = call(impl.beam_search, TableLM(LENGTH_TABLE), _prompt(device), 3, 2, EOS,
                         length_penalty=1.0)
    assert_equal(tokens, torch.tensor([A, EOS], device=device), what="best with length_penalty=1")
    _check_score(score, math.log(0.55 * 0.5) / 2, "score of [A, EOS] = log(0.275) / 2")


def test_hypotheses_cut_at_max_new_tokens_are_candidates(impl, device):
    # EOS is never likely: after 3 tokens the live beams are finished as they are.
    lm = TableLM({(): [0.01, 0.6, 0.39], (A,): [0.01, 0.2, 0.79], (A, B): [0.01, 0.9, 0.09]})
    tokens, score = call(impl.beam_search, lm, _prompt(device), 1, 3, EOS, length_penalty=1.0)
    assert_equal(tokens, torch.tensor([A, B, A], device=device),
                 what="greedy result that never produces EOS (max_new_tokens=3)")
    _check_score(score, math.log(0.6 * 0.79 * 0.9) / 3, "score of the cut hypothesis")


def test_search_continues_after_beam_width_hypotheses_finish(impl, device):
    # beam_width 2, alpha 1. Step 1 finishes [EOS] (log 0.5 = -0.69) and keeps A. Step 2
    # finishes [A, EOS] (log 0.12 / 2 = -1.06): two hypotheses are done, but the live beam
    # [A, B] can still win, and does: [A, B, EOS] scores log(0.3 · 0.599 · 0.998) / 3 = -0.57.
    lm = TableLM({(): [0.5, 0.3, 0.2], (A,): [0.4, 0.001, 0.599], (A, B): [0.998, 0.0015, 0.0005]})
    tokens, score = call(impl.beam_search, lm, _prompt(device), 2, 3, EOS, length_penalty=1.0)
    assert_equal(tokens, torch.tensor([A, B, EOS], device=device),
                 what="best of beam_width=2 (do not stop once beam_width hypotheses finished: "
                      "a live beam can still score higher)")
    _check_score(score, math.log(0.3 * 0.599 * 0.998) / 3, "score of [A, B, EOS]")


@pytest.mark.parametrize("beam_width", [1, 2])
def test_one_new_token_is_a_valid_budget(impl, device, beam_width):
    # max_new_tokens = 1 (the smallest valid value): [EOS] (log 0.5) beats [A] cut (log 0.3).
    lm = TableLM({(): [0.5, 0.3, 0.2]})
    tokens, score = call(impl.beam_search, lm, _prompt(device), beam_width, 1, EOS)
    assert_equal(tokens, torch.tensor([EOS], device=device),
                 what=f"beam_width={beam_width}, max_new_tokens=1 result")
    _check_score(score, math.log(0.5), "score of [EOS]")


# ---------------------------------------------------------------- properties

models = st.tuples(st.integers(2, 5), seeds)  # (vocab, seed)


@settings(max_examples=20)
@given(model=models, max_new_tokens=st.integers(1, 6), eos=st.integers(0, 1),
       length_penalty=st.sampled_from((0.0, 0.6, 1.0, 2.0)))
def test_beam_width_one_equals_greedy(impl, ref, device, model, max_new_tokens, eos,
                                      length_penalty):
    lm = ref.ToyLM(*model)
    prompt = _prompt(device, [model[0] - 1])
    expected, expected_score = _greedy(lm, prompt, max_new_tokens, eos, length_penalty)
    tokens, score = call(impl.beam_search, lm, prompt, 1, max_new_tokens, eos,
                         length_penalty=length_penalty)
    assert_equal(tokens, torch.tensor(expected, device=device), what="beam_width=1 vs greedy")
    _check_score(score, expected_score, "beam_width=1 score vs greedy's")


@settings(max_examples=20)
@given(model=models, beam_width=st.integers(1, 4), max_new_tokens=st.integers(1, 5),
       length_penalty=st.sampled_from((0.0, 1.0, 1.5)))
def test_result_is_well_formed_and_its_score_is_its_own(impl, ref, device, model, beam_width,
                                                        max_new_tokens, length_penalty):
    lm = ref.ToyLM(*model)
    prompt = _prompt(device, [0, model[0] - 1])
    tokens, score = call(impl.beam_search, lm, prompt, beam_width, max_new_tokens, EOS,
                         length_penalty=length_penalty)
    assert tokens.dtype == torch.int64 and tokens.dim() == 1, (
        f"tokens must be a 1-d int64 tensor, got {tokens.dtype} {list(tokens.shape)}")
    generated = tokens.tolist()
    assert 1 <= len(generated) <= max_new_tokens, (
        f"{len(generated)} tokens generated, expected 1..{max_new_tokens} (the prompt excluded)")
    assert EOS not in generated[:-1], f"EOS inside the result {generated}: a hypothesis ends at EOS"
    assert generated[-1] == EOS or len(generated) == max_new_tokens, (
        f"{generated} neither ends with EOS nor reaches max_new_tokens={max_new_tokens}")
    _check_score(score, _score(lm, prompt, generated, length_penalty),
                 f"score of the returned tokens {generated} (sum of log-probs / new_len ** "
                 f"{length_penalty})")


@settings(max_examples=20)
@given(model=models, beam_width=st.integers(1, 4), max_new_tokens=st.integers(1, 5))
def test_step_fn_called_once_per_step_with_at_most_beam_width_beams(impl, ref, device, model,
                                                                     beam_width, max_new_tokens):
    lm = Recording(ref.ToyLM(*model))
    prompt = _prompt(device, [model[0] - 1, 0])
    call(impl.beam_search, lm, prompt, beam_width, max_new_tokens, EOS)
    assert 1 <= len(lm.calls) <= max_new_tokens, (
        f"step_fn was called {len(lm.calls)} times for max_new_tokens={max_new_tokens}: call it "
        "once per step with all live beams stacked")
    for step, sequences in enumerate(lm.calls):
        assert sequences.shape[0] <= beam_width, (
            f"step {step}: step_fn got {sequences.shape[0]} beams, more than "
            f"beam_width={beam_width}")
        assert sequences.shape[1] == len(prompt) + step, (
            f"step {step}: sequences have length {sequences.shape[1]}, expected prompt + {step}")
        assert bool((sequences[:, : len(prompt)] == prompt.cpu()).all()), (
            f"step {step}: every beam must start with the prompt")
        assert not bool((sequences[:, len(prompt):] == EOS).any()), (
            f"step {step}: a beam that produced EOS was extended; finished beams leave the beam")


# ---------------------------------------------------------------- oracle


@settings(max_examples=15)
@given(model=st.tuples(st.integers(2, 3), seeds), max_new_tokens=st.integers(1, 3),
       length_penalty=st.sampled_from((0.0, 0.5, 1.0, 2.0)), prompt_len=st.integers(1, 3))
def test_wide_beam_matches_exhaustive_search(impl, ref, device, model, max_new_tokens,
                                             length_penalty, prompt_len):
    vocab = model[0]
    lm = ref.ToyLM(*model)
    prompt = _prompt(device, [(i + 1) % vocab for i in range(prompt_len)])
    expected, expected_score = _exhaustive(lm, prompt, vocab, max_new_tokens, EOS, length_penalty)
    width = vocab**max_new_tokens  # room for every prefix: nothing is ever pruned
    tokens, score = call(impl.beam_search, lm, prompt, width, max_new_tokens, EOS,
                         length_penalty=length_penalty)
    assert_equal(tokens, torch.tensor(expected, device=device),
                 what=f"beam_width={width} vs exhaustive search (length_penalty={length_penalty})")
    _check_score(score, expected_score, "best score vs exhaustive search")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("beam_width, max_new_tokens, bad", [(-4, 3, "-4"), (2, -7, "-7")])
def test_non_positive_sizes_raise_value_error_naming_them(impl, device, beam_width,
                                                          max_new_tokens, bad):
    with pytest.raises(ValueError) as raised:
        call(impl.beam_search, TableLM({}), _prompt(device), beam_width, max_new_tokens, EOS)
    assert bad in str(raised.value), (
        f"the ValueError should name the bad value {bad}; it said: {str(raised.value)!r}")


@pytest.mark.parametrize("beam_width, max_new_tokens", [(0, 3), (2, 0)])
def test_zero_sizes_raise_value_error(impl, device, beam_width, max_new_tokens):
    with pytest.raises(ValueError):
        call(impl.beam_search, TableLM({}), _prompt(device), beam_width, max_new_tokens, EOS)
