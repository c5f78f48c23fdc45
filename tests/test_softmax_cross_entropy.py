"""Grader for the `softmax_cross_entropy` kata: worked examples, properties, then torch oracles."""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from kata.check import assert_close, assert_equal, call
from kata.strategies import bernoulli, randn, seeds, size

LN3 = math.log(3.0)
leading = st.lists(size(4), max_size=2).map(tuple)
low_precision = st.sampled_from((torch.float16, torch.bfloat16))


def _targets(shape, vocab, seed, device, ignore_p=0.3):
    generator = torch.Generator().manual_seed(seed + 5)
    targets = torch.randint(0, vocab, tuple(shape), generator=generator)
    ignored = bernoulli(shape, seed + 6, ignore_p)
    return targets.masked_fill(ignored, -100).to(device)


def _micro_batch(batch, seq, vocab, seed, device, ignore_p=0.3):
    logits = randn((batch, seq, vocab), seed, device=device, scale=2.0)
    return logits, _targets((batch, seq), vocab, seed, device, ignore_p)


def _torch_causal_loss(logits, labels, reduction="mean"):
    vocab = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, vocab).double(), labels[:, 1:].reshape(-1),
                           ignore_index=-100, reduction=reduction)


# ---------------------------------------------------------------- worked examples


def test_softmax_worked_example(impl, device):
    x = torch.tensor([0.0, LN3], device=device)  # exp: 1 and 3, total 4
    assert_close(call(impl.softmax, x), torch.tensor([0.25, 0.75], device=device))
    assert_close(call(impl.log_softmax, x),
                 torch.tensor([math.log(0.25), math.log(0.75)], device=device), what="log_softmax")
    assert_close(call(impl.logsumexp, x), torch.tensor(math.log(4.0), device=device),
                 what="logsumexp")


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_extreme_logits_do_not_overflow(impl, device, dtype):
    # exp(1e4) is inf in every dtype: the maximum must be subtracted first.
    x = torch.tensor([[1e4, -1e4, 1e4], [-1e4, -1e4, -1e4]], dtype=dtype, device=device)
    half, third = math.log(2.0), math.log(3.0)
    expected_lse = torch.tensor([1e4 + half, -1e4 + third], dtype=torch.float64)
    expected_log = torch.tensor([[-half, -2e4 - half, -half], [-third] * 3], dtype=torch.float64)
    assert_close(call(impl.logsumexp, x), expected_lse.to(dtype=dtype, device=device),
                 what="logsumexp of ±1e4 logits")
    assert_close(call(impl.log_softmax, x), expected_log.to(dtype=dtype, device=device),
                 what="log_softmax of ±1e4 logits")
    assert_close(call(impl.softmax, x), expected_log.exp().to(dtype=dtype, device=device),
                 what="softmax of ±1e4 logits")


def test_float64_inputs_are_computed_in_float64(impl, device):
    # 1e8 and 1e8 + 1 are distinct in float64 but equal in float32 (spacing 8 there).
    x = torch.tensor([1e8, 1e8 + 1.0], dtype=torch.float64, device=device)
    lse = 1e8 + 1.0 + math.log1p(math.exp(-1.0))
    expected_softmax = torch.tensor([1 / (1 + math.e), math.e / (1 + math.e)],
                                    dtype=torch.float64, device=device)
    assert_close(call(impl.softmax, x), expected_softmax,
                 what="float64 softmax([1e8, 1e8 + 1]) (a float32 computation gives [0.5, 0.5])")
    assert_close(call(impl.log_softmax, x), x - lse, what="float64 log_softmax([1e8, 1e8 + 1])")
    assert_close(call(impl.logsumexp, x), torch.tensor(lse, dtype=torch.float64, device=device),
                 atol=1e-6, rtol=0.0, what="float64 logsumexp([1e8, 1e8 + 1]) = 1e8 + 1.3133")


def test_logsumexp_of_only_negative_infinity_is_negative_infinity(impl, device):
    x = torch.tensor([[float("-inf")] * 3, [0.0, float("-inf"), 0.0]], device=device)
    expected = torch.tensor([float("-inf"), math.log(2.0)], device=device)
    assert_close(call(impl.logsumexp, x), expected, what="logsumexp with -inf entries")


