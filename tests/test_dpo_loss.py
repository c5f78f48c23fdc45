"""Grader for the `dpo_loss` kata: worked examples, properties (with autograd), the reference."""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.strategies import randn, seeds, size

IGNORE = -100
smoothings = st.sampled_from([0.0, 0.1, 0.3, 0.5])
betas = st.sampled_from([0.05, 0.1, 0.5, 2.0])


def _pairs(batch, seed, dtype=torch.float32, device="cpu", grad=False):
    """policy_chosen, policy_rejected, ref_chosen, ref_rejected log-probs (negative, nearby)."""
    ref_chosen = -randn((batch,), seed, dtype=dtype, device=device).abs() * 10 - 1
    ref_rejected = -randn((batch,), seed + 1, dtype=dtype, device=device).abs() * 10 - 1
    policy_chosen = ref_chosen + randn((batch,), seed + 2, dtype=dtype, device=device, scale=3)
    policy_rejected = ref_rejected + randn((batch,), seed + 3, dtype=dtype, device=device, scale=3)
    out = [policy_chosen, policy_rejected, ref_chosen, ref_rejected]
    return [t.clone().requires_grad_(grad) for t in out]


def _lm_batch(batch, seq, vocab, seed, dtype=torch.float32, device="cpu", scale=2.0):
    """Logits and labels: a prompt (-100), >= 1 response token, then padding (-100) per row."""
    generator = torch.Generator().manual_seed(seed)
    logits = randn((batch, seq, vocab), seed, dtype=dtype, device=device, scale=scale)
    labels = torch.randint(0, vocab, (batch, seq), generator=generator)
    for b in range(batch):
        start = int(torch.randint(1, seq, (1,), generator=generator))  # response after a prompt
        stop = int(torch.randint(start + 1, seq + 1, (1,), generator=generator))
        labels[b, :start] = IGNORE
        labels[b, stop:] = IGNORE
    return logits, labels.to(device)


def _oracle_logprobs(logits, labels, average=False):
    """The same with cross_entropy(ignore_index=-100) in float64: the test's own oracle."""
    nll = F.cross_entropy(logits[:, :-1].double().transpose(1, 2), labels[:, 1:],
                          ignore_index=IGNORE, reduction="none")
    total = -nll.sum(dim=-1)
    return total / (labels[:, 1:] != IGNORE).sum(dim=-1) if average else total


def _logsigmoid(x):  # log σ(x) = -log(1 + e^-x), for hand-checked numbers
    return -math.log1p(math.exp(-x))


# ---------------------------------------------------------------- worked examples


def test_sequence_logprobs_worked_example(impl, device):
    # vocab 3; the logits are log-weights, so the probabilities can be read off:
    # position 0: [1, 2, 1]/4, position 1: [2, 1, 1]/4, position 2: [1, 1, 2]/4, position 3: any
    weights = [[1.0, 2.0, 1.0], [2.0, 1.0, 1.0], [1.0, 1.0, 2.0], [1.0, 1.0, 1.0]]
    logits = torch.tensor([weights, weights], device=device).log()
    # row 0: token 2 (never scored: nothing predicts the first token), tokens 1, 0, then padding
    #        position 0 predicts 1 -> 2/4, position 1 predicts 0 -> 2/4
    # row 1: two prompt tokens, tokens 2, 1: position 1 predicts 2 -> 1/4, position 2 predicts 1
    #        -> 1/4
    labels = torch.tensor([[2, 1, 0, IGNORE], [IGNORE, IGNORE, 2, 1]], device=device)
    expected = torch.tensor([2 * math.log(0.5), 2 * math.log(0.25)], device=device)
    assert_close(call(impl.sequence_logprobs, logits, labels), expected,
                 what="sequence_logprobs (sum over the response, labels shifted by one)")
    assert_close(call(impl.sequence_logprobs, logits, labels, average=True), expected / 2,
                 what="sequence_logprobs(average=True) (divided by the 2 scored tokens)")


