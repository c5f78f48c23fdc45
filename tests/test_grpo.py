"""Grader for the `grpo` kata: worked examples, properties (with autograd), the reference."""

import math
import re

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.strategies import randn, seeds, size

LOSS_TYPES = ("grpo", "dapo", "dr_grpo")
shapes = st.tuples(size(5), size(6))  # (batch, seq)
loss_types = st.sampled_from(LOSS_TYPES)


def _response_mask(shape, seed, device):
    """True on a response of >= 1 token from position 0, then padding, per row."""
    batch, seq = shape
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, seq + 1, (batch,), generator=generator)
    return (torch.arange(seq)[None, :] < lengths[:, None]).to(device)


def _rollout(shape, seed, device, dtype=torch.float32):
    old_logprobs = -randn(shape, seed, dtype=dtype, device=device).abs() - 0.1
    return {
        "logprobs": old_logprobs + randn(shape, seed + 1, dtype=dtype, device=device, scale=0.3),
        "old_logprobs": old_logprobs,
        "ref_logprobs": old_logprobs + randn(shape, seed + 2, dtype=dtype, device=device,
                                             scale=0.3),
        "advantages": randn(shape[:1], seed + 3, dtype=dtype, device=device),
        "mask": _response_mask(shape, seed + 4, device),
    }


def _normaliser(mask, loss_type, max_completion_length=None):
    """Each token's weight in the loss: 1/(n_b · batch), 1/N, or 1/(batch · L)."""
    batch, seq = mask.shape
    mask = mask.double()
    if loss_type == "grpo":
        return mask / (mask.sum(dim=-1, keepdim=True) * batch)
    if loss_type == "dapo":
        return mask / mask.sum()
    return mask / (batch * (max_completion_length or seq))


# ---------------------------------------------------------------- worked examples


def test_group_advantages_worked_example(impl, device):
    # group 0: [1, 0, 0, 1]: mean 1/2, unbiased std sqrt(4 · 1/4 / 3) = sqrt(1/3)
    # group 1: [2, 2, 2, 2]: all equal -> advantages 0 (not NaN)
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0], device=device)
    a = 0.5 / (math.sqrt(1 / 3) + 1e-4)
    expected = torch.tensor([a, -a, -a, a, 0.0, 0.0, 0.0, 0.0], device=device)
    assert_close(call(impl.group_advantages, rewards, 4), expected,
                 what="group_advantages (r - group mean) / (unbiased group std + 1e-4)")
    expected = torch.tensor([0.5, -0.5, -0.5, 0.5, 0.0, 0.0, 0.0, 0.0], device=device)
    assert_close(call(impl.group_advantages, rewards, 4, scale_rewards=False), expected,
                 what="group_advantages(scale_rewards=False) (r - group mean)")


def test_eps_is_added_to_the_std_outside_the_square_root(impl, device):
    # one group [0, 0.01]: mean 0.005, unbiased std 0.01 / √2 ≈ 0.00707, so eps = 1e-4 is
    # visible: A = ±0.005 / (0.01 / √2 + 1e-4) ≈ ±0.697, while √(var + eps) ≈ 0.01225 gives
    # ±0.408 and max(std, eps) gives ±0.707.
    rewards = torch.tensor([0.0, 0.01], dtype=torch.float64, device=device)
    a = 0.005 / (0.01 / math.sqrt(2) + 1e-4)
    assert_close(call(impl.group_advantages, rewards, 2),
                 torch.tensor([-a, a], dtype=torch.float64, device=device),
                 what="group_advantages of [0, 0.01]: (r - mean) / (unbiased std + 1e-4)")


def test_groups_are_consecutive_rows(impl, device):
    # 3 prompts x 2 responses: rows (0, 1), (2, 3), (4, 5) are the groups
    rewards = torch.tensor([0.0, 2.0, 10.0, 10.0, 5.0, 3.0], device=device)
    expected = torch.tensor([-1.0, 1.0, 0.0, 0.0, 1.0, -1.0], device=device)
    assert_close(call(impl.group_advantages, rewards, 2, scale_rewards=False), expected,
                 what="group_advantages with group_size=2 (groups are consecutive rows)")


def _clip_example(device):
    # ratios row 0 [1.5, 1.0, pad], row 1 [0.5, 1.1, 0.7]; A = [+1, -1]; no KL
    ratio = torch.tensor([[1.5, 1.0, 1.0], [0.5, 1.1, 0.7]])
    old_logprobs = torch.full((2, 3), -1.0)
    return {"logprobs": (old_logprobs + ratio.log()).to(device),
            "old_logprobs": old_logprobs.to(device), "ref_logprobs": None,
            "advantages": torch.tensor([1.0, -1.0], device=device),
            "mask": torch.tensor([[True, True, False], [True, True, True]], device=device)}


