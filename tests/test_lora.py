"""Grader for the `lora` kata: worked examples, properties (init, gradients, merge), injection.

Tests build the learner's LoRALinear through `call(impl.LoRALinear, base, ...)` and, where the
values matter, write seeded weights into the documented `lora_A` (r, in_features) and `lora_B`
(out_features, r), so results never depend on the random initialisation except in the tests
about initialisation itself.
"""

import math
import re

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from torch import nn

from kata.check import assert_close, call
from kata.strategies import randn, seeds, size

# (batch, in_features, out_features, r)
dims = st.tuples(size(3), size(6), size(6), size(4))


def _base(in_features, out_features, seed, dtype=torch.float32, device="cpu", bias=True):
    base = nn.Linear(in_features, out_features, bias=bias)
    with torch.no_grad():
        base.weight.copy_(randn((out_features, in_features), seed, scale=0.5))
        if bias:
            base.bias.copy_(randn((out_features,), seed + 1, scale=0.5))
    return base.to(dtype=dtype, device=device)


def _build(impl, base, r, seed=None, **kwargs):
    """The learner's LoRALinear around `base`; with a seed, seeded A and B are written in."""
    layer = call(impl.LoRALinear, base, r, **kwargs)
    if seed is not None:
        out_features, in_features = base.weight.shape
        to = {"dtype": base.weight.dtype, "device": base.weight.device}
        with torch.no_grad():
            layer.lora_A.copy_(randn((r, in_features), seed + 2, scale=0.5).to(**to))
            layer.lora_B.copy_(randn((out_features, r), seed + 3, scale=0.5).to(**to))
    return layer


def _expected(x, weight, bias, lora_A, lora_B, scaling):
    """y = x W0ᵀ + b + scaling · x Aᵀ Bᵀ, written out (no dropout)."""
    out = x @ weight.T + (0 if bias is None else bias)
    return out + scaling * (x @ lora_A.T @ lora_B.T)


# ---------------------------------------------------------------- worked examples


def _tiny(impl, device, **kwargs):
    # W0 = [[1, 0], [0, 1], [1, 1]] (out 3, in 2), b = [0, 0, 1], r = 1,
    # A = [[1, 2]], B = [[1], [0], [-1]]
    base = nn.Linear(2, 3).to(device)
    with torch.no_grad():
        base.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        base.bias.copy_(torch.tensor([0.0, 0.0, 1.0]))
    layer = call(impl.LoRALinear, base, 1, **kwargs)
    with torch.no_grad():
        layer.lora_A.copy_(torch.tensor([[1.0, 2.0]]))
        layer.lora_B.copy_(torch.tensor([[1.0], [0.0], [-1.0]]))
    return layer.eval()


def test_forward_worked_example(impl, device):
    layer = _tiny(impl, device, lora_alpha=2.0)  # scaling = alpha / r = 2
    x = torch.tensor([[1.0, 1.0]], device=device)
    # base: [1, 1, 1 + 1 + 1] = [1, 1, 3]; A x = 1 + 2 = 3; B A x = [3, 0, -3]; times 2
    expected = torch.tensor([[1.0 + 6.0, 1.0 + 0.0, 3.0 - 6.0]], device=device)
    assert_close(call(layer, x), expected, what="LoRALinear(x) = base(x) + (alpha/r) B A x")


@pytest.mark.parametrize(("r", "lora_alpha", "use_rslora", "scaling"),
                         [(4, 16.0, False, 16 / 4), (4, 16.0, True, 16 / 2),
                          (16, 8.0, False, 0.5), (16, 8.0, True, 2.0), (1, 3.0, True, 3.0)])
def test_scaling_worked_example(impl, device, r, lora_alpha, use_rslora, scaling):
    # A = ones / r on input 0, B = ones: B A x = x_0 on every output, so the update is scaling·x_0
    base = nn.Linear(3, 2, bias=False).to(device)
    with torch.no_grad():
        base.weight.zero_()
    layer = call(impl.LoRALinear, base, r, lora_alpha=lora_alpha, use_rslora=use_rslora).eval()
    with torch.no_grad():
        layer.lora_A.zero_()
        layer.lora_A[:, 0] = 1.0 / r
        layer.lora_B.fill_(1.0)
    x = torch.tensor([[2.0, 5.0, 7.0]], device=device)
    what = (f"output for r={r}, lora_alpha={lora_alpha}, use_rslora={use_rslora} "
            f"(scaling should be {'alpha / sqrt(r)' if use_rslora else 'alpha / r'} = {scaling})")
    assert_close(call(layer, x), torch.full((1, 2), 2.0 * scaling, device=device), what=what)