def test_dpo_loss_worked_example(impl, device):
    # pair 0: h = (-1 - -2) - (-3 - -2) = 2;  pair 1: h = (-4 - -3) - (-1 - -2) = -2;  beta = 0.5
    policy_chosen = torch.tensor([-1.0, -4.0], device=device)
    policy_rejected = torch.tensor([-3.0, -1.0], device=device)
    ref_chosen = torch.tensor([-2.0, -3.0], device=device)
    ref_rejected = torch.tensor([-2.0, -2.0], device=device)
    losses, stats = call(impl.dpo_loss, policy_chosen, policy_rejected, ref_chosen, ref_rejected,
                         beta=0.5)
    expected = torch.tensor([-_logsigmoid(1.0), -_logsigmoid(-1.0)], device=device)
    assert_close(losses, expected, what="DPO losses -log σ(β h) per pair")
    # rewards β (policy - ref): chosen [0.5, -0.5], rejected [-0.5, 0.5]
    assert_close(stats["chosen_rewards"], torch.tensor([0.5, -0.5], device=device),
                 what="stats['chosen_rewards'] = β (policy_chosen - ref_chosen)")
    assert_close(stats["rejected_rewards"], torch.tensor([-0.5, 0.5], device=device),
                 what="stats['rejected_rewards'] = β (policy_rejected - ref_rejected)")
    assert_close(stats["reward_accuracy"], torch.tensor(0.5, device=device),
                 what="stats['reward_accuracy'] (1 of 2 pairs has the larger chosen reward)")
    assert_close(stats["reward_margin"], torch.tensor(0.0, device=device),
                 what="stats['reward_margin'] = mean(chosen - rejected) = (1 + -1) / 2")


def test_conservative_dpo_worked_example(impl, device):
    # h = 2, beta = 0.5, eps = 0.1: -(0.9) log σ(1) - 0.1 log σ(-1)
    args = [torch.tensor([v], device=device) for v in (-1.0, -3.0, -2.0, -2.0)]
    losses, _ = call(impl.dpo_loss, *args, beta=0.5, label_smoothing=0.1)
    expected = -0.9 * _logsigmoid(1.0) - 0.1 * _logsigmoid(-1.0)
    assert_close(losses, torch.tensor([expected], device=device),
                 what="cDPO loss -(1 - ε) log σ(βh) - ε log σ(-βh)")


def test_ipo_worked_example(impl, device):
    # h = 2 and h = -2 with beta = 0.5: target 1 / (2 β) = 1, losses (2 - 1)² = 1, (-2 - 1)² = 9
    args = [torch.tensor(v, device=device) for v in ([-1.0, -4.0], [-3.0, -1.0], [-2.0, -3.0],
                                                     [-2.0, -2.0])]
    losses, _ = call(impl.dpo_loss, *args, beta=0.5, loss_type="ipo")
    assert_close(losses, torch.tensor([1.0, 9.0], device=device),
                 what="IPO losses (h - 1/(2β))²")


def test_simpo_worked_example(impl, device):
    # average log-probs -0.5 and -1.5, beta 2, gamma 1: 2 · 1 - 1 = 1 -> -log σ(1)
    chosen = torch.tensor([-0.5, -1.0], device=device)
    rejected = torch.tensor([-1.5, -1.0], device=device)
    expected = torch.tensor([-_logsigmoid(1.0), -_logsigmoid(-1.0)], device=device)
    assert_close(call(impl.simpo_loss, chosen, rejected, beta=2.0, gamma=1.0), expected,
                 what="SimPO losses -log σ(β (chosen - rejected) - γ)")


def test_dpo_loss_is_stable_at_large_margins(impl, device):
    # β h = -1000 and +1000: the loss is 1000 and 0; log(sigmoid(x)) gives inf and NaN gradients
    args = [torch.tensor(v, device=device) for v in ([-10001.0, -1.0], [-1.0, -10001.0],
                                                     [-1.0, -1.0], [-1.0, -1.0])]
    args[0].requires_grad_()
    losses, _ = call(impl.dpo_loss, *args, beta=0.1)
    assert_close(losses.detach(), torch.tensor([1000.0, 0.0], device=device),
                 what="DPO losses at β h = -1000 and +1000 (use logsigmoid)")
    losses.sum().backward()
    assert_close(args[0].grad, torch.tensor([-0.1, 0.0], device=device),
                 what="d loss / d policy_chosen_logps at β h = ∓1000 (-β σ(-βh))")