@pytest.mark.parametrize(("loss_type", "expected"), [
    # per token -min(rA, clip(r)A): row 0 [-1.2, -1.0], row 1 [0.8, 1.1, 0.8]
    ("grpo", ((-1.2 - 1.0) / 2 + (0.8 + 1.1 + 0.8) / 3) / 2),  # sequence means, then batch
    ("dapo", (-1.2 - 1.0 + 0.8 + 1.1 + 0.8) / 5),  # one mean over the 5 tokens
    ("dr_grpo", (-1.2 - 1.0 + 0.8 + 1.1 + 0.8) / (2 * 4)),  # sum / (batch · 4)
])
def test_grpo_loss_worked_example(impl, device, loss_type, expected):
    loss, stats = call(impl.grpo_loss, **_clip_example(device), beta=0.0, loss_type=loss_type,
                       max_completion_length=4)
    assert_close(loss, torch.tensor(expected, device=device), what=f"{loss_type} loss")
    assert_close(stats["clip_ratio"], torch.tensor(3 / 5, device=device),
                 what="stats['clip_ratio'] (3 of 5 response tokens clipped on the active side)")


def test_clip_higher_worked_example(impl, device):
    # epsilon_high = 0.28: the ratio 1.5 with A = +1 is clipped at 1.28 instead of 1.2
    loss, _ = call(impl.grpo_loss, **_clip_example(device), beta=0.0, epsilon_low=0.2,
                   epsilon_high=0.28, loss_type="grpo")
    expected = ((-1.28 - 1.0) / 2 + (0.8 + 1.1 + 0.8) / 3) / 2
    assert_close(loss, torch.tensor(expected, device=device),
                 what="grpo loss with epsilon_low=0.2, epsilon_high=0.28")


def test_kl_term_worked_example(impl, device):
    # π = 1/2, π_ref = 1/4 -> r = π_ref / π = 1/2, k3 = r - 1 - log r = log 2 - 1/2;
    # ratio 1 and A = 0, so the loss is beta · k3
    logprobs = torch.full((1, 2), math.log(0.5), device=device)
    ref_logprobs = torch.full((1, 2), math.log(0.25), device=device)
    mask = torch.tensor([[True, False]], device=device)
    k3 = math.log(2) - 0.5
    loss, stats = call(impl.grpo_loss, logprobs, logprobs.clone(), ref_logprobs,
                       torch.zeros(1, device=device), mask, beta=0.1)
    assert_close(loss, torch.tensor(0.1 * k3, device=device),
                 what="loss = beta · k3 with k3 = exp(ref - logprobs) - (ref - logprobs) - 1")
    assert_close(stats["kl"], torch.tensor(k3, device=device), what="stats['kl']")


# ---------------------------------------------------------------- properties


@given(groups=size(4), group_size=size(5, min_value=2), seed=seeds, scale=st.booleans())
def test_advantages_of_each_group_have_zero_mean_and_unit_std(impl, device, groups, group_size,
                                                              seed, scale):
    rewards = randn((groups * group_size,), seed, dtype=torch.float64, device=device, scale=5)
    advantages = call(impl.group_advantages, rewards, group_size, scale_rewards=scale, eps=0.0)
    grouped = advantages.view(groups, group_size)
    assert_close(grouped.mean(dim=1), torch.zeros(groups, dtype=torch.float64, device=device),
                 atol=1e-9, what="mean advantage of each group")
    expected_std = torch.ones(groups, dtype=torch.float64, device=device) if scale else \
        rewards.view(groups, group_size).std(dim=1)
    assert_close(grouped.std(dim=1), expected_std,
                 what="unbiased std of each group's advantages" + (" (1)" if scale else ""))


@given(groups=size(4, min_value=2), group_size=size(5, min_value=2), seed=seeds,
       scale=st.booleans())
def test_each_group_is_normalised_on_its_own(impl, device, groups, group_size, seed, scale):
    rewards = randn((groups * group_size,), seed, dtype=torch.float64, device=device)
    offsets = randn((groups,), seed + 1, dtype=torch.float64, device=device, scale=10)
    shifted = rewards + offsets.repeat_interleave(group_size)  # a constant per prompt
    assert_close(call(impl.group_advantages, shifted, group_size, scale_rewards=scale),
                 call(impl.group_advantages, rewards, group_size, scale_rewards=scale),
                 what="advantages after adding a different constant to each group's rewards")


