"""Direct preference optimisation: sequence log-probabilities, DPO, cDPO, IPO and SimPO.

Task:
    Write `sequence_logprobs`, which turns a causal LM's logits into the log-probability of each
    response (labels shifted by one, prompt and padding ignored, summed over the response), then
    `dpo_loss`: the DPO loss per preference pair with its implicit rewards, reward accuracy and
    margin, with conservative DPO (label smoothing) and IPO as variants. Last, `simpo_loss`:
    SimPO's reference-free loss on length-normalised log-probabilities with a target margin.

Rules:
    Plain torch; no trl or openrlhf, and no F.cross_entropy / F.nll_loss (their ignore_index
    would do the masking for you). log_softmax, gather and F.logsigmoid are fine.

Shapes:
    batch (preference pairs: row i of every chosen/rejected tensor is the same prompt), seq
    (prompt + response + padding), vocab.

Reference:
    Rafailov et al. 2023, "Direct Preference Optimization", Eq. 7 (loss) and §5 (implicit reward
    β log π/π_ref); Mitchell 2023, "A note on DPO with noisy preferences" (conservative DPO,
    label smoothing ε); Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning
    from Human Preferences", Eq. 17 (IPO); Meng et al. 2024, "SimPO", Eq. 6. Names, rewards
    and statistics follow TRL's DPOTrainer (trl 1.16, loss_type "sigmoid" and "ipo"); the
    label-smoothed loss and SimPO follow TRL's CPOTrainer.cpo_loss ("sigmoid", "simpo").

Notable choices:
    - `sequence_logprobs` sums over response tokens (DPO); `average=True` divides by their
      count, for SimPO, and for IPO (TRL length-normalises IPO's log-ratios the same way).
    - label_smoothing > 0 gives conservative DPO, as OpenRLHF's DPOLoss and TRL before 1.0
      (TRL 1.x keeps "sigmoid" plain and offers the debiased "robust" variant instead).
    - Labels use -100 for tokens that are not scored (Hugging Face's ignore index); logits at
      position t predict the label at t + 1, so the first label is never scored.
    - log_softmax runs in float32 for half-precision logits (float64 stays float64); the result
      is in that dtype.
    - The reference log-probabilities are constants: no gradient reaches them even when they
      require grad. Rewards and statistics are detached, and the reward accuracy counts strict
      wins (a tie is not a win), as TRL's `rewards/accuracies`.

Grade: nox -s dpo_loss
"""

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

IGNORE_INDEX = -100


def sequence_logprobs(logits: Float[Tensor, "batch seq vocab"], labels: Int[Tensor, "batch seq"],
                      average: bool = False) -> Float[Tensor, " batch"]:
    """log π(response | prompt) per row: the log-probabilities of the scored tokens, summed.

    Args:
        logits: (batch, seq, vocab) from a causal LM; logits[:, t] predicts the token at t + 1.
        labels: (batch, seq) int64 token ids aligned with the input, IGNORE_INDEX (-100) where a
            token is not scored (prompt, padding).
        average: divide each row's sum by its number of scored tokens (SimPO, IPO).

    Returns:
        (batch,) in float32 for float16/bfloat16/float32 logits, float64 for float64.

    Raises:
        ValueError: labels' shape is not logits' first two axes, or a row has no scored token
            after the shift (the message names the row).
    """
    # BEGIN SOLUTION
    if labels.shape != logits.shape[:2]:
        raise ValueError(f"labels has shape {list(labels.shape)}; expected logits' (batch, seq) "
                         f"= {list(logits.shape[:2])}")
    logits = logits[:, :-1].to(torch.promote_types(logits.dtype, torch.float32))
    labels = labels[:, 1:]  # position t predicts token t + 1
    mask = labels != IGNORE_INDEX
    empty = ~mask.any(dim=-1)
    if bool(empty.any()):
        raise ValueError(f"row {int(empty.nonzero()[0])} has no scored token (labels other than "
                         f"{IGNORE_INDEX} after the first position): nothing to score")
    safe_labels = torch.where(mask, labels, 0)  # -100 is not a valid index for gather
    # (batch, seq - 1, vocab) -> (batch, seq - 1)
    token_logps = logits.log_softmax(dim=-1).gather(-1, safe_labels[..., None]).squeeze(-1)
    total = torch.where(mask, token_logps, 0.0).sum(dim=-1)
    return total / mask.sum(dim=-1) if average else total
    # END SOLUTION


