"""Grader for the `sampling` kata: worked examples, properties, then float64 oracles."""

import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kata.check import assert_close, assert_equal, call
from kata.strategies import randn, seeds, size

NEG_INF = float("-inf")
shapes = st.tuples(size(3), size(8))  # (batch, vocab)


def _log(probs, device):
    return torch.tensor(probs, dtype=torch.float64, device=device).log().float()


def _kept(filtered):
    return ~torch.isneginf(filtered)


def _top_p_oracle(logits, top_p):
    """Kept mask by the documented rule, in float64: preceding mass in descending order < top_p."""
    probs = torch.softmax(logits.double(), dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs
    keep_sorted = before < top_p
    return keep_sorted.scatter(-1, order, keep_sorted), sorted_probs.cumsum(-1)


def _expected_distribution(logits, temperature, top_k, top_p, min_p, margin=1e-4):
    """(softmax over the tokens the documented chain keeps, in float64; whether a top-p or
    min-p boundary lies within `margin`, where float32 rounding may decide either way)."""
    scaled = logits.double() / temperature
    keep = torch.ones_like(scaled, dtype=torch.bool)
    if top_k is not None:
        keep &= scaled >= scaled.topk(min(top_k, scaled.shape[-1]), dim=-1).values[..., -1:]
    scaled = scaled.masked_fill(~keep, NEG_INF)
    ambiguous = False
    if top_p < 1:
        top_p_keep, cumulative = _top_p_oracle(scaled, top_p)
        keep &= top_p_keep
        ambiguous |= bool(((cumulative - top_p).abs() < margin).any())
    scaled = scaled.masked_fill(~keep, NEG_INF)
    probs = torch.softmax(scaled, dim=-1)
    ratio = probs / probs.amax(dim=-1, keepdim=True)
    keep &= ratio >= min_p
    ambiguous |= bool(((ratio - min_p).abs() < margin)[(ratio < 1) & (ratio > 0)].any())
    return torch.softmax(scaled.masked_fill(~keep, NEG_INF), dim=-1), ambiguous


# ---------------------------------------------------------------- worked examples


def test_repetition_penalty_worked_example(impl, device):
    logits = torch.tensor([[2.0, -2.0, 1.0, 0.5]], device=device)
    input_ids = torch.tensor([[0, 1, 1]], device=device)  # token 1 twice: penalised once
    out = call(impl.apply_repetition_penalty, logits, input_ids, 2.0)
    # 2.0 > 0 is divided: 1.0; -2.0 < 0 is multiplied: -4.0; tokens 2 and 3 are not seen
    assert_close(out, torch.tensor([[1.0, -4.0, 1.0, 0.5]], device=device),
                 what="logits after the repetition penalty (divide positive, multiply negative, "
                      "once per distinct token)")


def test_repetition_penalty_uses_each_rows_own_history(impl, device):
    logits = torch.tensor([[3.0, 3.0, 3.0], [-1.0, -1.0, -1.0]], device=device)
    input_ids = torch.tensor([[2, 2], [0, 1]], device=device)
    out = call(impl.apply_repetition_penalty, logits, input_ids, 1.5)
    expected = torch.tensor([[3.0, 3.0, 2.0], [-1.5, -1.5, -1.0]], device=device)
    assert_close(out, expected, what="each row penalised by its own input_ids")


def test_top_k_worked_example(impl, device):
    logits = torch.tensor([[1.0, 4.0, 3.0, 2.0]], device=device)
    out = call(impl.top_k_filter, logits, 2)
    assert_close(out, torch.tensor([[NEG_INF, 4.0, 3.0, NEG_INF]], device=device),
                 what="top_k=2 keeps the two largest logits unchanged and sets the rest to -inf")


def test_top_k_keeps_every_token_tied_with_the_kth(impl, device):
    logits = torch.tensor([[5.0, 2.0, 2.0, 1.0, 2.0]], device=device)
    out = call(impl.top_k_filter, logits, 2)
    # the 2nd largest value is 2.0, shared by ids 1, 2 and 4: all three are kept (transformers)
    assert_close(out, torch.tensor([[5.0, 2.0, 2.0, NEG_INF, 2.0]], device=device),
                 what="top_k=2 with three logits tied at the 2nd largest value")


def test_top_k_zero_disables_the_filter(impl, device):
    # 0 means "no top-k" (transformers' generate, vLLM, llama.cpp): the last valid value.
    logits = torch.tensor([[1.0, 4.0, 3.0, 2.0]], device=device)
    assert_close(call(impl.top_k_filter, logits, 0), logits, what="top_k_filter(logits, 0)")
    rows = logits.expand(64, -1)
    unfiltered = call(impl.sample, rows, torch.Generator(device=device).manual_seed(3))
    with_zero = call(impl.sample, rows, torch.Generator(device=device).manual_seed(3), top_k=0)
    assert_equal(with_zero, unfiltered, what="sample(top_k=0) vs sample(top_k=None), same seed")


def test_top_p_worked_example_keeps_the_crossing_token(impl, device):
    logits = _log([[0.5, 0.3, 0.15, 0.05]], device)
    # preceding mass: 0, 0.5, 0.8, 0.95. top_p=0.7: 0 and 0.5 are < 0.7, so ids 0 and 1
    # (0.5 + 0.3 = 0.8 reaches 0.7; id 1 is the crossing token and is kept).
    out = call(impl.top_p_filter, logits, 0.7)
    expected = logits.clone()
    expected[0, 2:] = NEG_INF
    assert_close(out, expected, what="top_p=0.7 over probabilities [0.5, 0.3, 0.15, 0.05]")
    out = call(impl.top_p_filter, logits, 0.85)
    expected = logits.clone()
    expected[0, 3] = NEG_INF
    assert_close(out, expected, what="top_p=0.85 over probabilities [0.5, 0.3, 0.15, 0.05]")


def test_top_p_worked_example_unsorted_vocabulary(impl, device):
    logits = _log([[0.1, 0.6, 0.05, 0.25]], device)
    # by probability: id 1 (0.6), id 3 (0.25), id 0 (0.1), id 2 (0.05); top_p=0.8 keeps 1 and 3
    out = call(impl.top_p_filter, logits, 0.8)
    expected = logits.clone()
    expected[0, [0, 2]] = NEG_INF
    assert_close(out, expected, what="top_p=0.8 over probabilities [0.1, 0.6, 0.05, 0.25]")


def test_top_p_ties_at_the_boundary_keep_the_documented_count(impl, device):
    logits = _log([[0.2, 0.4, 0.2, 0.2]], device)
    # descending: 0.4, then three tokens of 0.2 with preceding mass 0.4, 0.6, 0.8.
    # top_p=0.5: exactly one of the tied tokens is kept (which one is unspecified).
    out = call(impl.top_p_filter, logits, 0.5)
    kept = _kept(out)
    assert bool(kept[0, 1]), "the most likely token (id 1) must be kept"
    assert int(kept.sum()) == 2, (
        f"top_p=0.5 over [0.2, 0.4, 0.2, 0.2] must keep 2 tokens (0.4 and one 0.2), kept "
        f"{kept.int().tolist()}")


def test_top_p_exact_boundary_drops_the_token_after_it(impl, device):
    logits = _log([[0.3, 0.1, 0.1, 0.5]], device)
    # descending: 0.5 (id 3), 0.3 (id 0), then 0.1, 0.1 with preceding mass exactly 0.8 and
    # 0.9. top_p=0.8: the mass before each 0.1 reaches 0.8, so only ids 3 and 0 are kept.
    # (In float32, cumsum - p gives 0.79999995 for the first 0.1 and wrongly keeps it.)
    out = call(impl.top_p_filter, logits, 0.8)
    expected = logits.clone()
    expected[0, [1, 2]] = NEG_INF
    assert_close(out, expected, what="top_p=0.8 over probabilities [0.3, 0.1, 0.1, 0.5]")


def test_min_p_worked_example(impl, device):
    logits = _log([[0.5, 0.3, 0.15, 0.05]], device)
    # threshold = 0.2 * 0.5 = 0.1: keeps 0.5, 0.3, 0.15 and drops 0.05
    out = call(impl.min_p_filter, logits, 0.2)
    expected = logits.clone()
    expected[0, 3] = NEG_INF
    assert_close(out, expected, what="min_p=0.2 over probabilities [0.5, 0.3, 0.15, 0.05]")


def test_temperature_zero_is_greedy_with_lowest_id_on_ties(impl, device):
    logits = torch.tensor([[0.0, 3.0, 1.0, 3.0], [2.0, -1.0, 0.0, 1.0], [5.0, 5.0, 5.0, 5.0]],
                          device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    tokens = call(impl.sample, logits.repeat(8, 1), generator, temperature=0.0)
    assert_equal(tokens, torch.tensor([1, 0, 0] * 8, device=device),
                 what="greedy tokens (argmax, lowest id on ties), every time")


# ---------------------------------------------------------------- properties


FILTER_PARAMS = {
    "top_k": st.integers(1, 9),
    "top_p": st.sampled_from((1e-6, 0.05, 0.3, 0.5, 0.9, 0.99, 1.0)),
    "min_p": st.sampled_from((0.0, 0.05, 0.3, 0.7, 1.0)),
}


@settings(max_examples=15)
@given(shape=shapes, seed=seeds, which=st.sampled_from(sorted(FILTER_PARAMS)), data=st.data())
def test_filters_never_drop_the_argmax(impl, device, shape, seed, which, data):
    logits = randn(shape, seed, device=device, scale=3.0)
    param = data.draw(FILTER_PARAMS[which], label=which)
    out = call(getattr(impl, f"{which}_filter"), logits, param)
    best = logits.argmax(dim=-1, keepdim=True)
    assert bool(_kept(out).gather(-1, best).all()), (
        f"{which}_filter({which}={param}) set the most likely token to -inf; a filter must "
        "always keep it (so no row is ever empty)")


@settings(max_examples=15)
@given(shape=shapes, seed=seeds, which=st.sampled_from(sorted(FILTER_PARAMS)), data=st.data())
def test_kept_probabilities_renormalise_to_one(impl, device, shape, seed, which, data):
    logits = randn(shape, seed, device=device, scale=3.0)
    param = data.draw(FILTER_PARAMS[which], label=which)
    out = call(getattr(impl, f"{which}_filter"), logits, param)
    kept = _kept(out)
    assert_close(out[kept], logits[kept], what=f"kept logits after {which}_filter (unchanged)")
    assert bool(torch.isneginf(out[~kept]).all()), "dropped tokens must be exactly -inf"
    probs = torch.softmax(logits.double(), dim=-1)
    renormalised = torch.where(kept, probs, 0.0) / torch.where(kept, probs, 0.0).sum(-1, True)
    assert_close(torch.softmax(out.double(), dim=-1), renormalised,
                 what=f"softmax after {which}_filter vs the kept probabilities renormalised")


@settings(max_examples=15)
@given(shape=shapes, seed=seeds, top_p=st.floats(0.01, 0.99))
def test_top_p_keeps_the_smallest_prefix_reaching_top_p(impl, device, shape, seed, top_p):
    logits = randn(shape, seed, device=device, scale=2.0)
    keep, cumulative = _top_p_oracle(logits, top_p)
    assume(bool(((cumulative - top_p).abs() > 1e-4).all()))  # no boundary within rounding
    out = call(impl.top_p_filter, logits, top_p)
    probs = torch.softmax(logits.double(), dim=-1)
    kept_mass = torch.where(_kept(out), probs, 0.0).sum(-1)
    assert bool((kept_mass >= top_p).all()), (
        f"top_p={top_p:.4g}: kept mass {kept_mass.tolist()} does not reach top_p; the token "
        "that crosses top_p must be kept")
    assert_equal(_kept(out), keep, what=f"kept tokens for top_p={top_p:.4g} (True = kept); "
                 "is the sort descending, and is each token's preceding mass compared?")


@settings(max_examples=15)
@given(shape=shapes, seed=seeds, top_k=st.integers(1, 9))
def test_top_k_keeps_k_tokens_without_ties(impl, device, shape, seed, top_k):
    logits = randn(shape, seed, device=device)
    out = call(impl.top_k_filter, logits, top_k)
    count = _kept(out).sum(-1)
    expected = torch.full_like(count, min(top_k, shape[1]))
    assert_equal(count, expected, what=f"number of tokens kept by top_k={top_k}")


@settings(max_examples=15)
@given(shape=shapes, seed=seeds, min_p=st.floats(0.0, 1.0))
def test_min_p_keeps_tokens_above_scaled_threshold(impl, device, shape, seed, min_p):
    logits = randn(shape, seed, device=device, scale=2.0)
    probs = torch.softmax(logits.double(), dim=-1)
    ratio = probs / probs.amax(-1, keepdim=True)
    assume(bool(((ratio - min_p).abs() > 1e-5)[ratio < 1].all()))
    out = call(impl.min_p_filter, logits, min_p)
    assert_equal(_kept(out), ratio >= min_p,
                 what=f"kept tokens for min_p={min_p:.4g} (p >= min_p * max p)")


@settings(max_examples=15)
@given(shape=shapes, seed=seeds, which=st.sampled_from(sorted(FILTER_PARAMS)), data=st.data())
def test_filters_do_not_modify_their_input(impl, device, shape, seed, which, data):
    logits = randn(shape, seed, device=device, scale=3.0)
    before = logits.clone()
    param = data.draw(FILTER_PARAMS[which], label=which)
    call(getattr(impl, f"{which}_filter"), logits, param)
    assert_equal(logits, before, what=f"the logits passed to {which}_filter (must not change)")


@settings(max_examples=15)
@given(shape=shapes, seed=seeds, penalty=st.floats(0.5, 3.0))
def test_repetition_penalty_keeps_signs_and_moves_seen_logits_the_documented_way(
        impl, device, shape, seed, penalty):
    batch, vocab = shape
    logits = randn(shape, seed, device=device, scale=2.0)
    input_ids = torch.randint(0, vocab, (batch, 4), generator=torch.Generator().manual_seed(seed))
    input_ids = input_ids.to(device)
    before = logits.clone()
    out = call(impl.apply_repetition_penalty, logits, input_ids, penalty)
    assert_equal(logits, before, what="the logits passed in (must not change)")
    seen = torch.zeros(shape, dtype=torch.bool, device=device).scatter(-1, input_ids, True)
    expected = torch.where(seen, torch.where(logits < 0, logits * penalty, logits / penalty),
                           logits)
    assert_close(out, expected, what=f"logits after penalty={penalty:.3g} (seen tokens: x/penalty "
                 "if x > 0 else x*penalty, once each; unseen unchanged)")
    assert bool((torch.sign(out) == torch.sign(logits)).all()), "the penalty must keep signs"


@settings(max_examples=15)
@given(seed=seeds, vocab=size(8, 2))
def test_temperature_to_zero_equals_greedy(impl, device, seed, vocab):
    # distinct integer logits: a gap of at least 1, so at temperature 1e-3 the argmax has
    # probability 1 - O(exp(-1000)) in float32
    order = torch.randperm(vocab, generator=torch.Generator().manual_seed(seed))
    logits = torch.stack([order, order.flip(0)]).float().to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    tokens = call(impl.sample, logits, generator, temperature=1e-3)
    assert_equal(tokens, logits.argmax(dim=-1), what="tokens sampled at temperature 1e-3")


@pytest.mark.parametrize("seed", [0, 1])
def test_same_seed_gives_same_samples(impl, device, seed):
    logits = randn((1, 6), seed, device=device).expand(64, 6)
    first = call(impl.sample, logits, torch.Generator(device=device).manual_seed(seed))
    again = call(impl.sample, logits, torch.Generator(device=device).manual_seed(seed))
    assert_equal(again, first, what="tokens from a second generator with the same seed "
                 "(draw with the generator passed in, not the global RNG)")
    assert first.dtype == torch.int64 and first.shape == (64,), (
        f"sample must return (batch,) int64 ids, got {first.dtype} {list(first.shape)}")


CONFIGS = [  # (temperature, top_k, top_p, min_p)
    (1.0, None, 1.0, 0.0),
    (0.5, None, 1.0, 0.0),
    (2.0, 4, 1.0, 0.0),
    (1.0, None, 0.75, 0.0),
    (1.5, None, 0.9, 0.0),
    (1.0, None, 1.0, 0.3),
    (0.7, 5, 0.9, 0.1),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "T{}-k{}-p{}-minp{}".format(*c))
def test_seeded_sample_frequencies_match_filtered_distribution(impl, device, config):
    temperature, top_k, top_p, min_p = config
    draws = 20_000
    row = _log([[0.3, 0.04, 0.2, 0.12, 0.02, 0.18, 0.08, 0.06]], device)
    expected, ambiguous = _expected_distribution(row, temperature, top_k, top_p, min_p)
    assert not ambiguous, "test setup: a filter boundary is too close to call"
    expected = expected[0]
    tokens = call(impl.sample, row.expand(draws, -1), torch.Generator(device=device).manual_seed(7),
                  temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
    frequencies = torch.bincount(tokens.cpu(), minlength=8).double() / draws
    dropped = expected.cpu() == 0
    assert bool((frequencies[dropped] == 0).all()), (
        f"tokens {dropped.nonzero().flatten().tolist()} should be filtered out but were drawn; "
        f"frequencies {frequencies.tolist()}")
    # one frequency has std <= 0.5 / sqrt(20000) = 0.0035: 0.02 is over 5 standard deviations
    assert_close(frequencies, expected.cpu(), atol=0.02, rtol=0.0,
                 what=f"frequencies of {draws} seeded draws vs the filtered distribution "
                      f"(temperature={temperature}, top_k={top_k}, top_p={top_p}, min_p={min_p})")


def test_half_precision_logits_are_sampled_in_float32(impl, device):
    # float16 logits near its maximum (65504): divided by temperature 0.5 in float16 they
    # overflow to inf (and the softmax to NaN); in float32 they are 120000 and 119936, a gap
    # of 64, so token 0 has probability 1 - e^-64.
    logits = torch.tensor([[60000.0, 59968.0, 0.0]], dtype=torch.float16, device=device)
    tokens = call(impl.sample, logits.expand(16, -1),
                  torch.Generator(device=device).manual_seed(0), temperature=0.5)
    assert_equal(tokens, torch.zeros(16, dtype=torch.int64, device=device),
                 what="tokens sampled from float16 logits [60000, 59968, 0] at temperature 0.5 "
                      "(upcast to float32 before dividing by the temperature)")


@pytest.mark.parametrize("case", ["top_p_one", "top_p_tiny", "min_p_zero", "min_p_one",
                                  "penalty_one"])
def test_parameters_at_the_edge_of_their_range_are_accepted(impl, device, case):
    logits = _log([[0.2, 0.5, 0.3]], device)
    keep_all, argmax_only = logits.clone(), logits.clone()
    argmax_only[0, [0, 2]] = NEG_INF
    ids = torch.tensor([[1]], device=device)
    runs = {  # (call, expected, what)
        "top_p_one": (lambda: call(impl.top_p_filter, logits, 1.0), keep_all,
                      "top_p=1 keeps every token"),
        "top_p_tiny": (lambda: call(impl.top_p_filter, logits, 1e-9), argmax_only,
                       "top_p=1e-9 keeps only the argmax"),
        "min_p_zero": (lambda: call(impl.min_p_filter, logits, 0.0), keep_all,
                       "min_p=0 keeps every token"),
        "min_p_one": (lambda: call(impl.min_p_filter, logits, 1.0), argmax_only,
                      "min_p=1 keeps only the most likely token"),
        "penalty_one": (lambda: call(impl.apply_repetition_penalty, logits, ids, 1.0), keep_all,
                        "penalty=1 changes nothing"),
    }
    run, expected, what = runs[case]
    assert_close(run(), expected, what=what)


@pytest.mark.parametrize("case", ["top_p", "min_p"])
def test_parameters_just_above_one_raise_value_error(impl, device, case):
    logits = torch.zeros(1, 4, device=device)
    bad = math.nextafter(1.0, 2.0)
    function = impl.top_p_filter if case == "top_p" else impl.min_p_filter
    with pytest.raises(ValueError):  # 1 is the last valid value
        call(function, logits, bad)


# ---------------------------------------------------------------- oracle


@settings(max_examples=15)
@given(shape=shapes, seed=seeds, dtype=st.sampled_from((torch.float16, torch.bfloat16)),
       which=st.sampled_from(sorted(FILTER_PARAMS)), data=st.data())
def test_low_precision_filters_keep_dtype_and_match_float64(impl, device, shape, seed, dtype,
                                                             which, data):
    logits = randn(shape, seed, device=device, scale=2.0).to(dtype)
    param = data.draw(FILTER_PARAMS[which], label=which)
    if which == "top_p":
        keep, cumulative = _top_p_oracle(logits, param)
        assume(param == 1.0 or bool(((cumulative - param).abs() > 1e-3).all()))
    elif which == "min_p":
        probs = torch.softmax(logits.double(), dim=-1)
        ratio = probs / probs.amax(-1, keepdim=True)
        keep = ratio >= param
        assume(bool(((ratio - param).abs() > 1e-3)[ratio < 1].all()))
    else:
        values = logits.double()
        keep = values >= values.topk(min(param, shape[1]), -1).values[..., -1:]
    out = call(getattr(impl, f"{which}_filter"), logits, param)
    assert_close(out, logits.masked_fill(~keep, NEG_INF),
                 what=f"{which}_filter({param}) on {dtype} logits (kept logits unchanged, "
                      "same dtype)")


@settings(max_examples=15)
@given(shape=shapes, seed=seeds, temperature=st.sampled_from((0.3, 1.0, 2.5)),
       top_k=st.none() | st.integers(1, 6), top_p=st.sampled_from((0.5, 0.9, 1.0)),
       min_p=st.sampled_from((0.0, 0.1)))
def test_samples_only_tokens_the_filters_keep(impl, device, shape, seed, temperature, top_k,
                                              top_p, min_p):
    logits = randn(shape, seed, device=device, scale=2.0)
    expected, ambiguous = _expected_distribution(logits, temperature, top_k, top_p, min_p)
    assume(not ambiguous)
    rows = logits.repeat_interleave(20, dim=0)
    tokens = call(impl.sample, rows, torch.Generator(device=device).manual_seed(seed),
                  temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
    allowed = expected.repeat_interleave(20, dim=0).gather(-1, tokens[:, None]) > 0
    assert bool(allowed.all()), (
        f"sampled a token that temperature={temperature}, top_k={top_k}, top_p={top_p}, "
        f"min_p={min_p} should have removed")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("case", ["penalty", "top_k", "top_p_zero", "top_p_big", "min_p",
                                  "temperature"])
def test_out_of_range_parameters_raise_value_error_naming_them(impl, device, case):
    logits = torch.zeros(1, 4, device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    bad = {"penalty": 0.0, "top_k": -1, "top_p_zero": 0.0, "top_p_big": 1.5, "min_p": -0.1,
           "temperature": -1.0}[case]
    calls = {
        "penalty": lambda: call(impl.apply_repetition_penalty, logits,
                                torch.zeros(1, 2, dtype=torch.long, device=device), 0.0),
        "top_k": lambda: call(impl.top_k_filter, logits, -1),
        "top_p_zero": lambda: call(impl.top_p_filter, logits, 0.0),
        "top_p_big": lambda: call(impl.top_p_filter, logits, 1.5),
        "min_p": lambda: call(impl.min_p_filter, logits, -0.1),
        "temperature": lambda: call(impl.sample, logits, generator, temperature=-1.0),
    }
    with pytest.raises(ValueError) as raised:
        calls[case]()
    assert str(bad) in str(raised.value), (
        f"the ValueError should name the bad value {bad}; it said: {str(raised.value)!r}")

