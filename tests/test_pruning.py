"""Grader for the `pruning` kata: masks by hand, exact counts, torch.nn.utils.prune as oracle."""

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import prune

from kata.check import assert_close, assert_equal, call
from kata.strategies import randn, seeds, size

amounts = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 0.7, 1.0]), st.integers(0, 4))


def _linear(d_in, d_out, seed):
    linear = nn.Linear(d_in, d_out)
    with torch.no_grad():
        linear.weight.copy_(randn((d_out, d_in), seed))
        linear.bias.copy_(randn((d_out,), seed + 1))
    return linear


def _count(amount, total):
    return amount if isinstance(amount, int) else round(amount * total)


# ---------------------------------------------------------------- worked examples


def test_magnitude_mask_worked_example(impl):
    weight = torch.tensor([[0.5, -3.0, 0.1], [2.0, -0.2, 1.0]])
    # |w| ascending: 0.1, 0.2, 0.5, 1.0, 2.0, 3.0 -> 50 % (3 weights) drops 0.1, -0.2, 0.5
    expected = torch.tensor([[False, True, False], [True, False, True]])
    assert_equal(call(impl.magnitude_mask, weight, 0.5), expected,
                 what="keep-mask after pruning the 3 smallest |w| (50 %)")
    assert_equal(call(impl.magnitude_mask, weight, 1), weight.abs() != 0.1,
                 what="keep-mask for amount=1 (an int is a count: prune 1 weight)")


def test_ties_prune_the_lower_index_first(impl):
    weight = torch.tensor([1.0, -1.0, 1.0, 2.0, -1.0])
    assert_equal(call(impl.magnitude_mask, weight, 2),
                 torch.tensor([False, False, True, True, True]),
                 what="four |w| = 1 ties, prune 2: the documented rule prunes indices 0 and 1")
    masks = call(impl.global_masks, [torch.tensor([1.0, 5.0]), torch.tensor([1.0, 1.0])], 2)
    assert_equal(masks[0], torch.tensor([False, True]),
                 what="global ties: the earlier tensor is pruned first (tensor 0)")
    assert_equal(masks[1], torch.tensor([False, True]), what="global ties (tensor 1)")


def test_global_masks_worked_example(impl):
    # All |w| together: 0.1 (b), 0.2 (a), 0.3 (b), 4 (a), 5 (b), 6 (a); 50 % = 3 pruned.
    a = torch.tensor([[0.2, -6.0, 4.0]])
    b = torch.tensor([-0.1, 0.3, 5.0])
    masks = call(impl.global_masks, [a, b], 0.5)
    assert_equal(masks[0], torch.tensor([[False, True, True]]), what="global keep-mask of a")
    assert_equal(masks[1], torch.tensor([False, False, True]),
                 what="global keep-mask of b (b loses 2 of 3: one threshold for all tensors)")


def test_semi_structured_worked_example(impl):
    weight = torch.tensor([[0.1, -0.9, 0.5, 0.3, 4.0, 3.0, -2.0, 1.0],
                           [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, -0.5]])
    expected = torch.tensor([[False, True, True, False, True, True, False, False],
                             [True, True, False, False, True, False, False, True]])
    # row 1, group 1 (ties of 1.0): keep the lower indices; group 2: -0.5 then the first 0.0
    got = call(impl.semi_structured_mask, weight)
    assert_equal(got, expected, what="2:4 keep-mask (2 largest |w| of each 4 along a row)")


def test_channel_and_head_masks_worked_example(impl):
    # Row L2 norms: 5, 1, 2.5 (from 1.5, 2), 0 -> prune 2 rows: rows 3 and 1.
    weight = torch.tensor([[3.0, 4.0], [0.6, 0.8], [1.5, -2.0], [0.0, 0.0]])
    rows = torch.tensor([True, False, True, False])[:, None].expand(4, 2)
    assert_equal(call(impl.channel_mask, weight, 2), rows, what="keep-mask of rows by L2 norm")
    # Columns along dim=1, L1 norm: 5.1, 6.8 -> prune column 0.
    columns = torch.tensor([False, True]).expand(4, 2)
    assert_equal(call(impl.channel_mask, weight, 1, dim=1, n=1), columns,
                 what="keep-mask of columns (dim=1) by L1 norm")
    # Heads of 2 rows: head 0 = rows 0-1 (norm sqrt(25 + 1) > head 1's sqrt(6.25)) -> prune 1.
    heads = torch.tensor([True, True, False, False])[:, None].expand(4, 2)
    assert_equal(call(impl.channel_mask, weight, 1, group_size=2), heads,
                 what="keep-mask of heads of head_dim = 2 consecutive rows")