def dpo_loss(policy_chosen_logps: Float[Tensor, " batch"],
             policy_rejected_logps: Float[Tensor, " batch"],
             ref_chosen_logps: Float[Tensor, " batch"], ref_rejected_logps: Float[Tensor, " batch"],
             beta: float = 0.1, label_smoothing: float = 0.0,
             loss_type: str = "sigmoid") -> tuple[Float[Tensor, " batch"], dict[str, Tensor]]:
    """The DPO loss of each preference pair, and the implicit rewards.

    With h = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected):
      "sigmoid": -(1 - ε) log σ(β h) - ε log σ(-β h)   (ε = label_smoothing; 0 is plain DPO)
      "ipo":     (h - 1 / (2 β))²
    Implicit rewards: β (policy - ref) of the chosen and of the rejected response.

    Args:
        policy_chosen_logps, policy_rejected_logps: (batch,) log π of each response under the
            policy being trained (from `sequence_logprobs`; gradient flows here).
        ref_chosen_logps, ref_rejected_logps: (batch,) the same under the frozen reference
            model; treated as constants.
        beta: β > 0, the strength of the implicit KL constraint.
        label_smoothing: ε in [0, 0.5], the assumed probability that a label is flipped.
        loss_type: "sigmoid" or "ipo".

    Returns:
        (losses, stats): losses (batch,) in the inputs' dtype (train on losses.mean()); stats
        holds detached tensors "chosen_rewards" and "rejected_rewards" (batch,),
        "reward_accuracy" (0-dim, the fraction of pairs whose chosen reward is strictly larger)
        and "reward_margin" (0-dim, the mean of chosen_rewards - rejected_rewards).

    Raises:
        ValueError: beta <= 0, label_smoothing outside [0, 0.5], or an unknown loss_type.
    """
    # BEGIN SOLUTION
    if beta <= 0:
        raise ValueError(f"beta={beta}: use beta > 0")
    if not 0.0 <= label_smoothing <= 0.5:
        raise ValueError(f"label_smoothing={label_smoothing}: use a value in [0, 0.5]")
    if loss_type not in ("sigmoid", "ipo"):
        raise ValueError(f"loss_type={loss_type!r}: use 'sigmoid' or 'ipo'")
    chosen_logratios = policy_chosen_logps - ref_chosen_logps.detach()
    rejected_logratios = policy_rejected_logps - ref_rejected_logps.detach()
    logits = chosen_logratios - rejected_logratios  # h
    if loss_type == "sigmoid":
        losses = (-(1 - label_smoothing) * F.logsigmoid(beta * logits)
                  - label_smoothing * F.logsigmoid(-beta * logits))
    else:
        losses = (logits - 1 / (2 * beta)) ** 2
    chosen_rewards = beta * chosen_logratios.detach()
    rejected_rewards = beta * rejected_logratios.detach()
    stats = {
        "chosen_rewards": chosen_rewards,
        "rejected_rewards": rejected_rewards,
        "reward_accuracy": (chosen_rewards > rejected_rewards).to(chosen_rewards.dtype).mean(),
        "reward_margin": (chosen_rewards - rejected_rewards).mean(),
    }
    return losses, stats
    # END SOLUTION


def simpo_loss(chosen_logps: Float[Tensor, " batch"], rejected_logps: Float[Tensor, " batch"],
               beta: float = 2.0, gamma: float = 1.0) -> Float[Tensor, " batch"]:
    """SimPO: -log σ(β · chosen_logps - β · rejected_logps - γ), with no reference model.

    Args:
        chosen_logps, rejected_logps: (batch,) length-normalised log-probabilities of each
            response under the policy (`sequence_logprobs(..., average=True)`).
        beta: β > 0, the reward scale.
        gamma: γ >= 0, the target reward margin (TRL's `simpo_gamma`).

    Returns:
        (batch,) losses in the inputs' dtype.

    Raises:
        ValueError: beta <= 0.
    """
    # BEGIN SOLUTION
    if beta <= 0:
        raise ValueError(f"beta={beta}: use beta > 0")
    return -F.logsigmoid(beta * (chosen_logps - rejected_logps) - gamma)
    # END SOLUTION