# ---------------------------------------------------------------- properties


@given(batch=size(5), seed=seeds, beta=betas, label_smoothing=smoothings)
def test_dpo_loss_is_log2_at_zero_margin(impl, device, batch, seed, beta, label_smoothing):
    # multiples of 1/8, so that (ref + shift) - ref == shift exactly: every pair is a true tie
    ref_chosen, ref_rejected = ((t * 8).round() / 8 for t in _pairs(batch, seed, device=device)[2:])
    shift = (randn((batch,), seed + 9, device=device) * 8).round() / 8  # same for both responses
    losses, stats = call(impl.dpo_loss, ref_chosen + shift, ref_rejected + shift, ref_chosen,
                         ref_rejected, beta=beta, label_smoothing=label_smoothing)
    assert_close(losses, torch.full((batch,), math.log(2), device=device),
                 what="DPO losses when both responses moved equally (h = 0): log 2")
    assert_close(stats["reward_margin"], torch.tensor(0.0, device=device),
                 what="stats['reward_margin'] at h = 0")
    assert_close(stats["reward_accuracy"], torch.tensor(0.0, device=device), atol=1e-6,
                 what="stats['reward_accuracy'] when every pair ties (a tie is not a win)")


@given(batch=size(5), seed=seeds, beta=betas, label_smoothing=smoothings)
def test_swapping_chosen_and_rejected_mirrors_the_loss(impl, device, batch, seed, beta,
                                                       label_smoothing):
    policy_chosen, policy_rejected, ref_chosen, ref_rejected = _pairs(batch, seed,
                                                                      dtype=torch.float64,
                                                                      device=device)
    losses, stats = call(impl.dpo_loss, policy_chosen, policy_rejected, ref_chosen, ref_rejected,
                         beta=beta, label_smoothing=label_smoothing)
    swapped, swapped_stats = call(impl.dpo_loss, policy_rejected, policy_chosen, ref_rejected,
                                  ref_chosen, beta=beta, label_smoothing=label_smoothing)
    h = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    # L(-h) - L(h) = (1 - 2ε)(log σ(βh) - log σ(-βh)) = (1 - 2ε) β h
    assert_close(swapped - losses, (1 - 2 * label_smoothing) * beta * h,
                 what="loss(swapped) - loss = (1 - 2ε) β h")
    assert_close(swapped_stats["chosen_rewards"], stats["rejected_rewards"],
                 what="chosen rewards after swapping = rejected rewards before")
    assert_close(swapped_stats["reward_margin"], -stats["reward_margin"],
                 what="reward margin after swapping (negated)")


@given(batch=size(5), seed=seeds, beta=betas, label_smoothing=smoothings)
def test_gradient_reaches_only_the_policy(impl, device, batch, seed, beta, label_smoothing):
    inputs = _pairs(batch, seed, dtype=torch.float64, device=device, grad=True)
    losses, stats = call(impl.dpo_loss, *inputs, beta=beta, label_smoothing=label_smoothing)
    losses.sum().backward()
    policy_chosen, policy_rejected, ref_chosen, ref_rejected = (t.detach() for t in inputs)
    z = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    d_chosen = -beta * ((1 - label_smoothing) * torch.sigmoid(-z)
                        - label_smoothing * torch.sigmoid(z))
    assert_close(inputs[0].grad, d_chosen, what="d loss / d policy_chosen_logps")
    assert_close(inputs[1].grad, -d_chosen, what="d loss / d policy_rejected_logps")
    for name, tensor in (("ref_chosen_logps", inputs[2]), ("ref_rejected_logps", inputs[3])):
        assert tensor.grad is None or not bool(tensor.grad.any()), (
            f"{name} received a gradient: the reference model is frozen, treat its log-probs "
            "as constants (detach them)")
    for name, value in stats.items():
        assert not value.requires_grad, f"stats[{name!r}] must be detached"


