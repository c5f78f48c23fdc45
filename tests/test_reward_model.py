"""Grader for the `reward_model` kata: worked examples, properties (autograd), the reference."""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.strategies import randn, seeds, size


def _nll(x):  # -log σ(x) = log(1 + e^-x), for hand-checked numbers
    return math.log1p(math.exp(-x))


def _padded_mask(batch, seq, seed, side, device):
    """attention_mask with 1..seq real tokens per row, padded on the `side` ("left"/"right")."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, seq + 1, (batch,), generator=generator)
    positions = torch.arange(seq)[None, :]
    mask = positions >= seq - lengths[:, None] if side == "left" else positions < lengths[:, None]
    return mask.long().to(device), lengths.to(device)


# ---------------------------------------------------------------- worked examples


def test_last_token_rewards_worked_example(impl, device):
    values = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0],
                           [13.0, 14.0, 15.0, 16.0]], device=device)
    attention_mask = torch.tensor([[1, 1, 0, 0],   # right padding: last real token at 1
                                   [0, 0, 1, 1],   # left padding: at 3
                                   [1, 1, 1, 1],   # no padding: at 3
                                   [0, 1, 1, 0]], device=device)  # both sides: at 2
    expected = torch.tensor([2.0, 8.0, 12.0, 15.0], device=device)
    assert_close(call(impl.last_token_rewards, values, attention_mask), expected,
                 what="rewards at the last real token (left and right padding)")


def test_pairwise_loss_worked_example(impl, device):
    chosen = torch.tensor([2.0, 0.0], device=device)
    rejected = torch.tensor([1.0, 0.0], device=device)
    # differences 1 and 0: mean(-log σ(1), -log σ(0)) = (log(1 + e^-1) + log 2) / 2
    assert_close(call(impl.pairwise_loss, chosen, rejected),
                 torch.tensor((_nll(1.0) + math.log(2)) / 2, device=device),
                 what="pairwise loss mean(-log σ(chosen - rejected))")
    margin = torch.tensor([0.5, -1.0], device=device)  # differences 1 - 0.5 and 0 + 1
    assert_close(call(impl.pairwise_loss, chosen, rejected, margin),
                 torch.tensor((_nll(0.5) + _nll(1.0)) / 2, device=device),
                 what="pairwise loss with margin, mean(-log σ(chosen - rejected - margin))")
    # centring: + 0.01 · mean((2 + 1)², (0 + 0)²) = 0.01 · 4.5
    assert_close(call(impl.pairwise_loss, chosen, rejected, center_rewards_coefficient=0.01),
                 torch.tensor((_nll(1.0) + math.log(2)) / 2 + 0.045, device=device),
                 what="pairwise loss + 0.01 · mean((chosen + rejected)²)")


def test_ranking_loss_worked_example(impl, device):
    # K = 3 ranked best first, rewards [3, 1, 2]: pairs (0, 1) 3 - 1 = 2, (0, 2) 3 - 2 = 1,
    # (1, 2) 1 - 2 = -1 (the model ranks 1 below 2: the largest term)
    rewards = torch.tensor([[3.0, 1.0, 2.0]], device=device)
    expected = (_nll(2.0) + _nll(1.0) + _nll(-1.0)) / 3
    assert_close(call(impl.ranking_loss, rewards), torch.tensor(expected, device=device),
                 what="ranking loss over the 3 pairs i < j of -log σ(r_i - r_j)")


def test_reward_accuracy_worked_example(impl, device):
    chosen = torch.tensor([1.0, 2.0, 3.0], device=device)
    rejected = torch.tensor([0.0, 2.0, 4.0], device=device)  # win, tie, loss
    assert_close(call(impl.reward_accuracy, chosen, rejected),
                 torch.tensor(1 / 3, device=device), what="reward accuracy (a tie is no win)")


def test_pairwise_loss_is_stable_at_large_differences(impl, device):
    chosen = torch.tensor([-500.0, 500.0], device=device, requires_grad=True)
    rejected = torch.tensor([500.0, -500.0], device=device)
    loss = call(impl.pairwise_loss, chosen, rejected)
    # -log σ(-1000) = 1000 and -log σ(1000) = 0: mean 500 (log(sigmoid) gives inf)
    assert_close(loss.detach(), torch.tensor(500.0, device=device),
                 what="pairwise loss at differences -1000 and +1000 (use logsigmoid)")
    loss.backward()
    assert_close(chosen.grad, torch.tensor([-0.5, 0.0], device=device),
                 what="d loss / d chosen at differences ∓1000 (-σ(-d) / batch)")


# ---------------------------------------------------------------- properties


@given(batch=size(5), seq=size(6), seed=seeds, side=st.sampled_from(["left", "right"]))
@example(batch=2, seq=3, seed=0, side="left")
def test_reward_is_read_at_the_last_real_token(impl, device, batch, seq, seed, side):
    mask, lengths = _padded_mask(batch, seq, seed, side, device)
    values = randn((batch, seq), seed + 1, device=device)
    last = torch.full_like(lengths, seq - 1) if side == "left" else lengths - 1
    expected = values[torch.arange(batch, device=device), last]
    assert_close(call(impl.last_token_rewards, values, mask), expected,
                 what=f"rewards of {side}-padded rows")
    garbage = torch.where(mask.bool(), values, randn((batch, seq), seed + 2, device=device,
                                                     scale=100))
    assert_close(call(impl.last_token_rewards, garbage, mask.bool()), expected,
                 what="rewards after changing the padding's scores (bool attention_mask)")


@given(batch=size(5), seed=seeds)
def test_pairwise_loss_is_log2_for_equal_rewards(impl, device, batch, seed):
    rewards = randn((batch,), seed, device=device, scale=3)
    assert_close(call(impl.pairwise_loss, rewards, rewards.clone()),
                 torch.tensor(math.log(2), device=device),
                 what="pairwise loss when chosen == rejected (log 2)")


@given(batch=size(5), seed=seeds)
def test_swapping_chosen_and_rejected_mirrors_the_loss(impl, device, batch, seed):
    chosen = randn((batch,), seed, dtype=torch.float64, device=device, scale=3)
    rejected = randn((batch,), seed + 1, dtype=torch.float64, device=device, scale=3)
    # -log σ(-d) = -log σ(d) + d, averaged over the batch
    assert_close(call(impl.pairwise_loss, rejected, chosen),
                 call(impl.pairwise_loss, chosen, rejected) + (chosen - rejected).mean(),
                 what="loss(rejected, chosen) = loss(chosen, rejected) + mean(chosen - rejected)")


@given(batch=size(5), seed=seeds, with_margin=st.booleans())
def test_pairwise_gradient_is_minus_sigmoid_of_minus_difference(impl, device, batch, seed,
                                                                with_margin):
    chosen = randn((batch,), seed, dtype=torch.float64, device=device, scale=3)
    rejected = randn((batch,), seed + 1, dtype=torch.float64, device=device, scale=3)
    margin = randn((batch,), seed + 2, dtype=torch.float64, device=device).abs() \
        if with_margin else None
    chosen.requires_grad_()
    call(impl.pairwise_loss, chosen, rejected, margin).backward()
    d = chosen.detach() - rejected - (0 if margin is None else margin)
    assert_close(chosen.grad, -torch.sigmoid(-d) / batch,
                 what="d loss / d chosen_rewards (-σ(-(chosen - rejected - margin)) / batch)")


@given(batch=size(4), group=size(5, min_value=2), seed=seeds)
def test_ranking_loss_averages_every_ordered_pair(impl, device, batch, group, seed):
    rewards = randn((batch, group), seed, dtype=torch.float64, device=device, scale=2)
    terms = [-F.logsigmoid(rewards[:, i] - rewards[:, j])
             for i in range(group) for j in range(i + 1, group)]
    assert_close(call(impl.ranking_loss, rewards), torch.stack(terms).mean(),
                 what=f"ranking loss: mean over the {len(terms)} pairs i < j and the batch")
    shifted = rewards + randn((batch, 1), seed + 1, dtype=torch.float64, device=device, scale=9)
    assert_close(call(impl.ranking_loss, shifted), torch.stack(terms).mean(),
                 what="ranking loss after adding a constant to each prompt's rewards")


@given(batch=size(5), seed=seeds)
def test_ranking_loss_with_two_responses_is_the_pairwise_loss(impl, device, batch, seed):
    rewards = randn((batch, 2), seed, device=device, scale=2)
    assert_close(call(impl.ranking_loss, rewards),
                 call(impl.pairwise_loss, rewards[:, 0], rewards[:, 1]),
                 what="ranking_loss with K = 2 vs pairwise_loss")


# ---------------------------------------------------------------- reference


@given(batch=size(5), seq=size(6), seed=seeds, side=st.sampled_from(["left", "right"]),
       with_margin=st.booleans(), center=st.sampled_from([None, 0.01]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_matches_reference(impl, ref, device, batch, seq, seed, side, with_margin, center,
                           dtype):
    mask, _ = _padded_mask(2 * batch, seq, seed, side, device)
    values = randn((2 * batch, seq), seed + 1, dtype=dtype, device=device, scale=3)
    rewards = call(impl.last_token_rewards, values, mask)
    assert_close(rewards, ref.last_token_rewards(values, mask), what="last_token_rewards")
    chosen, rejected = ref.last_token_rewards(values, mask).chunk(2)
    margin = randn((batch,), seed + 2, dtype=dtype, device=device).abs() if with_margin else None
    assert_close(call(impl.pairwise_loss, chosen, rejected, margin, center),
                 ref.pairwise_loss(chosen, rejected, margin, center), what="pairwise_loss")
    assert_close(call(impl.reward_accuracy, chosen, rejected),
                 ref.reward_accuracy(chosen, rejected), what="reward_accuracy")
    grouped = values[:, :3] if seq >= 2 else values.repeat(1, 2)
    assert_close(call(impl.ranking_loss, grouped), ref.ranking_loss(grouped), what="ranking_loss")


# ---------------------------------------------------------------- bad input


def test_row_without_real_token_raises_value_error(impl, device):
    mask = torch.ones(12, 3, dtype=torch.long, device=device)
    mask[10] = 0
    values = torch.zeros(12, 3, device=device)
    call(impl.last_token_rewards, values[:10], mask[:10])
    with pytest.raises(ValueError) as raised:
        call(impl.last_token_rewards, values, mask)
    assert re.search(r"(?<!\d)10(?!\d)", str(raised.value)), (
        f"the ValueError should name the empty row 10; it said: {str(raised.value)!r}")


def test_ranking_with_one_response_raises_value_error(impl, device):
    call(impl.ranking_loss, torch.zeros(3, 2, device=device))  # K = 2: the last valid
    with pytest.raises(ValueError):
        call(impl.ranking_loss, torch.zeros(3, 1, device=device))