@pytest.mark.parametrize("dim", [-1, 0])
def test_an_empty_axis_is_not_an_error(impl, device, dim):
    # torch's convention: the sum of no terms is 0, so logsumexp is log 0 = -inf; softmax and
    # log_softmax of nothing are nothing (the input's empty shape).
    x = torch.zeros((2, 0) if dim == -1 else (0, 2), dtype=torch.float64, device=device)
    assert_close(call(impl.logsumexp, x, dim), torch.full((2,), float("-inf"),
                 dtype=torch.float64, device=device), what=f"logsumexp over an empty dim={dim}")
    for name in ("softmax", "log_softmax"):
        assert_equal(call(getattr(impl, name), x, dim), x.clone(),
                     what=f"{name} over an empty dim={dim}")


def test_cross_entropy_worked_example_with_ignored_target(impl, device):
    logits = torch.tensor([[0.0, LN3], [LN3, 0.0], [5.0, -5.0]], device=device)
    # probabilities of the targets: 3/4, 3/4; the third position is ignored
    targets = torch.tensor([1, 0, -100], device=device)
    each = -math.log(0.75)
    assert_close(call(impl.cross_entropy, logits, targets),
                 torch.tensor(each, device=device), what="mean over the 2 counted targets")
    assert_close(call(impl.cross_entropy, logits, targets, reduction="sum"),
                 torch.tensor(2 * each, device=device), what="sum")
    assert_close(call(impl.cross_entropy, logits, targets, reduction="none"),
                 torch.tensor([each, each, 0.0], device=device), what="per-position losses")


def test_cross_entropy_of_float16_extreme_logits_is_exact_in_float32(impl, device):
    logits = torch.tensor([[1e4, -1e4, 0.0], [1e4, -1e4, 0.0]], dtype=torch.float16,
                          device=device)
    targets = torch.tensor([0, 1], device=device)
    # logsumexp = 1e4 (the other terms are below float32's resolution); losses 0 and 2e4
    expected = torch.tensor([0.0, 2e4], device=device)
    assert_close(call(impl.cross_entropy, logits, targets, reduction="none"), expected,
                 what="float16 logits ±1e4: losses, returned in float32")


def test_cross_entropy_of_float64_logits_stays_float64(impl, device):
    # In float32, 1e8 + 1 rounds to 1e8 (spacing 8): the loss would be log 2, not log(1 + e).
    logits = torch.tensor([[1e8, 1e8 + 1.0]], dtype=torch.float64, device=device)
    targets = torch.tensor([0], device=device)
    expected = torch.tensor(math.log(1.0 + math.e), dtype=torch.float64, device=device)
    assert_close(call(impl.cross_entropy, logits, targets), expected,
                 what="cross_entropy of float64 logits (computed in float32?)")
    labels = torch.tensor([[1, 0]], device=device)  # position 0 predicts label 0
    assert_close(call(impl.causal_lm_loss, logits[:, None, :].expand(1, 2, 2), labels), expected,
                 what="causal_lm_loss of float64 logits (computed in float32?)")


def test_cross_entropy_mean_over_no_counted_target_is_nan(impl, device):
    logits = torch.zeros(2, 3, device=device)
    targets = torch.tensor([-100, -100], device=device)
    loss = call(impl.cross_entropy, logits, targets)
    assert isinstance(loss, torch.Tensor) and bool(torch.isnan(loss)), (
        f"mean over zero counted targets is 0/0 = NaN (torch's convention); got {loss}")


def test_causal_lm_loss_scores_position_t_against_label_t_plus_1(impl, device):
    # vocab 2. Position 0 gives p(1) = 3/4, position 1 gives p(0) = 3/4, position 2 predicts
    # nothing (there is no label 3), so its logits must not matter.
    logits = torch.tensor([[[0.0, LN3], [LN3, 0.0], [100.0, -100.0]]], device=device)
    labels = torch.tensor([[0, 1, 0]], device=device)
    expected = torch.tensor(-math.log(0.75), device=device)
    assert_close(call(impl.causal_lm_loss, logits, labels), expected,
                 what="causal_lm_loss (labels shifted by one)")
    assert_close(call(impl.causal_lm_loss, logits, labels, num_items_in_batch=4),
                 torch.tensor(-2 * math.log(0.75) / 4, device=device),
                 what="causal_lm_loss with num_items_in_batch=4 (sum / 4)")


