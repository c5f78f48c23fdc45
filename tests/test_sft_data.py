"""Grader for the `sft_data` kata: rendering, packing and the accumulated token loss."""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given
from hypothesis import strategies as st

from kata.check import assert_close, assert_equal, call
from kata.strategies import randn, seeds, size

IGNORE, START, END, PAD = -100, 256, 257, 258
NL = 10  # "\n"


def _bytes(text):
    return list(text.encode("utf-8"))


def _message(role, content):
    """(ids, labels) of one message, written out from the documented template and rule."""
    header = [START] + _bytes(role + "\n")
    reply = _bytes(content) + [END]
    ids = header + reply + [NL]
    labels = [IGNORE] * len(header) + (reply if role == "assistant" else [IGNORE] * len(reply))
    return ids, labels + [IGNORE]


def _conversation(messages):
    ids, labels = [], []
    for role, content in messages:
        i, la = _message(role, content)
        ids += i
        labels += la
    return torch.tensor(ids), torch.tensor(labels)


texts = st.text(alphabet="abc xyz\n0é", min_size=0, max_size=6)
conversations = st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]), texts),
                         min_size=1, max_size=5)


def _examples(lengths, seed):
    generator = torch.Generator().manual_seed(seed)
    out = []
    for n in lengths:
        ids = torch.randint(0, 256, (n,), generator=generator)
        labels = torch.where(torch.rand(n, generator=generator) < 0.5, ids, IGNORE)
        out.append((ids, labels))
    return out


# ---------------------------------------------------------------- worked examples


def test_render_chat_worked_example(impl):
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "ok"}]
    input_ids, labels = call(impl.render_chat, messages)
    # <|im_start|>system\nS<|im_end|>\n <|im_start|>user\nhi<|im_end|>\n
    # <|im_start|>assistant\nok<|im_end|>\n
    expected_ids = ([START] + _bytes("system\nS") + [END, NL] + [START] + _bytes("user\nhi")
                    + [END, NL] + [START] + _bytes("assistant\nok") + [END, NL])
    assert_equal(input_ids, torch.tensor(expected_ids), what="input_ids of the ChatML rendering")
    trained = [IGNORE] * (len(expected_ids) - 4) + [ord("o"), ord("k"), END, IGNORE]
    assert_equal(labels, torch.tensor(trained),
                 what="labels (only 'ok' and its <|im_end|> are trained; no shift)")


def test_every_assistant_turn_is_trained(impl):
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]
    input_ids, labels = call(impl.render_chat, messages)
    trained = [(i, int(t)) for i, t in enumerate(labels.tolist()) if t != IGNORE]
    kept = [t for _, t in trained]
    assert kept == [ord("b"), END, ord("d"), END], (
        f"trained labels should be b <|im_end|> d <|im_end|> (both assistant turns), got {kept}")
    assert all(int(input_ids[i]) == t for i, t in trained), (
        "labels must equal input_ids where trained (no shift: the model shifts)")


def test_pack_worked_example(impl):
    examples = _examples([3, 2, 4], 0)
    packed = call(impl.pack, examples, 5)
    # next-fit: row 0 = example 0 (3) + example 1 (2); row 1 = example 2 (4) + 1 pad
    (ids0, lab0), (ids1, lab1), (ids2, lab2) = examples
    assert_equal(packed["input_ids"], torch.stack([torch.cat([ids0, ids1]),
                                                   torch.cat([ids2, torch.tensor([PAD])])]),
                 what="packed input_ids")
    first = torch.tensor([IGNORE])  # the first label of every example: a boundary
    assert_equal(packed["labels"], torch.stack([torch.cat([first, lab0[1:], first, lab1[1:]]),
                                                torch.cat([first, lab2[1:], first])]),
                 what="packed labels (-100 on padding and on each example's first token)")
    assert_equal(packed["position_ids"], torch.tensor([[0, 1, 2, 0, 1], [0, 1, 2, 3, 0]]),
                 what="position_ids (restart at every example, 0 on padding)")
    block = torch.zeros(5, 5, dtype=torch.bool)
    block[:3, :3] = torch.ones(3, 3, dtype=torch.bool).tril()
    block[3:, 3:] = torch.ones(2, 2, dtype=torch.bool).tril()
    row1 = torch.zeros(5, 5, dtype=torch.bool)
    row1[:4, :4] = torch.ones(4, 4, dtype=torch.bool).tril()
    row1[4, 4] = True  # padding attends to itself only
    assert_equal(packed["attention_mask"], torch.stack([block, row1]),
                 what="attention_mask (block-diagonal causal; padding sees itself)")


