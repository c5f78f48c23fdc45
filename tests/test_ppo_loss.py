"""Grader for the `ppo_loss` kata: worked examples, properties (with autograd), the reference."""

import math
import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.strategies import randn, response_mask, seeds, size

shapes = st.tuples(size(4), size(6))
kl_coefs = st.sampled_from([0.0, 0.05, 0.3])


def _rollout(shape, seed, device, dtype=torch.float32):
    """Log-probabilities near each other (ratios around 1, some clipped), values, a mask."""
    old_logprobs = -randn(shape, seed, dtype=dtype, device=device).abs() - 0.1
    return {
        "logprobs": old_logprobs + randn(shape, seed + 1, dtype=dtype, device=device, scale=0.3),
        "old_logprobs": old_logprobs,
        "advantages": randn(shape, seed + 2, dtype=dtype, device=device),
        "old_values": (old_values := randn(shape, seed + 3, dtype=dtype, device=device)),
        "values": old_values + randn(shape, seed + 4, dtype=dtype, device=device, scale=0.3),
        "returns": randn(shape, seed + 5, dtype=dtype, device=device),
        "ref_logprobs": old_logprobs + randn(shape, seed + 6, dtype=dtype, device=device,
                                             scale=0.3),
        "mask": response_mask(shape, seed + 7, device=device),
    }


def _mean(x, mask):  # the masked mean written out, for expected values
    return (x * mask).sum() / mask.sum()


# ---------------------------------------------------------------- worked examples


def test_masked_mean_worked_example(impl, device):
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device)
    mask = torch.tensor([[True, True, False], [False, False, True]], device=device)
    assert_close(call(impl.masked_mean, values, mask), torch.tensor(3.0, device=device),
                 what="masked_mean over all positions: (1 + 2 + 6) / 3")
    assert_close(call(impl.masked_mean, values, mask, dim=-1),
                 torch.tensor([1.5, 6.0], device=device), what="masked_mean(dim=-1)")


def test_masked_mean_of_an_all_false_mask_is_zero(impl, device):
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    mask = torch.tensor([[False, False], [True, False]], device=device)
    assert_close(call(impl.masked_mean, values, mask, dim=-1),
                 torch.tensor([0.0, 3.0], device=device),
                 what="masked_mean(dim=-1) with an all-False row (0, not NaN)")
    assert_close(call(impl.masked_mean, values, torch.zeros_like(mask)),
                 torch.tensor(0.0, device=device), what="masked_mean with an all-False mask")


@pytest.mark.parametrize("estimator", ["k1", "k2", "k3"])
def test_approx_kl_worked_example(impl, device, estimator):
    # pi(token) = 1/2, pi_ref(token) = 1/4: r = pi_ref / pi = 1/2, log r = -log 2.
    logprobs = torch.tensor([[math.log(0.5)]], device=device)
    ref_logprobs = torch.tensor([[math.log(0.25)]], device=device)
    expected = {"k1": math.log(2), "k2": 0.5 * math.log(2) ** 2,
                "k3": (0.5 - 1) + math.log(2)}[estimator]
    assert_close(call(impl.approx_kl, logprobs, ref_logprobs, estimator),
                 torch.tensor([[expected]], device=device), what=f"approx_kl {estimator}")


def test_kl_penalized_rewards_worked_example(impl, device):
    # row 0: prompt, 2 response tokens, pad; row 1: 2 prompt tokens, 2 response tokens
    mask = torch.tensor([[False, True, True, False], [False, False, True, True]], device=device)
    logprobs = torch.tensor([[-1.0, -1.0, -2.0, -9.0], [-3.0, -1.0, -0.5, -1.5]], device=device)
    ref_logprobs = torch.tensor([[-2.0, -1.5, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0]],
                                device=device)
    scores = torch.tensor([1.0, -2.0], device=device)
    # k1 = logprobs - ref_logprobs on response tokens: row 0 [0.5, -1.0], row 1 [0.5, -0.5]
    expected = torch.tensor([[0.0, -0.1 * 0.5, -0.1 * -1.0 + 1.0, 0.0],
                             [0.0, 0.0, -0.1 * 0.5, -0.1 * -0.5 - 2.0]], device=device)
    rewards = call(impl.kl_penalized_rewards, scores, logprobs, ref_logprobs, mask, 0.1)
    assert_close(rewards, expected, what="rewards (score on the LAST response token)")