def test_accumulated_loss_worked_example_is_not_the_mean_of_means(impl, device):
    # micro-batch 1: two counted targets with loss ln 2 each (uniform logits, vocab 2);
    # micro-batch 2: one counted target with loss −ln(3/4).
    first = (torch.zeros(1, 3, 2, device=device), torch.tensor([[0, 1, 0]], device=device))
    second = (torch.tensor([[[0.0, LN3], [9.0, 9.0], [0.0, 0.0]]], device=device),
              torch.tensor([[0, 1, -100]], device=device))
    expected = (2 * math.log(2.0) - math.log(0.75)) / 3  # mean of means: (ln 2 − ln .75) / 2
    loss = call(impl.accumulated_causal_lm_loss, [first, second])
    assert_close(loss, torch.tensor(expected, device=device),
                 what="(sum of all token losses) / (3 counted targets)")


def test_a_custom_ignore_index_is_honoured(impl, device):
    # ignore_index=-1 instead of torch's default -100: the -1 positions add 0 and are not
    # counted; a -100 would now be an out-of-range target.
    logits = torch.tensor([[0.0, LN3], [LN3, 0.0], [5.0, -5.0]], device=device)
    targets = torch.tensor([1, -1, 1], device=device)
    # counted: p = 3/4 at position 0 and p = 1 / (1 + e^10) at position 2
    losses = [-math.log(0.75), 0.0, math.log1p(math.exp(10.0))]
    assert_close(call(impl.cross_entropy, logits, targets, ignore_index=-1, reduction="none"),
                 torch.tensor(losses, device=device), what="per-position losses, ignore_index=-1")
    assert_close(call(impl.cross_entropy, logits, targets, ignore_index=-1),
                 torch.tensor(sum(losses) / 2, device=device),
                 what="mean over the 2 targets that are not ignore_index=-1")
    # causal: logits at t score labels[t + 1]; the last logits and the first label drop out
    last = torch.zeros(1, 2, device=device)
    labels = torch.tensor([[0, 1, -1, 1]], device=device)
    assert_close(call(impl.causal_lm_loss, torch.cat((logits, last))[None], labels,
                      ignore_index=-1),
                 torch.tensor(sum(losses) / 2, device=device),
                 what="causal_lm_loss with ignore_index=-1")


# ---------------------------------------------------------------- properties


@given(batch=leading, vocab=size(8), seed=seeds, data=st.data())
def test_softmax_rows_sum_to_one_and_equal_exp_log_softmax(impl, device, batch, vocab, seed,
                                                           data):
    x = randn((*batch, vocab), seed, device=device, scale=5.0)
    dim = data.draw(st.integers(-x.dim(), x.dim() - 1), label="dim")
    probs = call(impl.softmax, x, dim)
    assert_close(probs.sum(dim=dim), torch.ones_like(x.sum(dim=dim)),
                 what=f"softmax(x, dim={dim}) sums over dim {dim}")
    assert bool((probs >= 0).all()), "softmax probabilities must be non-negative"
    assert_close(call(impl.log_softmax, x, dim).exp(), probs,
                 what=f"exp(log_softmax(x, dim={dim})) vs softmax(x, dim={dim})")


@given(batch=leading, vocab=size(8), seed=seeds, shift=st.floats(-1e3, 1e3))
def test_adding_a_constant_shifts_logsumexp_and_leaves_softmax(impl, device, batch, vocab, seed,
                                                               shift):
    x = randn((*batch, vocab), seed, dtype=torch.float64, device=device)
    assert_close(call(impl.softmax, x + shift), call(impl.softmax, x),
                 what=f"softmax(x + {shift:g}) vs softmax(x)", atol=1e-9, rtol=1e-9)
    assert_close(call(impl.logsumexp, x + shift), call(impl.logsumexp, x) + shift,
                 what=f"logsumexp(x + {shift:g}) vs logsumexp(x) + {shift:g}", atol=1e-9,
                 rtol=1e-9)


@given(batch=leading, vocab=size(8), seed=seeds)
def test_logsumexp_lies_between_max_and_max_plus_log_vocab(impl, device, batch, vocab, seed):
    x = randn((*batch, vocab), seed, dtype=torch.float64, device=device, scale=10.0)
    lse = call(impl.logsumexp, x)
    top = x.amax(dim=-1)
    assert bool((lse >= top - 1e-12).all() and (lse <= top + math.log(vocab) + 1e-12).all()), (
        f"logsumexp must lie in [max, max + log(vocab={vocab})]; got {lse} for max {top}")