def test_merge_worked_example(impl, device):
    layer = _tiny(impl, device, lora_alpha=2.0)
    call(layer.merge)
    # W0 + 2 · B A = [[1, 0], [0, 1], [1, 1]] + 2 · [[1, 2], [0, 0], [-1, -2]]
    expected = torch.tensor([[3.0, 4.0], [0.0, 1.0], [-1.0, -3.0]], device=device)
    assert_close(layer.base_layer.weight.detach(), expected,
                 what="base_layer.weight after merge() (W0 + scaling · B A, shape (out, in))")
    x = torch.tensor([[1.0, 1.0]], device=device)
    assert_close(call(layer, x), torch.tensor([[7.0, 1.0, -3.0]], device=device),
                 what="merged LoRALinear(x) (the base layer alone, no second update)")


# ---------------------------------------------------------------- properties


@given(dims=dims, seed=seeds, p=st.sampled_from([0.0, 0.5, 0.9]), bias=st.booleans())
def test_lora_with_zero_b_equals_base(impl, device, dims, seed, p, bias):
    batch, in_features, out_features, r = dims
    base = _base(in_features, out_features, seed, device=device, bias=bias)
    x = randn((batch, 2, in_features), seed + 5, device=device)
    expected = base(x).detach()
    torch.manual_seed(seed)
    layer = call(impl.LoRALinear, base, r, lora_alpha=16.0, lora_dropout=p).train()
    assert_close(layer.lora_B.detach(), torch.zeros(out_features, r, device=device),
                 what="lora_B at initialisation (zeros)")
    # in train mode, with dropout: the base path must see the input as it is
    assert_close(call(layer, x).detach(), expected,
                 what=f"a fresh LoRALinear (B = 0) in train mode with lora_dropout={p} vs base(x)")


def test_a_is_kaiming_uniform_like_peft(impl, device):
    in_features, r = 64, 32
    torch.manual_seed(0)
    layer = call(impl.LoRALinear, _base(in_features, 8, 0, device=device), r)
    lora_A = layer.lora_A.detach().double()
    bound = 1 / math.sqrt(in_features)  # kaiming_uniform_(a=sqrt(5)) on fan_in = in_features
    assert lora_A.shape == (r, in_features), (
        f"lora_A must have shape (r, in_features) = {(r, in_features)}, got {tuple(lora_A.shape)}")
    assert float(lora_A.abs().max()) <= bound, (
        f"lora_A should be U(-1/sqrt(in_features), 1/sqrt(in_features)) = U(-{bound:.4g}, "
        f"{bound:.4g}) as PEFT's kaiming_uniform_(a=sqrt(5)); max |A| is "
        f"{float(lora_A.abs().max()):.4g}")
    # 2048 uniform draws: the std of U(-c, c) is c/sqrt(3), the extremes come close to +-c
    std = float(lora_A.std())
    assert abs(std - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3), (
        f"lora_A's spread looks wrong: std {std:.4g}, expected about {bound / math.sqrt(3):.4g} "
        "for U(-1/sqrt(in_features), 1/sqrt(in_features))")
    assert float(lora_A.abs().max()) > 0.95 * bound, "lora_A does not fill its uniform range"


