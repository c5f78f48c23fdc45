"""Knowledge distillation: temperature-softened KL (forward and reverse), Hinton's loss, tokens.

Task:
    Write `token_kl`, the KL divergence between a teacher's and a student's next-token
    distributions softened by a temperature, in either direction (forward KL(teacher || student)
    as in classic distillation, or reverse KL(student || teacher) as in on-policy LLM
    distillation); `hinton_loss`, the soft-target loss times T² mixed with the cross-entropy on
    hard labels; and `sequence_distillation_loss`, the per-token KL averaged over the distilled
    positions of a batch of sequences.

Rules:
    Plain torch; no trl or distillation libraries. F.log_softmax, F.kl_div and F.cross_entropy
    are allowed (mind F.kl_div's argument order).

Shapes:
    batch, seq, vocab; "..." any leading axes (batch) or (batch, seq).

Reference:
    Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network", §2 (softmax at
    temperature T; the soft targets' gradients scale as 1/T², so multiply by T²; a weighted
    average with the hard-label cross-entropy). Forward vs reverse KL for LLMs: Gu et al. 2024
    (MiniLLM); Agarwal et al. 2024 (GKD). Per-token KL and its masked mean follow TRL's
    `GKDTrainer.generalized_jsd_loss` (trl 1.16: beta=0 is the forward KL, beta=1 the reverse,
    "batchmean" divides by the number of distilled tokens).

Notable choices:
    - hinton_loss = alpha · CE(student at T = 1, labels) + (1 - alpha) · T² · KL_T(teacher ||
      student), averaged over the batch. Conventions differ on which term alpha weighs; here it
      weighs the hard labels.
    - `token_kl` and `sequence_distillation_loss` have no T² factor (as TRL's GKD): it belongs
      with the hard-label mix of `hinton_loss`.
    - The teacher is a constant: no gradient flows into teacher_logits.
    - log-softmax runs in float32 for half-precision logits (float64 stays float64); results
      are in that dtype.

Grade: nox -s distillation
"""

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor


def token_kl(student_logits: Float[Tensor, "... vocab"], teacher_logits: Float[Tensor, "... vocab"],
             temperature: float = 1.0, direction: str = "forward") -> Float[Tensor, "..."]:
    """KL divergence between softmax(teacher / T) and softmax(student / T) at each position.

    forward: KL(p_teacher || p_student) = Σ p_t (log p_t - log p_s)   (mean-seeking)
    reverse: KL(p_student || p_teacher) = Σ p_s (log p_s - log p_t)   (mode-seeking)

    Args:
        student_logits, teacher_logits: (..., vocab) logits of the same positions.
        temperature: T > 0, dividing both sides' logits.
        direction: "forward" or "reverse".

    Returns:
        (...) per-position KL >= 0, in float32 for half inputs (else the logits' dtype).

    Raises:
        ValueError: temperature <= 0 or an unknown direction (the message names it).
    """
    # BEGIN SOLUTION
    if temperature <= 0:
        raise ValueError(f"temperature={temperature}: use a temperature > 0")
    if direction not in ("forward", "reverse"):
        raise ValueError(f"direction={direction!r}: use 'forward' or 'reverse'")
    compute = torch.promote_types(student_logits.dtype, torch.float32)
    student_logps = F.log_softmax(student_logits.to(compute) / temperature, dim=-1)
    teacher_logps = F.log_softmax(teacher_logits.detach().to(compute) / temperature, dim=-1)
    # F.kl_div(input, target) = Σ target · (log target - input): input is the log-probs of the
    # distribution in the SECOND slot of KL(target || input)
    if direction == "forward":
        kl = F.kl_div(student_logps, teacher_logps, reduction="none", log_target=True)
    else:
        kl = F.kl_div(teacher_logps, student_logps, reduction="none", log_target=True)
    return kl.sum(dim=-1)
    # END SOLUTION


def hinton_loss(student_logits: Float[Tensor, "batch vocab"],
                teacher_logits: Float[Tensor, "batch vocab"], labels: Int[Tensor, " batch"],
                temperature: float = 2.0, alpha: float = 0.5) -> Float[Tensor, ""]:
    """alpha · CE(student, labels) + (1 - alpha) · T² · KL_T(teacher || student), batch means.

    Args:
        student_logits, teacher_logits: (batch, vocab).
        labels: (batch,) int64 hard labels (class ids).
        temperature: T > 0 for the soft term (the cross-entropy uses T = 1).
        alpha: weight of the hard-label term, in [0, 1].

    Returns:
        0-dim loss, in float32 for half inputs (else the logits' dtype).

    Raises:
        ValueError: temperature <= 0, or alpha outside [0, 1].
    """
    # BEGIN SOLUTION
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha={alpha}: use a weight in [0, 1]")
    soft = token_kl(student_logits, teacher_logits, temperature, "forward").mean()
    compute = torch.promote_types(student_logits.dtype, torch.float32)
    hard = F.cross_entropy(student_logits.to(compute), labels)
    return alpha * hard + (1 - alpha) * temperature**2 * soft
    # END SOLUTION


def sequence_distillation_loss(student_logits: Float[Tensor, "batch seq vocab"],
                               teacher_logits: Float[Tensor, "batch seq vocab"],
                               mask: Bool[Tensor, "batch seq"], temperature: float = 1.0,
                               direction: str = "forward") -> Float[Tensor, ""]:
    """token_kl averaged over the positions where mask is True (all sequences together).

    Args:
        student_logits, teacher_logits: (batch, seq, vocab), already aligned (position t of
            both predicts the same next token).
        mask: bool (batch, seq), True at the positions to distil (e.g. response tokens).
        temperature, direction: as in `token_kl`.

    Returns:
        0-dim loss: sum of token_kl over masked positions / their number.

    Raises:
        ValueError: mask has no True position, or a bad temperature/direction.
    """
    # BEGIN SOLUTION
    mask = mask.bool()
    if not bool(mask.any()):
        raise ValueError("mask has no True position: no token to distil")
    kl = token_kl(student_logits, teacher_logits, temperature, direction)  # (batch, seq)
    return torch.where(mask, kl, 0.0).sum() / mask.sum()
    # END SOLUTION