@given(shape=shapes, seed=seeds, loss_type=loss_types)
@example(shape=(3, 3), seed=0, loss_type="grpo")  # batch == seq: a wrong broadcast still runs
def test_gradient_at_ratio_one_is_the_advantage_on_every_token(impl, device, shape, seed,
                                                               loss_type):
    data = _rollout(shape, seed, device, torch.float64)
    logprobs = data["old_logprobs"].clone().requires_grad_()
    loss, _ = call(impl.grpo_loss, logprobs, data["old_logprobs"], None, data["advantages"],
                   data["mask"], beta=0.0, loss_type=loss_type, max_completion_length=7)
    weights = _normaliser(data["mask"], loss_type, 7)
    advantages = data["advantages"][:, None]
    assert_close(loss.detach(), -(advantages * weights).sum(),
                 what=f"{loss_type} loss at ratio 1 (minus the weighted mean advantage)")
    loss.backward()
    assert_close(logprobs.grad, -advantages * weights,
                 what=f"d loss / d logprobs at ratio 1 ({loss_type}: -A_b times the token's "
                      "weight)")


@given(shape=shapes, seed=seeds, loss_type=loss_types, beta=st.sampled_from([0.0, 0.04, 0.3]))
def test_padding_changes_neither_loss_nor_gradients(impl, device, shape, seed, loss_type, beta):
    data = _rollout(shape, seed, device)
    mask = data["mask"]
    garbage = {name: torch.where(mask, tensor, randn(shape, seed + 20 + i, device=device,
                                                    scale=3.0))
               for i, (name, tensor) in enumerate(data.items())
               if name not in ("mask", "advantages")}
    results = []
    for inputs in (data, {**data, **garbage}):
        inputs = {k: v.clone() for k, v in inputs.items()}
        inputs["logprobs"].requires_grad_()
        loss, stats = call(impl.grpo_loss, **inputs, beta=beta, loss_type=loss_type)
        loss.backward()
        results.append((loss.detach(), inputs["logprobs"].grad, stats))
    (loss, grad, stats), (loss_g, grad_g, stats_g) = results
    assert_close(loss_g, loss, what=f"{loss_type} loss after changing padded positions")
    assert_close(grad_g, grad, what="d loss / d logprobs after changing padded positions")
    assert_close(stats_g["kl"], stats["kl"], what="stats['kl'] after changing padded positions")
    assert_close(torch.where(mask, 0.0, grad), torch.zeros_like(grad),
                 what="d loss / d logprobs at padded positions")


@given(shape=shapes, seed=seeds, epsilon_high=st.sampled_from([None, 0.28]))
def test_gradient_is_zero_where_the_clip_is_active(impl, device, shape, seed, epsilon_high):
    data = _rollout(shape, seed, device, torch.float64)
    logprobs = data["logprobs"].clone().requires_grad_()
    loss, _ = call(impl.grpo_loss, logprobs, data["old_logprobs"], None, data["advantages"],
                   data["mask"], beta=0.0, epsilon_low=0.2, epsilon_high=epsilon_high,
                   loss_type="dapo")
    loss.backward()
    high = 0.2 if epsilon_high is None else epsilon_high
    ratio = torch.exp(data["logprobs"] - data["old_logprobs"])
    advantages = data["advantages"][:, None].expand_as(ratio)
    active = ((ratio < 0.8) & (advantages < 0)) | ((ratio > 1 + high) & (advantages > 0))
    expected = torch.where(active, 0.0, -advantages * ratio * _normaliser(data["mask"], "dapo"))
    assert_close(logprobs.grad, expected,
                 what=f"d loss / d logprobs (zero where clipped; epsilon_high={epsilon_high})")


@given(shape=shapes, seed=seeds, loss_type=loss_types)
def test_kl_term_vanishes_at_the_reference(impl, device, shape, seed, loss_type):
    data = _rollout(shape, seed, device, torch.float64)
    args = (data["old_logprobs"], data["advantages"], data["mask"])
    grads = []
    for beta, ref_logprobs in ((0.0, None), (0.5, data["logprobs"].clone())):
        logprobs = data["logprobs"].clone().requires_grad_()
        loss, stats = call(impl.grpo_loss, logprobs, args[0], ref_logprobs, *args[1:],
                           beta=beta, loss_type=loss_type)
        loss.backward()
        grads.append((loss.detach(), logprobs.grad))
    assert_close(grads[1][0], grads[0][0],
                 what="loss with beta=0.5 when ref_logprobs == logprobs (vs beta=0)")
    assert_close(grads[1][1], grads[0][1],
                 what="d loss / d logprobs with beta=0.5 when ref_logprobs == logprobs")
    assert_close(stats["kl"], torch.zeros((), dtype=torch.float64, device=device), atol=1e-12,
                 what="stats['kl'] when ref_logprobs == logprobs")