@given(dims=dims, seed=seeds)
def test_only_a_and_b_get_gradients(impl, device, dims, seed):
    batch, in_features, out_features, r = dims
    base = _base(in_features, out_features, seed, dtype=torch.float64, device=device)
    weight, bias = base.weight.detach().clone(), base.bias.detach().clone()
    layer = _build(impl, base, r, seed, lora_alpha=3.0)
    assert not base.weight.requires_grad and not base.bias.requires_grad, (
        "the base layer must be frozen: base_layer.weight/bias.requires_grad should be False")
    assert layer.lora_A.requires_grad and layer.lora_B.requires_grad, (
        "lora_A and lora_B must be trainable (requires_grad True)")
    x = randn((batch, in_features), seed + 5, dtype=torch.float64, device=device)
    upstream = randn((batch, out_features), seed + 6, dtype=torch.float64, device=device)
    (call(layer, x) * upstream).sum().backward()
    assert base.weight.grad is None and base.bias.grad is None, (
        "the base layer received a gradient: only lora_A and lora_B may train")
    lora_A = layer.lora_A.detach().clone().requires_grad_()
    lora_B = layer.lora_B.detach().clone().requires_grad_()
    (_expected(x, weight, bias, lora_A, lora_B, 3.0 / r) * upstream).sum().backward()
    assert_close(layer.lora_A.grad, lora_A.grad, what="lora_A.grad")
    assert_close(layer.lora_B.grad, lora_B.grad, what="lora_B.grad")


def test_b_gets_gradient_at_initialisation(impl, device):
    # B = 0 makes A's gradient zero at first; B's gradient must not be, or nothing ever trains
    torch.manual_seed(0)
    layer = call(impl.LoRALinear, _base(5, 4, 0, device=device), 2)
    x = randn((3, 5), 1, device=device)
    call(layer, x).sum().backward()
    assert layer.lora_B.grad is not None and float(layer.lora_B.grad.abs().max()) > 0, (
        "at initialisation lora_B must get a non-zero gradient (A random, B zero; if both are "
        "zero the update never leaves zero)")


def test_dropout_acts_on_the_lora_path_input(impl, device):
    # A = B = identity (r = in = out = 40) and zero base: output / scaling = dropout(x), whose
    # entries are 0 or x / (1 - p) (inverted dropout); in eval mode it is x.
    n, p = 40, 0.5
    base = nn.Linear(n, n, bias=False).to(device)
    with torch.no_grad():
        base.weight.zero_()
    layer = call(impl.LoRALinear, base, n, lora_alpha=float(n), lora_dropout=p)  # scaling 1
    with torch.no_grad():
        layer.lora_A.copy_(torch.eye(n))
        layer.lora_B.copy_(torch.eye(n))
    x = randn((5, n), 3, device=device).abs() + 1.0
    torch.manual_seed(0)
    out = call(layer.train(), x).detach()
    kept = out != 0
    assert_close(out[kept], x[kept] / (1 - p),
                 what="kept entries of the LoRA path in train mode (x / (1 - p))")
    assert 0.3 < float(kept.double().mean()) < 0.7, (
        f"with lora_dropout={p} about half of the LoRA path's inputs should be dropped; kept "
        f"{float(kept.double().mean()):.2f}")
    assert_close(call(layer.eval(), x), x, what="LoRA path in eval mode (no dropout)")


def test_dropout_masks_input_features_not_the_rank_r_path(impl, device):
    # Dropout goes on x (in_features entries), not on x Aᵀ (r entries). With r = 1, A = B = ones
    # and x = ones (in_features 40, scaling 1), the LoRA path is (number of kept inputs) / (1 - p):
    # some but not all of the 40 inputs survive in each row (all or none has odds 2^-39). Dropout
    # on the single rank-1 unit instead gives all-or-nothing rows: 0 or 40 / (1 - p).
    n, p = 40, 0.5
    base = nn.Linear(n, 1, bias=False).to(device)
    with torch.no_grad():
        base.weight.zero_()
    layer = call(impl.LoRALinear, base, 1, lora_alpha=1.0, lora_dropout=p)  # scaling 1
    with torch.no_grad():
        layer.lora_A.copy_(torch.ones(1, n))
        layer.lora_B.copy_(torch.ones(1, 1))
    x = torch.ones(8, n, device=device)
    torch.manual_seed(0)
    out = call(layer.train(), x).detach().reshape(-1).double().cpu() * (1 - p)
    assert torch.equal(out, out.round()), (
        f"each output times (1 - p) should count the kept inputs (a whole number); got {out}")
    assert bool(((out > 0) & (out < n)).all()), (
        f"each row should keep some but not all of its {n} inputs (dropout on x, the LoRA "
        f"path's input); got kept counts {out.tolist()}: dropout acted on x Aᵀ (the rank-r "
        "path) or on the output")


