"""The RLHF PPO objective: KL-shaped rewards, clipped policy loss, clipped value loss.

Task:
    Write the per-token pieces of PPO as used to fine-tune a language model: a masked mean, the
    k1/k2/k3 KL estimators, InstructGPT-style rewards (score on the last response token, a KL
    penalty on every response token), the clipped surrogate policy loss, the clipped value loss,
    and `ppo_loss`, which combines them with the KL either in the reward or in the loss.

Rules:
    Plain torch only; no RL libraries (trl, openrlhf). Every mean runs over response tokens only.

Shapes:
    batch (sequences), seq (token positions, prompt + response + padding). `mask` is bool
    (batch, seq), True on response tokens: the only positions that count.

Reference:
    Schulman et al. 2017, "Proximal Policy Optimization Algorithms", Eq. 7 (clipped surrogate).
    Ouyang et al. 2022 (InstructGPT), Eq. 2 (reward minus beta * log(pi / pi_ref)); the per-token
    shaping follows Ziegler et al. 2019 and TRL's PPOTrainer. KL estimators: J. Schulman,
    "Approximating KL Divergence" (2020). Value clipping, the 1/2 and token-level means: TRL
    (`vf_loss = 0.5 * masked_mean(max(...))`). Diagnostics' approx KL: CleanRL's ppo.py.
    Version line: TRL 0.x PPOTrainer formulas and TRL 1.x GRPO's k3 loss; `nox -s oracles`
    checks them with trl 1.13 installed.

Notable choices:
    - Token-level means: one masked mean over all response tokens of the batch (TRL PPO, DAPO);
      GRPO's original form averages per sequence first.
    - KL in the reward (InstructGPT, TRL, OpenRLHF): k1 penalty in `kl_penalized_rewards` before
      advantages are computed, and kl_coef=0 in `ppo_loss`. KL in the loss (GRPO, Shao et al. 2024,
      DeepSeekMath §4.1): pass ref_logprobs and kl_coef > 0 to `ppo_loss`, which adds
      kl_coef * masked_mean(k3) and lets its gradient flow. Use one placement, not both.
    - The score goes on the last response token (the last True of `mask`), the token that
      ended the response. TRL's PPOTrainer (trl 0.x; trl 1.13 no longer ships it) adds it one
      position later, on the first padding position after the response when there is one
      (its value mask keeps that extra position), and on the last token only when the
      response fills the row. We keep the score on a token the policy generated; the two agree
      when no padding follows.
    - clip_fraction counts tokens where the clipped term is the larger one (clipping changes the
      loss), as TRL's pg_clipfrac; a ratio outside the range on the inactive side is not counted.

Grade: nox -s ppo_loss
"""

import torch
from jaxtyping import Bool, Float
from torch import Tensor


def masked_mean(values: Float[Tensor, "..."], mask: Bool[Tensor, "..."],
                dim: int | None = None) -> Float[Tensor, "..."]:
    """Mean of `values` over the positions where `mask` is True.

    Args:
        values: float tensor, any shape; values at masked-out positions must be finite and are
            ignored (they get no gradient).
        mask: bool, same shape as `values`.
        dim: reduce only this axis (None: all positions, giving a 0-dim tensor).

    Returns:
        The masked mean in values' dtype; 0 (not NaN) where no position is True.
    """
    # BEGIN SOLUTION
    mask = mask.bool()
    kept = torch.where(mask, values, torch.zeros_like(values))
    if dim is None:
        return kept.sum() / mask.sum().clamp(min=1)
    return kept.sum(dim=dim) / mask.sum(dim=dim).clamp(min=1)
    # END SOLUTION


