"""Instruction-tuning data: chat rendering with assistant-only labels, packing, the token loss.

Task:
    Write `render_chat`, which renders a multi-turn conversation with the given ChatML template
    into `input_ids` and `labels` where only the assistant's replies (and the end token that
    closes each) are trained; `pack`, which packs several examples into fixed-length rows with
    position ids restarting per example and a block-diagonal causal attention mask; and
    `sft_loss`, the summed token cross-entropy divided by the number of trained tokens of the
    whole optimizer step, so that gradient accumulation gives the same loss as one big batch.

Rules:
    Plain torch and Python; no transformers (apply_chat_template, data collators) or trl, and
    no F.cross_entropy / F.nll_loss (their ignore_index would do the masking for you).

Shapes:
    seq (tokens of one example), rows (packed rows), max_length, batch, vocab.

Reference:
    Template: ChatML ("<|im_start|>{role}\\n{content}<|im_end|>\\n", as Qwen's chat template).
    Assistant-only labels: TRL's SFTTrainer `assistant_only_loss` (the `{% generation %}` block
    covers the reply and its <|im_end|>); -100 is Hugging Face's ignore index and labels stay
    aligned with input_ids (the model shifts them). Packing with restarting position ids:
    TRL's `pack_dataset` / transformers' `DataCollatorWithFlattening` (padding-free); the
    block-diagonal mask is what FlashAttention's varlen kernels compute from those boundaries.
    Loss normalisation: transformers' `num_items_in_batch` (the gradient-accumulation fix,
    transformers 4.46).

Notable choices:
    - Trained: each assistant content token and the <|im_end|> after it. Not trained: the
      <|im_start|>assistant\\n header, the "\\n" after <|im_end|>, every system/user token.
    - Packing is next-fit in the given order: an example that does not fit in the current row
      starts a new one; nothing is split or reordered.
    - The first label of every packed example becomes -100 (transformers'
      DataCollatorWithFlattening does the same with its separator_id): otherwise the last token
      of one example would be trained to predict the first token of the next.
    - Padding: PAD_ID, label -100, position id 0, and it attends only to itself (so no softmax
      row is empty).

Grade: nox -s sft_data
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor

IGNORE_INDEX = -100
IM_START_ID, IM_END_ID, PAD_ID = 256, 257, 258  # token ids 0..255 are bytes
VOCAB_SIZE = 259
ROLES = ("system", "user", "assistant")


def encode(text: str) -> list[int]:
    """The toy tokenizer: one token per UTF-8 byte."""
    return list(text.encode("utf-8"))


def render_chat(messages: list[dict[str, str]]) -> tuple[Int[Tensor, " seq"], Int[Tensor, " seq"]]:
    """Render messages as ChatML; labels train only the assistant replies and their end token.

    Each message becomes [IM_START_ID] + encode(role + "\\n") + encode(content) + [IM_END_ID]
    + encode("\\n"). labels[i] = input_ids[i] on assistant content tokens and on the
    IM_END_ID that closes an assistant message, IGNORE_INDEX everywhere else. No shift: the
    model shifts labels when it computes the loss.

    Args:
        messages: [{"role": "system" | "user" | "assistant", "content": str}, ...].

    Returns:
        (input_ids, labels), int64 tensors of the same length.

    Raises:
        ValueError: an unknown role (the message names it and its index).
    """
    # TODO: implement this (about 14 lines in the reference).
    raise NotImplementedError(
        "render_chat: not written yet. Stuck? nox -s hint -- sft_data"
    )


def pack(examples: list[tuple[Int[Tensor, " seq"], Int[Tensor, " seq"]]],
         max_length: int) -> dict[str, Tensor]:
    """Pack (input_ids, labels) examples into rows of max_length tokens, next-fit in order.

    Args:
        examples: (input_ids, labels) pairs, e.g. from `render_chat`.
        max_length: tokens per row.

    Returns:
        {"input_ids": (rows, max_length) int64, PAD_ID on padding;
         "labels": (rows, max_length) int64, IGNORE_INDEX on padding and on the first
             token of every example (so no loss term predicts across a boundary; unpacked,
             the first label is never scored anyway);
         "position_ids": (rows, max_length) int64, 0, 1, 2, ... restarting at every example,
             0 on padding;
         "attention_mask": (rows, max_length, max_length) bool, True where query q may attend
             to key k: same example and k <= q (padding: only k == q)}.

    Raises:
        ValueError: an example longer than max_length (the message names its index).
    """
    # TODO: implement this (about 34 lines in the reference).
    raise NotImplementedError(
        "pack: not written yet. Stuck? nox -s hint -- sft_data"
    )


def sft_loss(logits: Float[Tensor, "batch seq vocab"], labels: Int[Tensor, "batch seq"],
             num_items_in_batch: int | None = None) -> Float[Tensor, ""]:
    """Summed next-token cross-entropy over trained labels / num_items_in_batch.

    logits[:, t] predicts labels[:, t + 1]; positions whose label is IGNORE_INDEX add nothing.
    With gradient accumulation, pass the number of trained tokens of the WHOLE optimizer step
    as num_items_in_batch to every micro-batch: the micro-batch losses then add up to the loss
    of one batch holding all of them.

    Args:
        logits: (batch, seq, vocab).
        labels: (batch, seq) int64, aligned with the inputs (not shifted).
        num_items_in_batch: the divisor; None uses this batch's trained tokens (after the
            shift).

    Returns:
        0-dim loss in float32 for half logits (else the logits' dtype).

    Raises:
        ValueError: no trained token in labels (after the shift) while num_items_in_batch is
            None, or num_items_in_batch < 1.
    """
    # TODO: implement this (about 12 lines in the reference).
    raise NotImplementedError(
        "sft_loss: not written yet. Stuck? nox -s hint -- sft_data"
    )