@given(dims=dims, seed=seeds, use_rslora=st.booleans(), bias=st.booleans())
@example(dims=(2, 3, 5, 2), seed=0, use_rslora=False, bias=True)  # out != in: merge's layout
def test_merged_forward_equals_unmerged(impl, device, dims, seed, use_rslora, bias):
    batch, in_features, out_features, r = dims
    base = _base(in_features, out_features, seed, device=device, bias=bias)
    weight = base.weight.detach().clone()
    layer = _build(impl, base, r, seed, lora_alpha=4.0, use_rslora=use_rslora).eval()
    x = randn((batch, 2, in_features), seed + 5, device=device)
    unmerged = call(layer, x).detach()
    call(layer.merge)
    assert_close(call(layer, x).detach(), unmerged, what="forward after merge() vs before")
    scaling = 4.0 / (math.sqrt(r) if use_rslora else r)
    assert_close(layer.base_layer.weight.detach(),
                 weight + scaling * layer.lora_B.detach() @ layer.lora_A.detach(),
                 what="base_layer.weight after merge()")
    assert not layer.base_layer.weight.requires_grad, "merge() must leave the base weight frozen"
    call(layer.unmerge)
    assert_close(layer.base_layer.weight.detach(), weight,
                 what="base_layer.weight after merge() then unmerge() (the original W0)")
    assert_close(call(layer, x).detach(), unmerged, what="forward after unmerge()")


@given(seed=seeds)
def test_merge_and_unmerge_are_idempotent(impl, device, seed):
    base = _base(4, 3, seed, dtype=torch.float64, device=device)
    weight = base.weight.detach().clone()
    layer = _build(impl, base, 2, seed, lora_alpha=2.0).eval()
    call(layer.unmerge)  # not merged: nothing to take out
    assert_close(layer.base_layer.weight.detach(), weight, what="weight after unmerge() unmerged")
    call(layer.merge)
    once = layer.base_layer.weight.detach().clone()
    call(layer.merge)
    assert_close(layer.base_layer.weight.detach(), once,
                 what="weight after merge() twice (the second call must do nothing)")
    x = randn((2, 4), seed + 5, dtype=torch.float64, device=device)
    assert_close(call(layer, x).detach(), _expected(x, weight, base.bias.detach(),
                                                    layer.lora_A.detach(),
                                                    layer.lora_B.detach(), 1.0),
                 what="forward after merge() twice")
    call(layer.unmerge)
    call(layer.unmerge)
    assert_close(layer.base_layer.weight.detach(), weight,
                 what="weight after unmerge() twice (the original W0)")


@given(dims=dims, seed=seeds)
def test_float64_layer_stays_float64(impl, device, dims, seed):
    batch, in_features, out_features, r = dims
    base = _base(in_features, out_features, seed, dtype=torch.float64, device=device)
    layer = call(impl.LoRALinear, base, r, lora_alpha=2.0)
    for name in ("lora_A", "lora_B"):
        param = getattr(layer, name)
        assert param.dtype == torch.float64 and param.device == base.weight.device, (
            f"{name} must take the base weight's dtype and device (float64 on "
            f"{base.weight.device}), got {param.dtype} on {param.device}")
    layer = _build(impl, base, r, seed, lora_alpha=2.0).eval()
    x = randn((batch, in_features), seed + 5, dtype=torch.float64, device=device, scale=1e3)
    expected = _expected(x, base.weight.detach(), base.bias.detach(), layer.lora_A.detach(),
                         layer.lora_B.detach(), 2.0 / r)
    assert_close(call(layer, x).detach(), expected, what="float64 LoRALinear(x)")


# ---------------------------------------------------------------- injection


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)
        self.qq_proj = nn.Linear(4, 2)  # ends with "q_proj" but not with ".q_proj"
        self.mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))
        self.norm = nn.LayerNorm(4)

    def forward(self, x):
        x = x + self.q_proj(x) * self.k_proj(x) + self.v_proj(x) + self.qq_proj(x).sum(-1, True)
        return self.norm(x + self.mlp(x))