def test_sft_loss_worked_example(impl):
    # vocab 3, one row of 3 positions; logits[t] predicts labels[t + 1]
    logits = torch.tensor([[[1.0, 2.0, 1.0], [2.0, 1.0, 1.0], [1.0, 1.0, 2.0]]]).log()
    labels = torch.tensor([[IGNORE, 1, IGNORE]])  # only position 0 -> token 1 is trained
    assert_close(call(impl.sft_loss, logits, labels), torch.tensor(-math.log(0.5)),
                 what="sft_loss: -log p(token 1) at position 0 = -log(2/4)")
    labels = torch.tensor([[IGNORE, 1, 0]])  # and position 1 -> token 0: p = 2/4
    assert_close(call(impl.sft_loss, logits, labels, num_items_in_batch=4),
                 torch.tensor(-2 * math.log(0.5) / 4),
                 what="sft_loss with num_items_in_batch=4 (sum / 4)")


# ---------------------------------------------------------------- properties


@given(conversation=conversations)
@example(conversation=[("user", "é0"), ("assistant", "é")])  # é is 2 UTF-8 bytes: 2 tokens
def test_render_chat_follows_the_template_and_trains_replies_only(impl, conversation):
    messages = [{"role": r, "content": c} for r, c in conversation]
    input_ids, labels = call(impl.render_chat, messages)
    expected_ids, expected_labels = _conversation(conversation)
    assert_equal(input_ids, expected_ids.long(), what="input_ids")
    assert_equal(labels, expected_labels.long(), what="labels")


@given(lengths=st.lists(size(6), min_size=1, max_size=6), max_length=size(8, min_value=6),
       seed=seeds)
def test_packing_keeps_every_token_once_in_order(impl, lengths, max_length, seed):
    examples = _examples(lengths, seed)
    packed = call(impl.pack, examples, max_length)
    real = packed["input_ids"] != PAD
    assert_equal(packed["input_ids"][real], torch.cat([ids for ids, _ in examples]),
                 what="the real tokens of the packed rows, read in order")
    assert_equal(packed["labels"][real],
                 torch.cat([torch.cat([torch.tensor([IGNORE]), lab[1:]]) for _, lab in examples]),
                 what="the labels of the real tokens, in order (-100 on each first token)")
    rows = 0
    used = max_length
    for n in lengths:  # next-fit
        if used + n > max_length:
            rows, used = rows + 1, 0
        used += n
    assert packed["input_ids"].shape == (rows, max_length), (
        f"next-fit packing of lengths {lengths} into {max_length} needs {rows} rows, got "
        f"{tuple(packed['input_ids'].shape)}")


@given(lengths=st.lists(size(6), min_size=1, max_size=6), max_length=size(8, min_value=6),
       seed=seeds)
def test_no_attention_across_packed_examples(impl, lengths, max_length, seed):
    packed = call(impl.pack, _examples(lengths, seed), max_length)
    positions = packed["position_ids"]
    # example boundaries from the position ids: a new example starts where the position is 0
    starts = (positions == 0).long().cumsum(-1)  # (rows, max_length) segment number
    real = packed["input_ids"] != PAD
    same = (starts[:, :, None] == starts[:, None, :]) & real[:, :, None] & real[:, None, :]
    causal = torch.ones(max_length, max_length, dtype=torch.bool).tril()
    expected = torch.where(real[:, :, None], same & causal,
                           torch.eye(max_length, dtype=torch.bool))
    assert_equal(packed["attention_mask"], expected,
                 what="attention_mask (a token sees only earlier tokens of its own example)")


def _tiny_causal_lm(input_ids, position_ids, attention_mask, seed=0):
    """A one-layer attention LM with learned absolute positions: output depends on what each
    token may see and on its position id."""
    generator = torch.Generator().manual_seed(seed)
    d = 8
    embed = torch.randn(259, d, generator=generator, dtype=torch.float64)
    pos = torch.randn(64, d, generator=generator, dtype=torch.float64)
    head = torch.randn(d, 259, generator=generator, dtype=torch.float64)
    x = embed[input_ids] + pos[position_ids]
    scores = (x @ x.transpose(-1, -2)).masked_fill(~attention_mask, float("-inf"))
    return torch.softmax(scores, -1) @ x @ head


@given(lengths=st.lists(size(6, min_value=2), min_size=2, max_size=5), seed=seeds)
def test_packed_loss_equals_the_loss_of_separate_examples(impl, lengths, seed):
    examples = _examples(lengths, seed)
    packed = call(impl.pack, examples, 12)
    logits = _tiny_causal_lm(packed["input_ids"], packed["position_ids"],
                             packed["attention_mask"])
    total = call(impl.sft_loss, logits, packed["labels"], num_items_in_batch=1)
    expected = 0.0
    for ids, labels in examples:
        n = len(ids)
        alone = _tiny_causal_lm(ids[None], torch.arange(n)[None],
                                torch.ones(n, n, dtype=torch.bool).tril()[None])
        trained = labels[1:] != IGNORE
        logps = alone[0, :-1].log_softmax(-1).gather(-1, labels[1:].clamp(min=0)[:, None])
        expected -= float(logps[:, 0][trained].sum())
    assert_close(total, torch.tensor(expected, dtype=torch.float64),
                 what="summed loss of a packed batch vs each example alone (needs restarting "
                      "position ids and no attention across examples)")