@given(batch=leading, vocab=size(8), seed=seeds)
def test_loss_ignores_logits_at_ignored_positions(impl, device, batch, vocab, seed):
    logits = randn((*batch, 3, vocab), seed, device=device)
    targets = _targets((*batch, 3), vocab, seed, device)
    targets[..., 0] = 0  # at least one counted target per row
    changed = logits.masked_fill((targets == -100).unsqueeze(-1), 50.0)
    for reduction in ("mean", "sum"):
        assert_close(call(impl.cross_entropy, changed, targets, reduction=reduction),
                     call(impl.cross_entropy, logits, targets, reduction=reduction),
                     what=f"{reduction} loss after changing logits at ignored positions")


@given(batch=size(3), seq=size(6, min_value=2), vocab=size(6), seed=seeds)
def test_causal_loss_ignores_first_label_and_last_logits(impl, device, batch, seq, vocab, seed):
    logits, labels = _micro_batch(batch, seq, vocab, seed, device, ignore_p=0.0)
    changed_logits, changed_labels = logits.clone(), labels.clone()
    changed_logits[:, -1] = 30.0 * torch.arange(vocab, device=device)  # predicts nothing
    changed_labels[:, 0] = -100  # is never predicted
    assert_close(call(impl.causal_lm_loss, changed_logits, changed_labels),
                 call(impl.causal_lm_loss, logits, labels),
                 what="loss after changing the last position's logits and the first labels")


@settings(max_examples=15)  # a backward pass per example: few examples, each several batches
@given(seq=size(6, min_value=2), vocab=size(6), seed=seeds,
       sizes=st.lists(size(3), min_size=1, max_size=3))
def test_accumulated_loss_and_gradient_equal_the_full_batch(impl, device, seq, vocab, seed,
                                                            sizes):
    parts = [_micro_batch(b, seq, vocab, seed + 10 * i, device, ignore_p=0.4)
             for i, b in enumerate(sizes)]
    labels = torch.cat([p[1] for p in parts])
    if not bool((labels[:, 1:] != -100).any()):
        labels[0, 1] = 0
        parts[0][1][0, 1] = 0
    leaves = [p[0].clone().requires_grad_(True) for p in parts]
    loss = call(impl.accumulated_causal_lm_loss, [(lg, lb) for lg, (_, lb) in zip(leaves, parts)])
    full_logits = torch.cat([p[0] for p in parts]).double().requires_grad_(True)
    full = _torch_causal_loss(full_logits, labels)
    assert_close(loss, full.float(), what=f"loss of {len(sizes)} micro-batches of sizes {sizes}")
    full.backward()
    loss.backward()
    assert_close(torch.cat([leaf.grad for leaf in leaves]), full_logits.grad.float(),
                 what="gradient w.r.t. the logits of every micro-batch")


# ---------------------------------------------------------------- oracle


@settings(max_examples=30)
@given(batch=leading, vocab=size(8), seed=seeds, dtype=st.sampled_from((torch.float32,
                                                                         torch.float64)),
       data=st.data())
def test_softmax_family_matches_torch(impl, device, batch, vocab, seed, dtype, data):
    x = randn((*batch, vocab), seed, dtype=dtype, device=device, scale=4.0)
    dim = data.draw(st.integers(-x.dim(), x.dim() - 1), label="dim")
    assert_close(call(impl.softmax, x, dim), torch.softmax(x, dim), what=f"softmax dim={dim}")
    assert_close(call(impl.log_softmax, x, dim), torch.log_softmax(x, dim),
                 what=f"log_softmax dim={dim}")
    assert_close(call(impl.logsumexp, x, dim), torch.logsumexp(x, dim), what=f"logsumexp dim={dim}")


@settings(max_examples=30)
@given(batch=leading, vocab=size(8), seed=seeds, dtype=low_precision,
       scale=st.sampled_from((1.0, 1e4)))
def test_low_precision_matches_float64_and_keeps_dtype(impl, device, batch, vocab, seed, dtype,
                                                       scale):
    x = randn((*batch, vocab), seed, dtype=dtype, device=device, scale=scale)
    wide = x.double()
    assert_close(call(impl.softmax, x), torch.softmax(wide, -1).to(dtype), what="softmax")
    assert_close(call(impl.log_softmax, x), torch.log_softmax(wide, -1).to(dtype),
                 what="log_softmax")
    assert_close(call(impl.logsumexp, x), torch.logsumexp(wide, -1).to(dtype), what="logsumexp")