class _Tiny(nn.Module):
    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(10, 4)
        self.layers = nn.ModuleList([_Block(), _Block()])

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return x


def _numel(module):
    return sum(p.numel() for p in module.parameters())


def test_inject_lora_worked_example(impl, device):
    model = _Tiny().to(device)
    total_before = _numel(model)
    names = call(impl.inject_lora, model, ["q_proj", "v_proj"], r=2, lora_alpha=4.0)
    assert names == ["layers.0.q_proj", "layers.0.v_proj", "layers.1.q_proj",
                     "layers.1.v_proj"], (
        f"inject_lora(['q_proj', 'v_proj']) returned {names}; expected the four q_proj/v_proj "
        "names in named_modules() order (qq_proj does not match: the name must end with "
        "'.q_proj')")
    for name in names:
        assert isinstance(model.get_submodule(name), impl.LoRALinear), (
            f"model.{name} should now be a LoRALinear")
    assert isinstance(model.layers[0].qq_proj, nn.Linear) and not isinstance(
        model.layers[0].qq_proj, impl.LoRALinear), "qq_proj must not match the target 'q_proj'"
    # 4 wrapped 4 -> 4 layers with r = 2: A (2, 4) + B (4, 2) = 16 each
    trainable, total = call(impl.count_parameters, model)
    assert (trainable, total) == (64, total_before + 64), (
        f"count_parameters: expected (trainable, total) = (64, {total_before + 64}) (LoRA only "
        f"trains; the total counts the LoRA parameters too), got {(trainable, total)}")
    frozen = [n for n, p in model.named_parameters()
              if p.requires_grad and not n.endswith(("lora_A", "lora_B"))]
    assert not frozen, f"these parameters should be frozen after inject_lora: {frozen}"


def test_injected_model_starts_as_the_original(impl, device):
    model = _Tiny().to(device)
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]], device=device)
    expected = model(ids).detach()
    call(impl.inject_lora, model, ["q_proj", "mlp.0", "layers.1.k_proj"], r=3,
         lora_dropout=0.5)
    assert isinstance(model.layers[0].mlp[0], impl.LoRALinear), (
        "'mlp.0' should match layers.0.mlp.0")
    assert isinstance(model.layers[1].k_proj, impl.LoRALinear), "a full name should match itself"
    assert not isinstance(model.layers[0].k_proj, impl.LoRALinear), (
        "'layers.1.k_proj' must not match layers.0.k_proj")
    model.train()
    assert_close(model(ids).detach(), expected, what="the injected model's output at init (B = 0)")


def test_count_parameters_worked_example(impl, device):
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1, bias=False)).to(device)
    model[0].requires_grad_(False)  # 3·2 + 2 = 8 frozen, 2 trainable
    assert call(impl.count_parameters, model) == (2, 10), (
        "count_parameters should return (trainable, total) = (2, 10)")


# ---------------------------------------------------------------- bad input


def test_rank_below_one_raises_value_error(impl, device):
    call(impl.LoRALinear, nn.Linear(3, 2).to(device), 1)  # r = 1: the last valid rank
    with pytest.raises(ValueError) as raised:
        call(impl.LoRALinear, nn.Linear(3, 2).to(device), 0)
    assert re.search(r"(?<![\d.])0(?![\d.])", str(raised.value)), (
        f"the ValueError should name r=0; it said: {str(raised.value)!r}")


def test_inject_without_a_match_raises_value_error(impl, device):
    model = _Tiny().to(device)
    with pytest.raises(ValueError) as raised:
        call(impl.inject_lora, model, ["query_proj"])
    assert "query_proj" in str(raised.value), (
        f"the ValueError should name the targets; it said: {str(raised.value)!r}")


def test_inject_into_a_non_linear_raises_type_error(impl, device):
    model = _Tiny().to(device)
    with pytest.raises(TypeError) as raised:
        call(impl.inject_lora, model, ["q_proj", "norm"])
    assert "norm" in str(raised.value), (
        f"the TypeError should name the module; it said: {str(raised.value)!r}")