@given(batch=size(4), seed=seeds, beta=betas)
def test_ipo_is_zero_at_its_target_margin(impl, device, batch, seed, beta):
    policy_chosen, policy_rejected, ref_chosen, ref_rejected = _pairs(batch, seed,
                                                                      dtype=torch.float64,
                                                                      device=device)
    target = 1 / (2 * beta)
    policy_chosen = (ref_chosen + (policy_rejected - ref_rejected) + target).requires_grad_()
    losses, _ = call(impl.dpo_loss, policy_chosen, policy_rejected, ref_chosen, ref_rejected,
                     beta=beta, loss_type="ipo")
    assert_close(losses.detach(), torch.zeros(batch, dtype=torch.float64, device=device),
                 atol=1e-9, what="IPO losses at h = 1/(2β)")


@given(batch=size(4), seed=seeds, beta=betas, gamma=st.sampled_from([0.0, 0.5, 1.0]))
def test_simpo_is_log2_at_the_target_margin(impl, device, batch, seed, beta, gamma):
    rejected = -randn((batch,), seed, dtype=torch.float64, device=device).abs()
    chosen = rejected + gamma / beta
    assert_close(call(impl.simpo_loss, chosen, rejected, beta=beta, gamma=gamma),
                 torch.full((batch,), math.log(2), dtype=torch.float64, device=device),
                 what="SimPO losses when chosen - rejected = γ/β")


@given(shape=st.tuples(size(4), size(6, min_value=2), size(6)), seed=seeds,
       average=st.booleans())
def test_unscored_positions_do_not_matter(impl, device, shape, seed, average):
    logits, labels = _lm_batch(*shape, seed, device=device)
    scored_next = torch.nn.functional.pad(labels[:, 1:] != IGNORE, (0, 1))  # logits used
    garbage = torch.where(scored_next[..., None], logits,
                          randn(logits.shape, seed + 7, device=device, scale=50.0))
    garbage.requires_grad_()
    result = call(impl.sequence_logprobs, garbage, labels, average=average)
    assert_close(result.detach(), _oracle_logprobs(logits, labels, average).float(),
                 what="sequence_logprobs with other logits where no scored label follows")
    result.sum().backward()
    zeros = torch.zeros_like(garbage.grad)
    assert_close(torch.where(scored_next[..., None], zeros, garbage.grad), zeros,
                 what="gradient at positions that predict no scored token")


def test_half_precision_logits_are_scored_in_float32(impl, device):
    # large bfloat16 logits: a log_softmax in bfloat16 is off by ~0.1 per token
    logits, labels = _lm_batch(3, 6, 40, 5, device=device, scale=30.0)
    logits = logits.to(torch.bfloat16)
    expected = _oracle_logprobs(logits, labels).float()
    assert_close(call(impl.sequence_logprobs, logits, labels), expected,
                 what="sequence_logprobs of bfloat16 logits (float32 result, computed in float32)")



def test_float64_logits_are_scored_in_float64(impl, device):
    # logits 1e8 and 1e8 + 1: float64 holds both, float32 (spacing 8 at 1e8) sees two equal
    # logits and gives log 1/2. Label 1 after the shift: log σ(1) = -log(1 + e^-1) ≈ -0.313.
    logits = torch.tensor([[[1e8, 1e8 + 1.0], [0.0, 0.0]]], dtype=torch.float64, device=device)
    labels = torch.tensor([[IGNORE, 1]], device=device)
    assert_close(call(impl.sequence_logprobs, logits, labels),
                 torch.tensor([-math.log1p(math.exp(-1.0))], dtype=torch.float64, device=device),
                 what="sequence_logprobs of float64 logits 1e8 and 1e8 + 1 (float32 gives log 1/2)")

# ---------------------------------------------------------------- reference


@given(shape=st.tuples(size(4), size(6, min_value=2), size(6)), seed=seeds,
       average=st.booleans(), dtype=st.sampled_from([torch.float32, torch.float64]))
