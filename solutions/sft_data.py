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
    # BEGIN SOLUTION
    input_ids: list[int] = []
    labels: list[int] = []
    for index, message in enumerate(messages):
        role, content = message["role"], message["content"]
        if role not in ROLES:
            raise ValueError(f"messages[{index}] has role {role!r}; use one of {ROLES}")
        header = [IM_START_ID] + encode(role + "\n")
        reply = encode(content) + [IM_END_ID]
        trained = role == "assistant"
        input_ids += header + reply + encode("\n")
        labels += [IGNORE_INDEX] * len(header)
        labels += reply if trained else [IGNORE_INDEX] * len(reply)
        labels += [IGNORE_INDEX]  # the "\n" after <|im_end|>
    return torch.tensor(input_ids, dtype=torch.long), torch.tensor(labels, dtype=torch.long)
    # END SOLUTION


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
    # BEGIN SOLUTION
    rows: list[list[int]] = []  # example indices per row
    used = max_length  # forces a first row
    for index, (ids, _) in enumerate(examples):
        if len(ids) > max_length:
            raise ValueError(f"example {index} has {len(ids)} tokens, more than max_length="
                             f"{max_length}; truncate it or raise max_length")
        if used + len(ids) > max_length:
            rows.append([])
            used = 0
        rows[-1].append(index)
        used += len(ids)
    shape = (len(rows), max_length)
    input_ids = torch.full(shape, PAD_ID, dtype=torch.long)
    labels = torch.full(shape, IGNORE_INDEX, dtype=torch.long)
    position_ids = torch.zeros(shape, dtype=torch.long)
    segment = torch.full(shape, -1, dtype=torch.long)  # which example owns each token
    for r, members in enumerate(rows):
        start = 0
        for index in members:
            ids, example_labels = examples[index]
            stop = start + len(ids)
            input_ids[r, start:stop] = ids
            labels[r, start:stop] = example_labels
            labels[r, start] = IGNORE_INDEX  # never scored alone; packed, it is a boundary
            position_ids[r, start:stop] = torch.arange(len(ids))
            segment[r, start:stop] = index
            start = stop
    causal = torch.ones(max_length, max_length, dtype=torch.bool).tril()
    same = segment[:, :, None] == segment[:, None, :]  # (rows, q, k)
    padding = segment[:, :, None] < 0
    eye = torch.eye(max_length, dtype=torch.bool)
    attention_mask = torch.where(padding, eye, same & causal)
    return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids,
            "attention_mask": attention_mask}
    # END SOLUTION


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
    # BEGIN SOLUTION
    logits = logits[:, :-1].to(torch.promote_types(logits.dtype, torch.float32))
    labels = labels[:, 1:]  # position t predicts token t + 1
    trained = labels != IGNORE_INDEX
    if num_items_in_batch is None:
        num_items_in_batch = int(trained.sum())
        if num_items_in_batch == 0:
            raise ValueError("labels train no token (all -100 after the shift): nothing to learn")
    if num_items_in_batch < 1:
        raise ValueError(f"num_items_in_batch={num_items_in_batch}: it counts trained tokens, "
                         "use >= 1")
    logps = logits.log_softmax(dim=-1).gather(-1, torch.where(trained, labels, 0)[..., None])
    return -torch.where(trained, logps.squeeze(-1), 0.0).sum() / num_items_in_batch
    # END SOLUTION