@given(shape=shapes, seed=seeds, loss_type=loss_types, beta=st.sampled_from([0.04, 0.5]))
def test_kl_gradient_pulls_towards_the_reference(impl, device, shape, seed, loss_type, beta):
    # d k3 / d logprobs = 1 - exp(ref - logprobs) = 1 - π_ref/π: positive where π > π_ref
    data = _rollout(shape, seed, device, torch.float64)
    logprobs = data["logprobs"].clone().requires_grad_()
    zero = torch.zeros_like(data["advantages"])  # no policy-gradient term
    loss, _ = call(impl.grpo_loss, logprobs, data["old_logprobs"], data["ref_logprobs"], zero,
                   data["mask"], beta=beta, loss_type=loss_type)
    loss.backward()
    expected = beta * (1 - torch.exp(data["ref_logprobs"] - data["logprobs"]))
    assert_close(logprobs.grad, expected * _normaliser(data["mask"], loss_type),
                 what="d loss / d logprobs of the KL term (beta · (1 - π_ref/π) · weight)")


# ---------------------------------------------------------------- reference


@given(shape=shapes, seed=seeds, loss_type=loss_types, beta=st.sampled_from([0.0, 0.04, 0.3]),
       epsilon_high=st.sampled_from([None, 0.28]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_grpo_loss_matches_reference(impl, ref, device, shape, seed, loss_type, beta,
                                     epsilon_high, dtype):
    data = _rollout(shape, seed, device, dtype)
    outputs = []
    for module in (ref, impl):
        inputs = {k: v.clone() for k, v in data.items()}
        inputs["logprobs"].requires_grad_()
        kwargs = {"beta": beta, "epsilon_high": epsilon_high, "loss_type": loss_type}
        if module is impl:
            loss, stats = call(impl.grpo_loss, **inputs, **kwargs)
        else:
            loss, stats = ref.grpo_loss(**inputs, **kwargs)
        loss.backward()
        outputs.append((loss.detach(), stats, inputs["logprobs"].grad))
    (expected, expected_stats, expected_grad), (loss, stats, grad) = outputs
    assert_close(loss, expected, what=f"{loss_type} loss")
    assert_close(grad, expected_grad, what="d loss / d logprobs")
    for name, value in expected_stats.items():
        assert name in stats, f"stats lacks {name!r} (documented keys: {sorted(expected_stats)})"
        assert_close(stats[name], value, what=f"stats[{name!r}]")
        assert not stats[name].requires_grad, f"stats[{name!r}] must be detached"


@given(groups=size(4), group_size=size(5, min_value=2), seed=seeds, scale=st.booleans(),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_group_advantages_match_reference(impl, ref, device, groups, group_size, seed, scale,
                                          dtype):
    rewards = randn((groups * group_size,), seed, dtype=dtype, device=device)
    rewards = torch.where(rewards > 1, rewards.round(), rewards)  # some ties
    assert_close(call(impl.group_advantages, rewards, group_size, scale_rewards=scale),
                 ref.group_advantages(rewards, group_size, scale_rewards=scale),
                 what="group_advantages")


# ---------------------------------------------------------------- bad input


def test_group_size_below_two_raises_value_error(impl, device):
    call(impl.group_advantages, torch.tensor([1.0, 2.0], device=device), 2)  # the last valid
    with pytest.raises(ValueError):
        call(impl.group_advantages, torch.tensor([1.0, 2.0], device=device), 1)


def test_batch_not_a_multiple_of_group_size_raises_value_error(impl, device):
    with pytest.raises(ValueError) as raised:
        call(impl.group_advantages, torch.arange(7.0, device=device), 3)
    assert re.search(r"(?<!\d)7(?!\d)", str(raised.value)) and "3" in str(raised.value), (
        f"the ValueError should name 7 rewards and group_size 3; it said: {raised.value}")


def test_unknown_loss_type_raises_value_error(impl, device):
    data = _rollout((2, 3), 0, device)
    with pytest.raises(ValueError) as raised:
        call(impl.grpo_loss, **data, loss_type="bnpo_typo")
    assert "bnpo_typo" in str(raised.value), (
        f"the ValueError should name the unknown loss_type; it said: {raised.value}")


def test_kl_without_ref_logprobs_raises_value_error(impl, device):
    data = {**_rollout((2, 3), 0, device), "ref_logprobs": None}
    call(impl.grpo_loss, **data, beta=0.0)
    with pytest.raises(ValueError):
        call(impl.grpo_loss, **data, beta=0.04)