def test_one_token_responses_at_either_end_get_their_score(impl, device):
    # The smallest valid response is one token: at position 0 (no prompt) in row 0, at the last
    # position in row 1 (a three-token prompt). Each holds its score minus 0.5 · k1.
    mask = torch.tensor([[True, False, False, False], [False, False, False, True]], device=device)
    logprobs = torch.tensor([[-1.0, -2.0, -3.0, -4.0], [-1.0, -1.0, -1.0, -0.5]], device=device)
    ref_logprobs = torch.full((2, 4), -1.0, device=device)
    scores = torch.tensor([3.0, -1.0], device=device)
    expected = torch.tensor([[3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -0.5 * 0.5 - 1.0]],
                            device=device)
    rewards = call(impl.kl_penalized_rewards, scores, logprobs, ref_logprobs, mask, 0.5)
    assert_close(rewards, expected, what="rewards of one-token responses at positions 0 and 3")


def test_policy_loss_worked_example(impl, device):
    advantages = torch.tensor([[1.0, 1.0, -1.0, -1.0, 5.0]], device=device)
    ratio = torch.tensor([[1.5, 0.5, 1.5, 0.5, 3.0]])
    old_logprobs = torch.full((1, 5), -1.0, device=device)
    logprobs = old_logprobs + ratio.log().to(device)
    mask = torch.tensor([[True, True, True, True, False]], device=device)  # last token: padding
    # per token max(-A r, -A clip(r, 0.8, 1.2)):
    #   A=+1 r=1.5 -> max(-1.5, -1.2) = -1.2 (clipped)   A=+1 r=0.5 -> max(-0.5, -0.8) = -0.5
    #   A=-1 r=1.5 -> max( 1.5,  1.2) =  1.5   A=-1 r=0.5 -> max( 0.5,  0.8) =  0.8 (clipped)
    expected_loss = (-1.2 - 0.5 + 1.5 + 0.8) / 4
    expected_kl = 2 * ((1.5 - 1 - math.log(1.5)) + (0.5 - 1 - math.log(0.5))) / 4
    loss, stats = call(impl.policy_loss, logprobs, old_logprobs, advantages, mask, clip_range=0.2)
    assert_close(loss, torch.tensor(expected_loss, device=device), what="policy loss")
    assert_close(stats["clip_fraction"], torch.tensor(0.5, device=device),
                 what="stats['clip_fraction'] (2 of 4 response tokens clipped on the active side)")
    assert_close(stats["approx_kl"], torch.tensor(expected_kl, device=device),
                 what="stats['approx_kl'] (mean of (ratio - 1) - log ratio)")


def test_value_loss_worked_example(impl, device):
    old_values = torch.zeros(1, 4, device=device)
    values = torch.tensor([[0.5, 0.1, -0.5, 7.0]], device=device)
    returns = torch.tensor([[1.0, 0.0, 1.0, 0.0]], device=device)
    mask = torch.tensor([[True, True, True, False]], device=device)
    # clipped values (old +- 0.2): [0.2, 0.1, -0.2]; squared errors unclipped [0.25, 0.01, 2.25],
    # clipped [0.64, 0.01, 1.44]; max [0.64, 0.01, 2.25]
    expected = 0.5 * (0.64 + 0.01 + 2.25) / 3
    loss = call(impl.value_loss, values, old_values, returns, mask, clip_range=0.2)
    assert_close(loss, torch.tensor(expected, device=device), what="value loss")


# ---------------------------------------------------------------- properties


@given(shape=shapes, seed=seeds)
def test_policy_loss_at_ratio_one_is_minus_mean_advantage(impl, device, shape, seed):
    data = _rollout(shape, seed, device, torch.float64)
    mask, advantages = data["mask"], data["advantages"]
    logprobs = data["old_logprobs"].clone().requires_grad_()
    loss, _ = call(impl.policy_loss, logprobs, data["old_logprobs"], advantages, mask)
    assert_close(loss.detach(), -_mean(advantages, mask), what="policy loss at ratio 1")
    loss.backward()
    # at ratio 1 nothing is clipped: the vanilla policy gradient -A / (number of response tokens)
    assert_close(logprobs.grad, -advantages * mask / mask.sum(),
                 what="d loss / d logprobs at ratio 1")