@given(batch=size(3), seq=size(6, min_value=2), micro=size(3), seed=seeds)
def test_accumulated_micro_batches_equal_one_big_batch(impl, batch, seq, micro, seed):
    logits = randn((batch * micro, seq, 5), seed, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 5, (batch * micro, seq), generator=generator)
    labels[torch.rand(batch * micro, seq, generator=generator) < 0.5] = IGNORE
    labels[0, 1] = 2  # at least one trained token
    total_items = int((labels[:, 1:] != IGNORE).sum())
    whole = call(impl.sft_loss, logits, labels)
    parts = sum(call(impl.sft_loss, logits[i::micro], labels[i::micro],
                     num_items_in_batch=total_items) for i in range(micro))
    assert_close(parts, whole, what=f"sum of {micro} micro-batch losses (each / {total_items} "
                                    "trained tokens of the step) vs the loss of the whole batch")
    oracle = F.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:], ignore_index=IGNORE,
                             reduction="sum") / total_items
    assert_close(whole, oracle, what="sft_loss vs cross_entropy(ignore_index=-100) / count")


def test_half_precision_logits_are_scored_in_float32(impl):
    logits = randn((2, 5, 40), 7, scale=30.0).to(torch.bfloat16)
    labels = torch.randint(0, 40, (2, 5), generator=torch.Generator().manual_seed(1))
    oracle = F.cross_entropy(logits[:, :-1].double().transpose(1, 2), labels[:, 1:],
                             reduction="mean")
    assert_close(call(impl.sft_loss, logits, labels), oracle.float(),
                 what="sft_loss of bfloat16 logits (computed and returned in float32)")


# ---------------------------------------------------------------- reference


@given(lengths=st.lists(size(6), min_size=1, max_size=6), max_length=size(8, min_value=6),
       seed=seeds, conversation=conversations)
def test_matches_reference(impl, ref, lengths, max_length, seed, conversation):
    messages = [{"role": r, "content": c} for r, c in conversation]
    for got, expected, name in zip(call(impl.render_chat, messages), ref.render_chat(messages),
                                   ("input_ids", "labels"), strict=True):
        assert_equal(got, expected, what=f"render_chat {name}")
    examples = _examples(lengths, seed)
    packed, expected = call(impl.pack, examples, max_length), ref.pack(examples, max_length)
    for key, value in expected.items():
        assert key in packed, f"pack's result lacks {key!r} (documented: {sorted(expected)})"
        assert_equal(packed[key], value, what=f"pack()[{key!r}]")


# ---------------------------------------------------------------- bad input


def test_unknown_role_raises_value_error(impl):
    messages = [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]
    with pytest.raises(ValueError) as raised:
        call(impl.render_chat, messages)
    assert "tool" in str(raised.value), (
        f"the ValueError should name the unknown role 'tool'; it said: {raised.value}")


def test_example_longer_than_max_length_raises_value_error(impl):
    examples = _examples([2, 5, 6], 0)
    call(impl.pack, examples[:2], 5)  # an example of exactly max_length fits
    with pytest.raises(ValueError) as raised:
        call(impl.pack, examples, 5)
    assert re.search(r"(?<!\d)2(?!\d)", str(raised.value)), (
        f"the ValueError should name example 2; it said: {raised.value}")


def test_loss_without_trained_tokens_raises_value_error(impl):
    logits = torch.zeros(1, 3, 4)
    call(impl.sft_loss, logits, torch.tensor([[IGNORE, IGNORE, 1]]))  # one trained token
    with pytest.raises(ValueError):
        call(impl.sft_loss, logits, torch.tensor([[1, IGNORE, IGNORE]]))  # the first is never
    with pytest.raises(ValueError):
        call(impl.sft_loss, logits, torch.tensor([[IGNORE, IGNORE, 1]]), num_items_in_batch=0)
    # with a step-wide num_items_in_batch, a micro-batch that trains no token is valid: loss 0
    assert_close(call(impl.sft_loss, logits, torch.tensor([[1, IGNORE, IGNORE]]),
                      num_items_in_batch=4), torch.tensor(0.0),
                 what="sft_loss of a micro-batch with no trained token, num_items_in_batch=4")


def test_float64_logits_are_scored_in_float64(impl):
    # logits 1e8 and 1e8 + 1 (float64 holds both; float32's spacing at 1e8 is 8, so it sees two
    # equal logits and gives log 2). Label 1 after the shift: the loss is
    # -log σ(1) = log(1 + e^-1) ≈ 0.313.
    logits = torch.tensor([[[1e8, 1e8 + 1.0], [0.0, 0.0]]], dtype=torch.float64)
    labels = torch.tensor([[IGNORE, 1]])
    assert_close(call(impl.sft_loss, logits, labels),
                 torch.tensor(math.log1p(math.exp(-1.0)), dtype=torch.float64),
                 what="sft_loss of float64 logits 1e8 and 1e8 + 1 (float32 would give log 2)")