def test_masked_linear_worked_example(impl):
    linear = nn.Linear(2, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        linear.bias.copy_(torch.tensor([0.5, -0.5]))
    mask = torch.tensor([[True, False], [False, True]])
    layer = call(impl.MaskedLinear, linear, mask)
    assert_close(layer.weight_orig.detach(), linear.weight.detach(),
                 what="weight_orig keeps the original weight")
    buffers = dict(layer.named_buffers())
    assert "weight_mask" in buffers and buffers["weight_mask"].is_floating_point(), (
        f"weight_mask must be a float buffer (1.0 = keep, torch.nn.utils.prune's layout), got "
        f"{buffers.get('weight_mask', 'no such buffer')!r}")
    assert_equal(buffers["weight_mask"].float(), torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
                 what="weight_mask: 1.0 where the mask keeps, 0.0 where it prunes")
    assert_close(layer.weight.detach(), torch.tensor([[1.0, 0.0], [0.0, 4.0]]),
                 what="effective weight = weight_orig · mask")
    assert_close(call(layer, torch.tensor([[1.0, 1.0]])).detach(), torch.tensor([[1.5, 3.5]]),
                 what="MaskedLinear forward with the pruned weight")


# ---------------------------------------------------------------- exact counts and properties


@given(shape=st.tuples(size(5), size(6)), seed=seeds, amount=amounts)
@example(shape=(3, 3), seed=0, amount=0.5)
def test_magnitude_mask_prunes_exactly_k_smallest(impl, shape, seed, amount):
    weight = randn(shape, seed)
    k = _count(amount, weight.numel())
    if k > weight.numel():
        return
    mask = call(impl.magnitude_mask, weight, amount)
    assert mask.dtype == torch.bool and mask.shape == weight.shape, (
        f"expected a bool mask of shape {tuple(weight.shape)}, got {mask.dtype} "
        f"{tuple(mask.shape)}")
    assert int((~mask).sum()) == k, f"amount {amount!r} of {weight.numel()}: prune exactly {k}, " \
                                    f"pruned {int((~mask).sum())}"
    if 0 < k < weight.numel():
        assert weight.abs()[~mask].max() <= weight.abs()[mask].min(), (
            "every pruned |w| must be <= every kept |w|")


@given(shapes=st.lists(st.tuples(size(4), size(5)), min_size=1, max_size=3), seed=seeds,
       amount=st.sampled_from([0.2, 0.5, 0.9]))
def test_global_masks_prune_exactly_k_across_tensors(impl, shapes, seed, amount):
    weights = [randn(shape, seed + i, scale=1 + i) for i, shape in enumerate(shapes)]
    masks = call(impl.global_masks, weights, amount)
    total = sum(w.numel() for w in weights)
    pruned = sum(int((~m).sum()) for m in masks)
    assert pruned == round(amount * total), (
        f"prune round({amount} · {total}) = {round(amount * total)} entries in total, "
        f"pruned {pruned} (per-tensor pruning instead of one global threshold?)")
    kept = torch.cat([w.abs()[m] for w, m in zip(weights, masks)])
    dropped = torch.cat([w.abs()[~m] for w, m in zip(weights, masks)])
    if kept.numel() and dropped.numel():
        assert dropped.max() <= kept.min(), "one threshold: every pruned |w| <= every kept |w|"


@given(d_out=size(5), groups=size(4), seed=seeds)
def test_semi_structured_keeps_two_largest_of_every_four(impl, d_out, groups, seed):
    weight = randn((d_out, 4 * groups), seed)
    mask = call(impl.semi_structured_mask, weight).view(d_out, groups, 4)
    assert (mask.sum(-1) == 2).all(), "every group of 4 along a row keeps exactly 2 weights"
    magnitude = weight.abs().view(d_out, groups, 4)
    kept_min = magnitude.masked_fill(~mask, float("inf")).amin(-1)
    dropped_max = magnitude.masked_fill(mask, -1.0).amax(-1)
    assert (dropped_max <= kept_min).all(), "the kept 2 are the largest |w| of their group"


# ---------------------------------------------------------------- torch.nn.utils.prune as oracle


@given(shape=st.tuples(size(5), size(6)), seed=seeds, amount=amounts)
def test_magnitude_mask_matches_l1_unstructured(impl, shape, seed, amount):
    linear = _linear(shape[1], shape[0], seed)
    if _count(amount, linear.weight.numel()) > linear.weight.numel():
        return
    mask = call(impl.magnitude_mask, linear.weight.detach(), amount)
    prune.l1_unstructured(linear, "weight", amount)
    assert_equal(mask, linear.weight_mask.bool(), what=f"mask vs prune.l1_unstructured({amount!r})")


@given(shapes=st.lists(st.tuples(size(4), size(5)), min_size=1, max_size=3), seed=seeds,
       amount=st.sampled_from([0.2, 0.5, 0.9, 3]))
def test_global_masks_match_global_unstructured(impl, shapes, seed, amount):
    layers = [_linear(shape[1], shape[0], seed + i) for i, shape in enumerate(shapes)]
    if isinstance(amount, int) and amount > sum(layer.weight.numel() for layer in layers):
        return
    masks = call(impl.global_masks, [layer.weight.detach() for layer in layers], amount)
    prune.global_unstructured([(layer, "weight") for layer in layers],
                              pruning_method=prune.L1Unstructured, amount=amount)
    for index, (mask, layer) in enumerate(zip(masks, layers, strict=True)):
        assert_equal(mask, layer.weight_mask.bool(),
                     what=f"mask {index} vs prune.global_unstructured({amount!r})")


@given(shape=st.tuples(size(6), size(5), size(3)), seed=seeds, dim=st.integers(-3, 2),
       n=st.sampled_from([1, 2, float("inf")]), amount=st.sampled_from([0.0, 0.34, 0.5, 1, 2]))
def test_channel_mask_matches_ln_structured(impl, shape, seed, dim, n, amount):
    weight = randn(shape, seed)
    if isinstance(amount, int) and amount > shape[dim]:
        return
    mask = call(impl.channel_mask, weight, amount, dim=dim, n=n)
    module = nn.Module()
    module.weight = nn.Parameter(weight.clone())
    prune.ln_structured(module, "weight", amount, n=n, dim=dim)
    assert_equal(mask, module.weight_mask.bool(),
                 what=f"mask vs prune.ln_structured(amount={amount!r}, n={n}, dim={dim})")


@given(heads=size(5, 2), head_dim=size(3), d_model=size(4), seed=seeds,
       amount=st.sampled_from([1, 0.5]))
def test_head_mask_drops_whole_heads_by_norm(impl, heads, head_dim, d_model, seed, amount):
    weight = randn((heads * head_dim, d_model), seed)  # a q_proj weight, heads stacked on rows
    mask = call(impl.channel_mask, weight, amount, group_size=head_dim)
    per_head = mask.view(heads, head_dim, d_model)
    kept = per_head.all(dim=(1, 2))
    assert (per_head.any(dim=(1, 2)) == kept).all(), "a head is kept or pruned as a whole"
    norms = weight.view(heads, head_dim * d_model).norm(dim=1)
    assert int((~kept).sum()) == _count(amount, heads), (
        f"prune {_count(amount, heads)} of {heads} heads, pruned {int((~kept).sum())}")
    if kept.any() and (~kept).any():
        assert norms[~kept].max() <= norms[kept].min(), "the pruned heads have the smallest norms"


@pytest.mark.parametrize("optimizer_name", ["SGD", "AdamW"])
def test_pruned_weights_stay_zero_through_training(impl, optimizer_name):
    # Same layer pruned both ways and trained with the same data: the reparametrized weights
    # must match torch's custom_from_mask, and pruned entries must stay exactly 0.
    linear, expected = _linear(6, 4, 3), _linear(6, 4, 3)
    mask = call(impl.magnitude_mask, linear.weight.detach(), 0.5)
    layer = call(impl.MaskedLinear, linear, mask)
    prune.custom_from_mask(expected, "weight", mask)
    make = {"SGD": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
            "AdamW": lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1)}[optimizer_name]
    optimizer, expected_optimizer = make(layer.parameters()), make(expected.parameters())
    for step in range(4):
        x, y = randn((5, 6), 10 + step), randn((5, 4), 20 + step)
        for module, opt in ((layer, optimizer), (expected, expected_optimizer)):
            opt.zero_grad()
            nn.functional.mse_loss(module(x), y).backward()
            opt.step()
        weight = layer.weight.detach()
        assert (weight[~mask] == 0).all(), (
            f"after {optimizer_name} step {step} pruned weights came back: "
            f"{weight[~mask].tolist()}. Apply the mask in every forward (weight_orig · "
            "weight_mask), not once")
        # torch recomputes expected.weight only in its next forward pre-hook
        assert_close(weight, (expected.weight_orig * expected.weight_mask).detach(),
                     what=f"effective weight after {optimizer_name} step {step} vs "
                          "prune.custom_from_mask")


# ---------------------------------------------------------------- bad input


def test_bad_shapes_raise_value_error(impl):
    call(impl.semi_structured_mask, torch.ones(2, 4))  # d_in = 4 is valid
    for shape in [(2, 6), (2, 3), (8,)]:
        with pytest.raises(ValueError):
            call(impl.semi_structured_mask, torch.ones(shape))
            pytest.fail(f"semi_structured_mask of shape {shape} should raise")
    call(impl.channel_mask, torch.ones(6, 2), 1, group_size=3)  # 6 rows = 2 heads of 3
    with pytest.raises(ValueError):
        call(impl.channel_mask, torch.ones(6, 2), 1, group_size=4)
    linear = nn.Linear(3, 2)
    with pytest.raises(ValueError):
        call(impl.MaskedLinear, linear, torch.ones(3, 2, dtype=torch.bool))