@given(shape=shapes, seed=seeds, clip_range=st.sampled_from([0.1, 0.2, 0.3]))
def test_policy_gradient_is_zero_where_ratio_is_clipped_on_the_active_side(impl, device, shape,
                                                                            seed, clip_range):
    data = _rollout(shape, seed, device, torch.float64)
    mask, advantages, old_logprobs = data["mask"], data["advantages"], data["old_logprobs"]
    logprobs = data["logprobs"].clone().requires_grad_()
    loss, _ = call(impl.policy_loss, logprobs, old_logprobs, advantages, mask,
                   clip_range=clip_range)
    loss.backward()
    ratio = torch.exp(data["logprobs"] - old_logprobs)
    active = (((advantages > 0) & (ratio > 1 + clip_range))
              | ((advantages < 0) & (ratio < 1 - clip_range)))
    # clipped on the active side: no gradient; elsewhere on the response: -A * ratio / count
    expected = torch.where(mask & ~active, -advantages * ratio / mask.sum(),
                           torch.zeros_like(ratio))
    assert_close(logprobs.grad, expected,
                 what="d loss / d logprobs (zero where the ratio is clipped on the active side)")


@given(shape=shapes, seed=seeds, kl_coef=kl_coefs)
def test_masked_positions_change_neither_loss_nor_gradients(impl, device, shape, seed, kl_coef):
    data = _rollout(shape, seed, device)
    mask = data["mask"]
    garbage = {name: torch.where(mask, tensor, randn(shape, seed + 20 + i, device=device,
                                                    scale=3.0))
               for i, (name, tensor) in enumerate(data.items()) if name != "mask"}
    results = []
    for inputs in (data, {**garbage, "mask": mask}):
        inputs = {k: v.clone() for k, v in inputs.items()}
        inputs["logprobs"].requires_grad_()
        inputs["values"].requires_grad_()
        loss, _ = call(impl.ppo_loss, **inputs, kl_coef=kl_coef)
        loss.backward()
        results.append((loss.detach(), inputs["logprobs"].grad, inputs["values"].grad))
    (loss, grad_logprobs, grad_values), (loss_g, grad_logprobs_g, grad_values_g) = results
    assert_close(loss_g, loss, what="ppo loss after changing values at masked positions")
    assert_close(grad_logprobs_g, grad_logprobs, what="d loss / d logprobs after that change")
    assert_close(grad_values_g, grad_values, what="d loss / d values after that change")
    zeros = torch.zeros_like(grad_logprobs)
    assert_close(torch.where(mask, zeros, grad_logprobs), zeros,
                 what="d loss / d logprobs at masked positions")


@given(vocab=size(6, min_value=2), seed=seeds, estimator=st.sampled_from(["k1", "k3"]))
def test_k1_and_k3_average_to_the_true_kl(impl, device, vocab, seed, estimator):
    # Every token of a small vocabulary, weighted by its probability under pi: the exact
    # expectation of an unbiased estimator of KL(pi || pi_ref) is that KL.
    logprobs = torch.log_softmax(randn((1, vocab), seed, dtype=torch.float64, device=device,
                                       scale=1.5), dim=-1)
    ref_logprobs = torch.log_softmax(randn((1, vocab), seed + 1, dtype=torch.float64,
                                           device=device, scale=1.5), dim=-1)
    true_kl = (logprobs.exp() * (logprobs - ref_logprobs)).sum()
    estimates = call(impl.approx_kl, logprobs, ref_logprobs, estimator)
    assert_close((logprobs.exp() * estimates).sum(), true_kl,
                 what=f"E_pi[{estimator}] vs KL(pi || pi_ref)")


