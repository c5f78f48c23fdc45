"""Reward model losses: the reward at the last real token, Bradley-Terry pairs, K-way ranking.

Task:
    A reward model is a language model with a scalar head: one score per position, of which the
    one at the last real token of the sequence is the reward. Write `last_token_rewards`, which
    reads it for left- or right-padded batches, `pairwise_loss`, the Bradley-Terry loss
    -log σ(r_chosen - r_rejected - margin) (with TRL's optional reward-centring term),
    `ranking_loss`, InstructGPT's loss over all K·(K-1)/2 pairs of K ranked responses, and
    `reward_accuracy`.

Rules:
    Plain torch; no trl or openrlhf. F.logsigmoid is fine (its stability is part of the point).

Shapes:
    batch (prompts or pairs), seq (token positions), group (K ranked responses per prompt).

Reference:
    Bradley & Terry 1952; Ouyang et al. 2022 (InstructGPT), §3.5 and Eq. 1 (ranking loss over
    all C(K, 2) pairs, best first). Margin: Touvron et al. 2023 (Llama 2), Eq. 2. Reward
    centring: Eisenstein et al. 2023, as TRL's `center_rewards_coefficient`. The loss and
    accuracy follow TRL's RewardTrainer.compute_loss (trl 1.16); the read-out position follows
    transformers' sequence-classification heads (`last_non_pad_token`, transformers 5.24).

Notable choices:
    - The reward is read at the last position whose attention_mask is 1, which works for left
      and right padding alike (transformers finds it from pad_token_id; a mask also works when
      the pad token equals the end-of-sequence token).
    - Losses are means over pairs (and over the batch); accuracy counts strict wins only.

Grade: nox -s reward_model
"""

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor


def last_token_rewards(values: Float[Tensor, "batch seq"],
                       attention_mask: Int[Tensor, "batch seq"]) -> Float[Tensor, " batch"]:
    """The score at the last real (attention_mask == 1) position of each row.

    Args:
        values: (batch, seq) the scalar head's output at every position.
        attention_mask: (batch, seq) 1 (or True) on real tokens, 0 on padding, left or right
            (or both: the last position holding a 1 is the one read).

    Returns:
        (batch,) rewards in values' dtype.

    Raises:
        ValueError: a row with no real token (the message names the row).
    """
    # TODO: implement this (about 7 lines in the reference).
    raise NotImplementedError(
        "last_token_rewards: not written yet. Stuck? nox -s hint -- reward_model"
    )


def pairwise_loss(chosen_rewards: Float[Tensor, " batch"],
                  rejected_rewards: Float[Tensor, " batch"],
                  margin: Float[Tensor, " batch"] | None = None,
                  center_rewards_coefficient: float | None = None) -> Float[Tensor, ""]:
    """Bradley-Terry loss: mean of -log σ(chosen - rejected - margin).

    Args:
        chosen_rewards, rejected_rewards: (batch,) rewards of the preferred / other response.
        margin: optional (batch,) how much better the chosen one was rated (Llama 2); the
            loss keeps pushing until chosen - rejected exceeds it.
        center_rewards_coefficient: optional weight of mean((chosen + rejected)²), which keeps
            rewards centred on 0.

    Returns:
        0-dim loss in the rewards' dtype. Stable for any reward difference (no inf or NaN).
    """
    # TODO: implement this (about 7 lines in the reference).
    raise NotImplementedError(
        "pairwise_loss: not written yet. Stuck? nox -s hint -- reward_model"
    )


def ranking_loss(rewards: Float[Tensor, "batch group"]) -> Float[Tensor, ""]:
    """InstructGPT's ranking loss over K responses per prompt, ranked best first.

    rewards[:, i] is better than rewards[:, j] whenever i < j; the loss is the mean of
    -log σ(r_i - r_j) over all K·(K-1)/2 such pairs and over the batch.

    Args:
        rewards: (batch, K) rewards, column 0 the best response, K >= 2.

    Returns:
        0-dim loss in rewards' dtype.

    Raises:
        ValueError: K < 2.
    """
    # TODO: implement this (about 6 lines in the reference).
    raise NotImplementedError(
        "ranking_loss: not written yet. Stuck? nox -s hint -- reward_model"
    )


def reward_accuracy(chosen_rewards: Float[Tensor, " batch"],
                    rejected_rewards: Float[Tensor, " batch"]) -> Float[Tensor, ""]:
    """Fraction of pairs where the chosen reward is strictly larger (a tie is not a win).

    Returns:
        0-dim tensor in the rewards' dtype.
    """
    # TODO: implement this (about 1 line in the reference).
    raise NotImplementedError(
        "reward_accuracy: not written yet. Stuck? nox -s hint -- reward_model"
    )
