"""ppo_loss vs TRL: GRPO's per-token clipped loss with the k3 KL in the loss (trl 1.x
`GRPOTrainer._compute_loss`, loss_type "bnpo": one masked mean over the batch's tokens), and
TRL's PPOTrainer formulas (trl 0.x `ppo_trainer.py`; no longer shipped in trl 1.x, written out
below): value loss, clip fraction, per-token rewards with TRL's score placement."""

import os

import pytest
import torch

CASES = 150


def _case(seed: int):
    g = torch.Generator().manual_seed(seed)
    batch = int(torch.randint(1, 5, (), generator=g))
    seq = int(torch.randint(2, 9, (), generator=g))

    def draw():
        return torch.randn(batch, seq, generator=g, dtype=torch.float64)

    logprobs, old, ref_lp = -draw().abs(), -draw().abs(), -draw().abs()
    advantages, values, old_values, returns = draw(), draw(), draw(), draw()
    # response = a run of positions after a prompt, then padding (possibly none)
    start = torch.randint(0, seq - 1, (batch,), generator=g)
    stop = torch.minimum(start + 1 + torch.randint(0, seq, (batch,), generator=g),
                         torch.tensor(seq))
    position = torch.arange(seq)
    mask = (position >= start[:, None]) & (position < stop[:, None])
    scores = torch.randn(batch, generator=g, dtype=torch.float64)
    return logprobs, old, ref_lp, advantages, values, old_values, returns, mask, scores


def _masked_mean(values, mask):
    return (values * mask).sum() / mask.sum()


def test_policy_loss_and_kl_match_trl_grpo(ref, oracle):
    pytest.importorskip("trl")
    oracle.uses("trl")
    for seed in range(CASES):
        logprobs, old, ref_lp, advantages, _, _, _, mask, _ = _case(seed)
        clip, beta = 0.2, [0.0, 0.04, 0.5][seed % 3]
        # GRPOTrainer._compute_loss, with per-token advantages and epsilon_low = epsilon_high
        coef_1 = torch.exp(logprobs - old)
        coef_2 = torch.clamp(coef_1, 1 - clip, 1 + clip)
        per_token_kl = torch.exp(ref_lp - logprobs) - (ref_lp - logprobs) - 1
        per_token_loss = -torch.min(coef_1 * advantages, coef_2 * advantages) + beta * per_token_kl
        expected = _masked_mean(per_token_loss, mask)
        zeros = torch.zeros_like(logprobs)
        loss, _ = ref.ppo_loss(logprobs, old, advantages, zeros, zeros, zeros, mask, ref_lp,
                               clip_range=clip, vf_coef=0.0, kl_coef=beta)
        oracle.compare(loss, expected, atol=1e-12, what=f"ppo_loss (GRPO form), seed {seed}")


def test_value_loss_clip_fraction_and_rewards_match_trl_ppo_formulas(ref, oracle):
    pytest.importorskip("trl")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # a known, stable helper
    from trl.experimental.utils import first_true_indices

    oracle.uses("trl")
    for seed in range(CASES):
        logprobs, old, ref_lp, advantages, values, old_values, returns, mask, scores = _case(seed)
        clip, kl_coef = 0.2, 0.05
        # trl 0.x PPOTrainer: vf_loss = 0.5 * masked_mean(max((V - R)^2, (V_clip - R)^2))
        clipped = old_values + torch.clamp(values - old_values, -clip, clip)
        expected = 0.5 * _masked_mean(torch.max((values - returns) ** 2,
                                                (clipped - returns) ** 2), mask)
        oracle.compare(ref.value_loss(values, old_values, returns, mask, clip), expected,
                       atol=1e-12, what=f"value_loss, seed {seed}")
        ratio = torch.exp(logprobs - old)
        pg_losses, pg_losses2 = -advantages * ratio, -advantages * torch.clamp(ratio, 1 - clip,
                                                                                1 + clip)
        _, stats = ref.policy_loss(logprobs, old, advantages, mask, clip)
        oracle.compare(stats["clip_fraction"], _masked_mean((pg_losses2 > pg_losses).double(),
                                                            mask),
                       atol=1e-12, what=f"clip_fraction (pg_clipfrac), seed {seed}")
        # TRL's rewards: -kl_coef * k1 per token, the score at sequence_length + 1 when that
        # index exists (the first pad), else at the last token. The kata puts the score on the
        # last response token: shift TRL's placement back by one where a pad follows.
        rewards = ref.kl_penalized_rewards(scores, logprobs, ref_lp, mask, kl_coef)
        seq = mask.shape[-1]
        after = first_true_indices(mask.flip(-1))  # pads after the response
        last = seq - 1 - after  # the last response token
        expected = torch.where(mask, -kl_coef * (logprobs - ref_lp), torch.zeros_like(logprobs))
        trl_end = torch.where(last + 1 < seq, last + 1, last)
        expected[torch.arange(len(scores)), trl_end - (trl_end != last).long()] += scores
        oracle.compare(rewards, expected, atol=1e-12, what=f"kl_penalized_rewards, seed {seed}")