def approx_kl(logprobs: Float[Tensor, "batch seq"], ref_logprobs: Float[Tensor, "batch seq"],
              estimator: str = "k1") -> Float[Tensor, "batch seq"]:
    """Per-token estimates of KL(pi || pi_ref) on tokens sampled from pi (the policy).

    With log r = ref_logprobs - logprobs (r = pi_ref / pi): k1 = -log r (unbiased, can be
    negative), k2 = (log r)^2 / 2 (biased, >= 0), k3 = (r - 1) - log r (unbiased, >= 0).

    Args:
        logprobs: log pi(token) of the sampled tokens under the policy.
        ref_logprobs: log pi_ref(token) of the same tokens under the reference model.
        estimator: "k1", "k2" or "k3".

    Returns:
        (batch, seq) per-token estimates, in the inputs' dtype (average them with `masked_mean`).

    Raises:
        ValueError: an unknown estimator (the message names it).
    """
    # BEGIN SOLUTION
    if estimator not in ("k1", "k2", "k3"):
        raise ValueError(f"estimator={estimator!r}: use 'k1', 'k2' or 'k3'")
    log_ratio = ref_logprobs - logprobs  # log r, r = pi_ref / pi
    if estimator == "k1":
        return -log_ratio
    if estimator == "k2":
        return 0.5 * log_ratio**2
    return torch.expm1(log_ratio) - log_ratio  # (r - 1) - log r
    # END SOLUTION


def kl_penalized_rewards(scores: Float[Tensor, " batch"], logprobs: Float[Tensor, "batch seq"],
                         ref_logprobs: Float[Tensor, "batch seq"], mask: Bool[Tensor, "batch seq"],
                         kl_coef: float) -> Float[Tensor, "batch seq"]:
    """Per-token rewards: -kl_coef * k1 on each response token, plus the score on the last one.

    Args:
        scores: (batch,) reward-model score of each whole response.
        logprobs, ref_logprobs: (batch, seq) policy / reference log-probabilities of the tokens.
        mask: bool (batch, seq), True on response tokens; each row needs at least one.
        kl_coef: beta >= 0, the KL penalty's weight.

    Returns:
        (batch, seq) rewards in logprobs' dtype, 0 outside the response. Row b sums to
        scores[b] - kl_coef * sum of k1 = logprobs - ref_logprobs over its response tokens.

    Raises:
        ValueError: a row with no response token (the message names the row).
    """
    # BEGIN SOLUTION
    mask = mask.bool()
    empty = ~mask.any(dim=-1)
    if bool(empty.any()):
        raise ValueError(f"mask row {int(empty.nonzero()[0])} has no response token: nowhere to "
                         "put its score")
    kl = logprobs - ref_logprobs  # k1, (batch, seq)
    rewards = torch.where(mask, -kl_coef * kl, torch.zeros_like(kl))
    seq = mask.shape[-1]
    last = seq - 1 - mask.flip(-1).long().argmax(dim=-1)  # (batch,) last response position
    return rewards.scatter_add(-1, last[:, None], scores[:, None].to(rewards.dtype))
    # END SOLUTION


def policy_loss(logprobs: Float[Tensor, "batch seq"], old_logprobs: Float[Tensor, "batch seq"],
                advantages: Float[Tensor, "batch seq"], mask: Bool[Tensor, "batch seq"],
                clip_range: float = 0.2) -> tuple[Float[Tensor, ""], dict[str, Tensor]]:
    """PPO's clipped surrogate (Schulman et al. 2017, Eq. 7), as a loss to minimise.

    ratio = exp(logprobs - old_logprobs); loss = masked_mean(max(-A * ratio,
    -A * clip(ratio, 1 - clip_range, 1 + clip_range))).

    Args:
        logprobs: (batch, seq) log-probabilities under the current policy (gradient flows here).
        old_logprobs: (batch, seq) log-probabilities under the policy that sampled the tokens.
        advantages: (batch, seq) advantage estimates A.
        mask: bool (batch, seq), True on response tokens.
        clip_range: epsilon > 0.

    Returns:
        (loss, stats): loss a 0-dim tensor; stats {"clip_fraction", "approx_kl"}, detached 0-dim
        tensors: the masked fraction of tokens where the clipped term is strictly larger, and
        masked_mean((ratio - 1) - log ratio), a k3 estimate of KL(pi_old || pi).
    """
    # BEGIN SOLUTION
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    loss = masked_mean(torch.max(unclipped, clipped), mask)
    with torch.no_grad():
        clip_fraction = masked_mean((clipped > unclipped).to(ratio.dtype), mask)
        kl = masked_mean(torch.expm1(log_ratio) - log_ratio, mask)
    return loss, {"clip_fraction": clip_fraction, "approx_kl": kl}
    # END SOLUTION