@settings(max_examples=30)
@given(batch=leading, vocab=size(8), seed=seeds,
       reduction=st.sampled_from(("none", "sum", "mean")),
       dtype=st.sampled_from((torch.float32, torch.float16, torch.bfloat16)))
def test_cross_entropy_matches_torch(impl, device, batch, vocab, seed, reduction, dtype):
    logits = randn((*batch, 3, vocab), seed, dtype=dtype, device=device, scale=3.0)
    targets = _targets((*batch, 3), vocab, seed, device)
    targets[..., 0] = vocab - 1  # at least one counted target
    expected = F.cross_entropy(logits.double().reshape(-1, vocab), targets.reshape(-1),
                               reduction=reduction).float()
    if reduction == "none":
        expected = expected.reshape(targets.shape)
    assert_close(call(impl.cross_entropy, logits, targets, reduction=reduction), expected,
                 what=f"cross_entropy({dtype} logits, reduction={reduction!r}), float32 result")


@settings(max_examples=30)
@given(batch=size(3), seq=size(6, min_value=2), vocab=size(6), seed=seeds,
       num_items=st.none() | st.integers(1, 40))
def test_causal_lm_loss_matches_torch_on_shifted_labels(impl, device, batch, seq, vocab, seed,
                                                        num_items):
    logits, labels = _micro_batch(batch, seq, vocab, seed, device)
    labels[:, -1] = 0  # at least one counted target
    if num_items is None:
        expected = _torch_causal_loss(logits, labels)
    else:
        expected = _torch_causal_loss(logits, labels, "sum") / num_items
    loss = call(impl.causal_lm_loss, logits, labels, num_items_in_batch=num_items)
    assert_close(loss, expected.float(), what=f"causal_lm_loss(num_items_in_batch={num_items})")


# ---------------------------------------------------------------- bad input


def test_target_out_of_range_raises_value_error_naming_it(impl, device):
    logits = torch.zeros(2, 4, device=device)
    with pytest.raises(ValueError) as raised:
        call(impl.cross_entropy, logits, torch.tensor([1, 7], device=device))
    assert re.search(r"\b7\b", str(raised.value)), (
        f"the ValueError should name the bad target 7; it said: {str(raised.value)!r}")


def test_target_equal_to_vocab_raises_and_the_last_class_is_accepted(impl, device):
    logits = torch.zeros(2, 4, device=device)  # uniform: each counted target costs log 4
    with pytest.raises(ValueError):
        call(impl.cross_entropy, logits, torch.tensor([1, 4], device=device))
    loss = call(impl.cross_entropy, logits, torch.tensor([0, 3], device=device))
    assert_close(loss, torch.tensor(math.log(4.0), device=device),
                 what="cross_entropy of uniform logits with targets 0 and vocab - 1 = 3")


def test_negative_target_that_is_not_ignore_index_raises_value_error(impl, device):
    logits = torch.zeros(2, 4, device=device)
    with pytest.raises(ValueError):
        call(impl.cross_entropy, logits, torch.tensor([1, -1], device=device))


@pytest.mark.parametrize("case", ["targets_shape", "reduction"])
def test_bad_cross_entropy_arguments_raise_value_error(impl, device, case):
    logits = torch.zeros(2, 3, 4, device=device)
    targets = torch.zeros(2, 3, dtype=torch.long, device=device)
    with pytest.raises(ValueError):
        if case == "targets_shape":
            call(impl.cross_entropy, logits, targets[:, :2])
        else:
            call(impl.cross_entropy, logits, targets, reduction="average")


def test_accumulation_of_no_micro_batch_raises_value_error(impl, device):
    with pytest.raises(ValueError):
        call(impl.accumulated_causal_lm_loss, [])


def test_accumulation_without_counted_targets_raises_value_error(impl, device):
    logits = torch.zeros(1, 3, 2, device=device)
    labels = torch.tensor([[1, -100, -100]], device=device)  # label 1 is never predicted
    with pytest.raises(ValueError):
        call(impl.accumulated_causal_lm_loss, [(logits, labels), (logits, labels)])