@given(shape=shapes, seed=seeds, estimator=st.sampled_from(["k2", "k3"]))
def test_k2_and_k3_are_nonnegative_and_zero_iff_equal(impl, device, shape, seed, estimator):
    data = _rollout(shape, seed, device, torch.float64)
    logprobs = data["logprobs"]
    ref_logprobs = torch.where(data["mask"], logprobs, data["ref_logprobs"])  # equal on the mask
    estimates = call(impl.approx_kl, logprobs, ref_logprobs, estimator)
    assert bool((estimates >= 0).all()), f"{estimator} must be >= 0, got min {estimates.min():.4g}"
    equal = logprobs == ref_logprobs
    assert_close(estimates[equal], torch.zeros_like(estimates[equal]),
                 what=f"{estimator} where logprobs == ref_logprobs")
    assert bool((estimates[~equal] > 0).all()), f"{estimator} must be > 0 where the models differ"


@given(shape=shapes, seed=seeds, kl_coef=kl_coefs)
def test_rewards_sum_to_score_minus_kl_penalty(impl, device, shape, seed, kl_coef):
    data = _rollout(shape, seed, device)
    mask, logprobs, ref_logprobs = data["mask"], data["logprobs"], data["ref_logprobs"]
    scores = randn(shape[:1], seed + 9, device=device)
    rewards = call(impl.kl_penalized_rewards, scores, logprobs, ref_logprobs, mask, kl_coef)
    k1 = logprobs - ref_logprobs
    assert_close(rewards.sum(dim=-1), scores - kl_coef * (k1 * mask).sum(dim=-1),
                 what="per-row sum of rewards (score - kl_coef * sum of k1)")
    assert_close(rewards * ~mask, torch.zeros_like(rewards), what="rewards outside the response")
    last = mask & ~torch.nn.functional.pad(mask[:, 1:], (0, 1))  # last token of each response
    assert_close(torch.where(mask & ~last, rewards, 0.0), torch.where(mask & ~last, -kl_coef * k1,
                 0.0), what="rewards on response tokens before the last (-kl_coef * k1)")


@given(shape=shapes, seed=seeds)
def test_value_loss_within_clip_range_is_half_mse(impl, device, shape, seed):
    data = _rollout(shape, seed, device)
    mask, old_values, returns = data["mask"], data["old_values"], data["returns"]
    values = old_values + 0.19 * torch.tanh(randn(shape, seed + 9, device=device))
    loss = call(impl.value_loss, values, old_values, returns, mask, clip_range=0.2)
    assert_close(loss, 0.5 * _mean((values - returns) ** 2, mask),
                 what="value loss when |values - old_values| <= clip_range")


@given(shape=shapes, seed=seeds, kl_coef=kl_coefs, vf_coef=st.sampled_from([0.1, 0.5, 1.0]))
def test_ppo_loss_is_policy_plus_weighted_value_plus_weighted_kl(impl, device, shape, seed,
                                                                  kl_coef, vf_coef):
    data = _rollout(shape, seed, device, torch.float64)
    mask, advantages = data["mask"], data["advantages"]
    ratio = torch.exp(data["logprobs"] - data["old_logprobs"])
    policy = _mean(torch.max(-advantages * ratio, -advantages * ratio.clamp(0.8, 1.2)), mask)
    clipped = data["old_values"] + (data["values"] - data["old_values"]).clamp(-0.2, 0.2)
    value = 0.5 * _mean(torch.max((data["values"] - data["returns"]) ** 2,
                                  (clipped - data["returns"]) ** 2), mask)
    log_r = data["ref_logprobs"] - data["logprobs"]
    kl = _mean(torch.expm1(log_r) - log_r, mask)  # k3
    loss, stats = call(impl.ppo_loss, **data, kl_coef=kl_coef, vf_coef=vf_coef)
    assert_close(loss, policy + vf_coef * value + kl_coef * kl,
                 what=f"ppo loss (policy + {vf_coef} * value + {kl_coef} * mean k3)")
    for name, expected in (("policy_loss", policy), ("value_loss", value), ("kl", kl)):
        assert_close(stats[name], expected, what=f"stats[{name!r}]", check_dtype=False)


# ---------------------------------------------------------------- reference