def value_loss(values: Float[Tensor, "batch seq"], old_values: Float[Tensor, "batch seq"],
               returns: Float[Tensor, "batch seq"], mask: Bool[Tensor, "batch seq"],
               clip_range: float = 0.2) -> Float[Tensor, ""]:
    """Clipped value loss: 1/2 * masked_mean(max((V - R)^2, (V_clip - R)^2)).

    V_clip = old_values + clip(values - old_values, -clip_range, clip_range): the new value may
    move at most clip_range away from the rollout's value before the loss stops rewarding it.

    Args:
        values: (batch, seq) current value predictions V (gradient flows here).
        old_values: (batch, seq) value predictions at rollout time.
        returns: (batch, seq) regression targets R (e.g. advantages + old_values).
        mask: bool (batch, seq), True on response tokens.
        clip_range: > 0, in the units of the values.

    Returns:
        0-dim loss in values' dtype.
    """
    # BEGIN SOLUTION
    values_clipped = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    unclipped = (values - returns) ** 2
    clipped = (values_clipped - returns) ** 2
    return 0.5 * masked_mean(torch.max(unclipped, clipped), mask)
    # END SOLUTION


def ppo_loss(logprobs: Float[Tensor, "batch seq"], old_logprobs: Float[Tensor, "batch seq"],
             advantages: Float[Tensor, "batch seq"], values: Float[Tensor, "batch seq"],
             old_values: Float[Tensor, "batch seq"], returns: Float[Tensor, "batch seq"],
             mask: Bool[Tensor, "batch seq"],
             ref_logprobs: Float[Tensor, "batch seq"] | None = None,
             *, clip_range: float = 0.2, clip_range_value: float = 0.2, vf_coef: float = 0.1,
             kl_coef: float = 0.0) -> tuple[Float[Tensor, ""], dict[str, Tensor]]:
    """policy_loss + vf_coef * value_loss (+ kl_coef * masked_mean(k3) when the KL is in the loss).

    KL in the reward: build rewards with `kl_penalized_rewards`, leave kl_coef=0 here.
    KL in the loss (GRPO style): pass ref_logprobs and kl_coef > 0; the term is
    kl_coef * masked_mean(approx_kl(logprobs, ref_logprobs, "k3"), mask).

    Args:
        logprobs, old_logprobs, advantages, mask, clip_range: as in `policy_loss`.
        values, old_values, returns: as in `value_loss`; clip_range_value is its clip_range.
        ref_logprobs: (batch, seq) reference-model log-probabilities, or None.
        vf_coef: weight of the value loss (TRL's default 0.1).
        kl_coef: weight of the KL term in the loss, >= 0.

    Returns:
        (loss, stats): loss a 0-dim tensor in the inputs' dtype; stats holds detached 0-dim
        tensors "policy_loss", "value_loss", "clip_fraction", "approx_kl", and "kl" (the masked
        mean k3) when ref_logprobs is given.

    Raises:
        ValueError: kl_coef != 0 without ref_logprobs.
    """
    # BEGIN SOLUTION
    if kl_coef != 0 and ref_logprobs is None:
        raise ValueError(f"kl_coef={kl_coef} puts the KL in the loss: pass ref_logprobs too")
    pg_loss, stats = policy_loss(logprobs, old_logprobs, advantages, mask, clip_range)
    vf_loss = value_loss(values, old_values, returns, mask, clip_range_value)
    loss = pg_loss + vf_coef * vf_loss
    stats = {**stats, "policy_loss": pg_loss.detach(), "value_loss": vf_loss.detach()}
    if ref_logprobs is not None:
        kl = masked_mean(approx_kl(logprobs, ref_logprobs, "k3"), mask)
        loss = loss + kl_coef * kl
        stats["kl"] = kl.detach()
    return loss, stats
    # END SOLUTION