@example(shape=(1, 2, 1), seed=0, average=False, dtype=torch.float32)
def test_sequence_logprobs_match_cross_entropy(impl, device, shape, seed, average, dtype):
    logits, labels = _lm_batch(*shape, seed, dtype=dtype, device=device)
    assert_close(call(impl.sequence_logprobs, logits, labels, average=average),
                 _oracle_logprobs(logits, labels, average).to(dtype),
                 what=f"sequence_logprobs(average={average})")


@given(batch=size(5), seed=seeds, beta=betas, label_smoothing=smoothings,
       loss_type=st.sampled_from(["sigmoid", "ipo"]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_dpo_loss_matches_reference(impl, ref, device, batch, seed, beta, label_smoothing,
                                    loss_type, dtype):
    inputs = _pairs(batch, seed, dtype=dtype, device=device)
    losses, stats = call(impl.dpo_loss, *inputs, beta=beta, label_smoothing=label_smoothing,
                         loss_type=loss_type)
    expected, expected_stats = ref.dpo_loss(*inputs, beta=beta, label_smoothing=label_smoothing,
                                            loss_type=loss_type)
    assert_close(losses, expected, what=f"dpo_loss losses ({loss_type})")
    for name, value in expected_stats.items():
        assert name in stats, f"stats lacks {name!r} (documented keys: {sorted(expected_stats)})"
        assert_close(stats[name], value, what=f"stats[{name!r}]")


@given(batch=size(5), seed=seeds, beta=betas, gamma=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_simpo_matches_reference(impl, ref, device, batch, seed, beta, gamma, dtype):
    chosen, rejected = (-randn((batch,), seed + i, dtype=dtype, device=device).abs()
                        for i in (0, 1))
    assert_close(call(impl.simpo_loss, chosen, rejected, beta=beta, gamma=gamma),
                 ref.simpo_loss(chosen, rejected, beta=beta, gamma=gamma), what="simpo_loss")


# ---------------------------------------------------------------- bad input


def _one_pair(device):
    return [torch.tensor([v], device=device) for v in (-1.0, -2.0, -1.5, -1.5)]


def test_unknown_loss_type_raises_value_error(impl, device):
    with pytest.raises(ValueError) as raised:
        call(impl.dpo_loss, *_one_pair(device), loss_type="hinge")
    assert "hinge" in str(raised.value), (
        f"the ValueError should name the unknown loss_type 'hinge'; it said: {raised.value}")


def test_label_smoothing_outside_range_raises_value_error(impl, device):
    call(impl.dpo_loss, *_one_pair(device), label_smoothing=0.5)  # the last valid value
    call(impl.dpo_loss, *_one_pair(device), label_smoothing=0.0)
    for bad in (0.51, -0.1):
        with pytest.raises(ValueError) as raised:
            call(impl.dpo_loss, *_one_pair(device), label_smoothing=bad)
        assert str(bad) in str(raised.value), (
            f"the ValueError should name label_smoothing={bad}; it said: {raised.value}")


def test_non_positive_beta_raises_value_error(impl, device):
    call(impl.dpo_loss, *_one_pair(device), beta=1e-3)
    call(impl.simpo_loss, *_one_pair(device)[:2], beta=1e-3)
    with pytest.raises(ValueError):
        call(impl.dpo_loss, *_one_pair(device), beta=0.0)
    with pytest.raises(ValueError):
        call(impl.simpo_loss, *_one_pair(device)[:2], beta=0.0)


def test_row_without_scored_token_raises_value_error(impl, device):
    logits, labels = _lm_batch(12, 4, 5, 0, device=device)
    labels[10] = IGNORE
    labels[10, 0] = 3  # the first token is never scored
    call(impl.sequence_logprobs, logits[:10], labels[:10])
    with pytest.raises(ValueError) as raised:
        call(impl.sequence_logprobs, logits, labels)
    assert re.search(r"(?<!\d)10(?!\d)", str(raised.value)), (
        f"the ValueError should name the empty row 10; it said: {str(raised.value)!r}")


def test_labels_of_the_wrong_shape_raise_value_error(impl, device):
    logits, labels = _lm_batch(2, 4, 5, 0, device=device)
    with pytest.raises(ValueError):
        call(impl.sequence_logprobs, logits, labels[:, 1:])
