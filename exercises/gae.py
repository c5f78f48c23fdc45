"""Generalised advantage estimation over response tokens, returns, and masked whitening.

Task:
    Write `gae`, which turns per-token rewards (e.g. `ppo_loss.kl_penalized_rewards`: a KL
    penalty on every response token, the score on the last) and the critic's values into
    advantages and returns by the backward recursion of Schulman et al., and `masked_whiten`,
    which normalises advantages to mean 0 and variance 1 over response tokens only.

Rules:
    Plain torch; no trl, openrlhf or RL libraries. A Python loop over positions is expected.

Shapes:
    batch (sequences), seq (token positions: prompt + response + padding). `mask` is bool
    (batch, seq), True on the response tokens: one contiguous run per row.

Reference:
    Schulman et al. 2016, "High-Dimensional Continuous Control Using Generalized Advantage
    Estimation", Eq. 11-16: δ_t = r_t + γ V(s_{t+1}) - V(s_t), A_t = δ_t + γλ A_{t+1}. The
    token-level recursion with rewards and values masked to the response (the value after the
    last response token is 0) follows OpenRLHF's `get_advantages_and_returns` (trlx and
    DeepSpeed-Chat use the same loop). Whitening follows TRL's `masked_whiten` (trl 0.19:
    unbiased masked variance, (x - mean) · rsqrt(var + 1e-8)).

Notable choices:
    - The response is the whole episode: the last response token is terminal, so its next
      value is 0 (no bootstrap). Rewards and values outside the mask are ignored.
    - returns = advantages + values, computed before any whitening (they are the critic's
      targets); advantages and returns are 0 outside the mask.
    - The whitening variance is unbiased (divides by n - 1, TRL's masked_var), over response
      tokens only; padding and prompt positions never enter the statistics.

Grade: nox -s gae
"""

import torch
from jaxtyping import Bool, Float
from torch import Tensor


def gae(rewards: Float[Tensor, "batch seq"], values: Float[Tensor, "batch seq"],
        mask: Bool[Tensor, "batch seq"], gamma: float = 1.0,
        lam: float = 0.95) -> tuple[Float[Tensor, "batch seq"], Float[Tensor, "batch seq"]]:
    """Advantages A_t = Σ_k (γλ)^k δ_{t+k} and returns A_t + V_t over each row's response.

    Args:
        rewards: (batch, seq) per-token rewards r_t; only response positions count.
        values: (batch, seq) the critic's V(s_t) at each position; only response positions
            count, and the value after the last response token is taken as 0.
        mask: bool (batch, seq), True on response tokens (one contiguous run per row).
        gamma: discount γ in [0, 1].
        lam: GAE's λ in [0, 1] (0: one-step TD, 1: Monte-Carlo return minus V).

    Returns:
        (advantages, returns), each (batch, seq) in rewards' dtype, 0 outside the mask.

    Raises:
        ValueError: gamma or lam outside [0, 1] (the message names it).
    """
    # TODO: implement this (about 18 lines in the reference).
    raise NotImplementedError(
        "gae: not written yet. Stuck? nox -s hint -- gae"
    )


def masked_whiten(values: Float[Tensor, "batch seq"], mask: Bool[Tensor, "batch seq"],
                  shift_mean: bool = True) -> Float[Tensor, "batch seq"]:
    """(values - mean) / sqrt(var + 1e-8), with mean and var over the masked positions only.

    Args:
        values: (batch, seq) e.g. advantages.
        mask: bool (batch, seq), True where values count; at least 2 True positions.
        shift_mean: False adds the mean back (only the scale changes), as TRL does for rewards.

    Returns:
        (batch, seq) in values' dtype; masked positions (mask True) have mean 0 (shift_mean)
        and unbiased variance var / (var + 1e-8) ≈ 1; positions outside the mask are 0.

    Raises:
        ValueError: fewer than 2 True positions in mask (no unbiased variance).
    """
    # TODO: implement this (about 11 lines in the reference).
    raise NotImplementedError(
        "masked_whiten: not written yet. Stuck? nox -s hint -- gae"
    )
