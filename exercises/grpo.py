"""GRPO: group-normalised advantages and the clipped token loss with a KL term, three ways.

Task:
    Write `group_advantages`, which turns the rewards of G sampled responses per prompt into
    advantages by comparing each response with its own group ((r - mean) / (std + eps), or just
    r - mean as in Dr. GRPO), and `grpo_loss`: PPO's clipped surrogate per token with the
    advantage of the sequence on every token, the k3 KL to the reference model added to the
    loss, asymmetric clipping (DAPO's clip-higher) and the three ways of averaging used in
    practice: "grpo", "dapo" and "dr_grpo".

Rules:
    Plain torch; no trl, openrlhf or verl.

Shapes:
    batch (responses, G consecutive rows per prompt), seq (response token positions, padding
    after the end), group (G, group_size).

Reference:
    Shao et al. 2024, "DeepSeekMath", §4.1, Eq. 3 (GRPO objective: per-sequence mean of the
    clipped term minus β·KL, KL estimated with k3, Eq. 4; advantages (r - mean) / std within
    the group). Yu et al. 2025, "DAPO" (token-level mean, clip-higher: ε_low = 0.2,
    ε_high = 0.28). Liu et al. 2025, "Understanding R1-Zero-Like Training" (Dr. GRPO: no std
    division, sum over tokens divided by a constant). Conventions follow TRL's GRPOTrainer
    (trl 1.16: `scale_rewards`, eps 1e-4, loss_type "grpo" / "dapo" / "dr_grpo").

Notable choices:
    - The group std is the unbiased one (divides by G - 1), as TRL's `nanstd`; eps = 1e-4 is
      added to the std, outside the square root. A group whose rewards are all equal gets zero
      advantages (no signal), not NaN.
    - The KL term is k3 = exp(ref - logprobs) - (ref - logprobs) - 1 per token, added to the
      per-token loss before averaging; its gradient flows (KL in the loss, not in the reward).
    - "dapo" is one mean over every response token of the batch. TRL divides by the tokens of
      the whole generation batch across devices and accumulation steps; in one call on one
      device that is the same thing.
    - "dr_grpo" divides the token sum by batch · max_completion_length (default: seq).
    - stats["clip_ratio"] counts tokens where the clip is active (ratio < 1 - ε_low with A < 0,
      or > 1 + ε_high with A > 0), as TRL's clip_ratio/region_mean.

Grade: nox -s grpo
"""

import torch
from jaxtyping import Bool, Float
from torch import Tensor


def group_advantages(rewards: Float[Tensor, " batch"], group_size: int,
                     scale_rewards: bool = True, eps: float = 1e-4) -> Float[Tensor, " batch"]:
    """Advantages from rewards, normalised within each group of `group_size` responses.

    Rows b * G .. b * G + G - 1 answer the same prompt. A = r - mean(group), divided by
    std(group) + eps when scale_rewards (the std is unbiased: it divides by G - 1).

    Args:
        rewards: (batch,) one scalar reward per response; batch = prompts · group_size.
        group_size: G >= 2, the responses sampled per prompt.
        scale_rewards: divide by the group's std (GRPO); False leaves r - mean (Dr. GRPO).
        eps: added to the std.

    Returns:
        (batch,) advantages in rewards' dtype.

    Raises:
        ValueError: group_size < 2, or batch not a multiple of group_size (the message names
            both).
    """
    # TODO: implement this (about 10 lines in the reference).
    raise NotImplementedError(
        "group_advantages: not written yet. Stuck? nox -s hint -- grpo"
    )


def grpo_loss(logprobs: Float[Tensor, "batch seq"], old_logprobs: Float[Tensor, "batch seq"],
              ref_logprobs: Float[Tensor, "batch seq"] | None, advantages: Float[Tensor, " batch"],
              mask: Bool[Tensor, "batch seq"], beta: float = 0.04, epsilon_low: float = 0.2,
              epsilon_high: float | None = None, loss_type: str = "grpo",
              max_completion_length: int | None = None) -> tuple[Float[Tensor, ""],
                                                                 dict[str, Tensor]]:
    """The GRPO loss: clipped surrogate per token + beta · k3 KL, averaged per `loss_type`.

    ratio = exp(logprobs - old_logprobs); per token
      loss_t = -min(ratio · A, clip(ratio, 1 - ε_low, 1 + ε_high) · A) + beta · k3_t
    with A the sequence's advantage on each of its tokens. Then, over response tokens only:
      "grpo":    mean over each sequence's tokens, then mean over sequences;
      "dapo":    one mean over all tokens of the batch;
      "dr_grpo": sum over all tokens / (batch · max_completion_length).

    Args:
        logprobs: (batch, seq) log π of the sampled response tokens (gradient flows here).
        old_logprobs: (batch, seq) log π_old at sampling time.
        ref_logprobs: (batch, seq) log π_ref under the frozen reference model; may be None
            when beta == 0.
        advantages: (batch,) one advantage per response (from `group_advantages`).
        mask: bool (batch, seq), True on response tokens; each row needs at least one.
        beta: weight of the KL term, >= 0.
        epsilon_low: the lower clip range ε_low > 0.
        epsilon_high: the upper clip range (None: epsilon_low, the symmetric clip).
        loss_type: "grpo", "dapo" or "dr_grpo".
        max_completion_length: the constant of "dr_grpo" (None: seq).

    Returns:
        (loss, stats): loss a 0-dim tensor in logprobs' dtype; stats holds detached 0-dim
        tensors "kl" (the token mean of k3 whenever ref_logprobs is given, beta == 0 included,
        as a diagnostic; 0 without ref_logprobs) and "clip_ratio" (the fraction of response
        tokens where the clip is active).

    Raises:
        ValueError: an unknown loss_type, or beta != 0 without ref_logprobs.
    """
    # TODO: implement this (about 31 lines in the reference).
    raise NotImplementedError(
        "grpo_loss: not written yet. Stuck? nox -s hint -- grpo"
    )