@given(shape=shapes, seed=seeds, kl_coef=kl_coefs, with_ref=st.booleans(),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_matches_reference_on_drawn_rollouts(impl, ref, device, shape, seed, kl_coef, with_ref,
                                             dtype):
    data = _rollout(shape, seed, device, dtype)
    if not with_ref:
        data["ref_logprobs"], kl_coef = None, 0.0
    grads = []
    outputs = []
    for module in (ref, impl):
        inputs = {k: (v.clone() if v is not None else None) for k, v in data.items()}
        inputs["logprobs"].requires_grad_()
        inputs["values"].requires_grad_()
        if module is impl:
            loss, stats = call(impl.ppo_loss, **inputs, kl_coef=kl_coef)
        else:
            loss, stats = ref.ppo_loss(**inputs, kl_coef=kl_coef)
        loss.backward()
        outputs.append((loss.detach(), stats))
        grads.append((inputs["logprobs"].grad, inputs["values"].grad))
    (expected, expected_stats), (loss, stats) = outputs
    assert_close(loss, expected, what="ppo loss")
    for name, value in expected_stats.items():
        assert name in stats, f"stats lacks {name!r} (documented keys: {sorted(expected_stats)})"
        assert_close(stats[name], value, what=f"stats[{name!r}]", check_dtype=False)
    assert_close(grads[1][0], grads[0][0], what="d loss / d logprobs")
    assert_close(grads[1][1], grads[0][1], what="d loss / d values")


@given(shape=shapes, seed=seeds, kl_coef=kl_coefs, estimator=st.sampled_from(["k1", "k2", "k3"]))
def test_rewards_and_estimators_match_reference(impl, ref, device, shape, seed, kl_coef,
                                                estimator):
    data = _rollout(shape, seed, device)
    scores = randn(shape[:1], seed + 9, device=device)
    args = (scores, data["logprobs"], data["ref_logprobs"], data["mask"], kl_coef)
    assert_close(call(impl.kl_penalized_rewards, *args), ref.kl_penalized_rewards(*args),
                 what="kl_penalized_rewards")
    assert_close(call(impl.approx_kl, data["logprobs"], data["ref_logprobs"], estimator),
                 ref.approx_kl(data["logprobs"], data["ref_logprobs"], estimator),
                 what=f"approx_kl {estimator}")


# ---------------------------------------------------------------- bad input


def test_unknown_kl_estimator_raises_value_error(impl, device):
    logprobs = torch.zeros(1, 2, device=device)
    with pytest.raises(ValueError) as raised:
        call(impl.approx_kl, logprobs, logprobs, "k4")
    assert "k4" in str(raised.value), (
        f"the ValueError should name the unknown estimator 'k4'; it said: {str(raised.value)!r}")


def test_row_without_response_token_raises_value_error(impl, device):
    logprobs = torch.zeros(12, 3, device=device)
    mask = torch.ones(12, 3, dtype=torch.bool, device=device)
    mask[:, 0] = False  # a one-token prompt
    mask[10] = False  # row 10 has no response token
    with pytest.raises(ValueError) as raised:
        call(impl.kl_penalized_rewards, torch.ones(12, device=device), logprobs, logprobs, mask,
             0.1)
    assert re.search(r"(?<!\d)10(?!\d)", str(raised.value)), (
        f"the ValueError should name the empty row 10; it said: {str(raised.value)!r}")


def test_kl_in_loss_without_ref_logprobs_raises_value_error(impl, device):
    data = _rollout((2, 3), 0, device)
    data["ref_logprobs"] = None
    with pytest.raises(ValueError):
        call(impl.ppo_loss, **data, kl_coef=0.1)
    with pytest.raises(ValueError):  # any non-zero kl_coef needs them, however small
        call(impl.ppo_loss, **data, kl_coef=1e-6)
    loss, stats = call(impl.ppo_loss, **data, kl_coef=0.0)  # KL in the reward: valid
    assert "kl" not in stats, "without ref_logprobs there is no 'kl' stat"
    expected = stats["policy_loss"] + 0.1 * stats["value_loss"]
    assert_close(loss.detach(), expected, what="ppo_loss with kl_coef=0 and no ref_logprobs")
