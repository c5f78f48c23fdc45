"""Grader for the `moe_router` kata: worked examples, properties, then dense oracles."""

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kata.check import assert_close, assert_equal, call
from kata.strategies import randn, seeds, size


def _routing(logits, top_k, renormalize=True):
    """The documented routing, in float64: softmax over all experts, top-k, renormalise."""
    probs = torch.softmax(logits.double(), dim=-1)
    weights, ids = probs.topk(top_k, dim=-1)
    if renormalize:
        weights = weights / weights.sum(-1, keepdim=True)
    return weights, ids


def _dense_mixture(moe, hidden_states):
    """Σ_e gate_e(x) · expert_e(x) with every expert run on every token, in float64."""
    batch, seq, d_model = hidden_states.shape
    x = hidden_states.reshape(-1, d_model).double()
    with torch.no_grad():
        logits = x @ moe.router.weight.double().T
        weights, ids = _routing(logits, moe.top_k)
        gates = torch.zeros_like(logits).scatter(-1, ids, weights)  # (tokens, experts)
        outputs = torch.stack([copy.deepcopy(expert).double()(x) for expert in moe.experts], 1)
    return torch.einsum("te,ted->td", gates, outputs).reshape(batch, seq, d_model)


def _moe(module, seed, d_model=4, d_ff=6, num_experts=4, top_k=2, device="cpu"):
    torch.manual_seed(seed)
    return module.SparseMoE(d_model, d_ff, num_experts, top_k).to(device)


class Scale(torch.nn.Module):
    """A stand-in expert, x -> factor · x, that counts the rows it is given."""

    def __init__(self, factor):
        super().__init__()
        self.factor, self.rows = factor, 0

    def forward(self, x):
        self.rows += x.shape[0]
        return x * self.factor


# ---------------------------------------------------------------- worked examples


def test_route_worked_example(impl, device):
    logits = torch.tensor([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]], device=device).log()
    weights, expert_ids = call(impl.route, logits, 2)
    # token 0: experts 1 (0.6) and 2 (0.3) -> 0.6/0.9, 0.3/0.9; token 1: 0 (0.5), 2 (0.3)
    assert_equal(expert_ids, torch.tensor([[1, 2], [0, 2]], device=device),
                 what="expert_ids (top 2 per token, by decreasing weight)")
    assert_close(weights, torch.tensor([[2 / 3, 1 / 3], [5 / 8, 3 / 8]], device=device),
                 what="renormalised gate weights")
    raw, _ = call(impl.route, logits, 2, renormalize=False)
    assert_close(raw, torch.tensor([[0.6, 0.3], [0.5, 0.3]], device=device),
                 what="gate weights with renormalize=False (the softmax probabilities)")


def test_load_balancing_loss_worked_example(impl, device):
    # probs: token 0 [0.75, 0.25], token 1 [0.5, 0.5] -> P = [0.625, 0.375]
    logits = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]], device=device)
    both_to_0 = torch.tensor([[0], [0]], device=device)  # f = [1, 0]
    loss = call(impl.load_balancing_loss, logits, both_to_0)
    assert_close(loss, torch.tensor(2 * (1 * 0.625), device=device),
                 what="loss = N · Σ f_i P_i = 2 · (1 · 0.625 + 0 · 0.375)")
    split = torch.tensor([[0], [1]], device=device)  # f = [0.5, 0.5]
    loss = call(impl.load_balancing_loss, logits, split)
    assert_close(loss, torch.tensor(2 * (0.5 * 0.625 + 0.5 * 0.375), device=device),
                 what="loss with one token on each expert")


def test_moe_forward_worked_example(impl, device):
    moe = _moe(impl, 0, d_model=2, num_experts=3, top_k=2, device=device)
    with torch.no_grad():  # router logits = [x_0, x_1, 0]
        moe.router.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    moe.experts = torch.nn.ModuleList(Scale(f) for f in (1.0, 10.0, 100.0))
    x = torch.tensor([[[math.log(3.0), -1.0], [-5.0, math.log(2.0)]]], device=device)
    # token 0: exp(logits) = [3, 1/e, 1] -> experts 0 and 2, weights 3/4 and 1/4
    # token 1: exp(logits) = [e^-5, 2, 1] -> experts 1 and 2, weights 2/3 and 1/3
    output, router_logits = call(impl.SparseMoE.forward, moe, x)
    expected = torch.stack([x[0, 0] * (0.75 * 1.0 + 0.25 * 100.0),
                            x[0, 1] * (2 / 3 * 10.0 + 1 / 3 * 100.0)])[None]
    assert_close(output, expected, what="MoE output (sum over chosen experts of gate · output)")
    assert_close(router_logits, torch.tensor([[math.log(3.0), -1.0, 0.0],
                                              [-5.0, math.log(2.0), 0.0]], device=device),
                 what="router_logits (tokens, experts)")


# ---------------------------------------------------------------- properties

logit_shapes = st.tuples(size(12), size(6, 2))  # (tokens, experts)


@settings(max_examples=25)
@given(shape=logit_shapes, seed=seeds, data=st.data(), renormalize=st.booleans())
def test_route_weights_are_top_probabilities_and_sum_to_one(impl, device, shape, seed, data,
                                                             renormalize):
    tokens, experts = shape
    top_k = data.draw(st.integers(1, experts), label="top_k")
    logits = randn(shape, seed, device=device, scale=2.0)
    weights, expert_ids = call(impl.route, logits, top_k, renormalize=renormalize)
    probs = torch.softmax(logits.double(), dim=-1)
    chosen = probs.gather(-1, expert_ids)
    assert bool((chosen[:, :-1] >= chosen[:, 1:]).all()), "expert_ids must be sorted by weight"
    assert bool((chosen.min(-1).values >= probs.topk(top_k, -1).values[:, -1] - 1e-12).all()), (
        f"expert_ids are not the top_k={top_k} experts by probability")
    ordered = expert_ids.sort(dim=-1).values
    assert bool((ordered[:, 1:] != ordered[:, :-1]).all()), (
        f"a token chose the same expert twice: {expert_ids.tolist()}")
    if renormalize:
        assert_close(weights.sum(-1), torch.ones(tokens, device=device),
                     what="sum of each token's renormalised gate weights")
        assert_close(weights, (chosen / chosen.sum(-1, keepdim=True)).float(),
                     what="renormalised weights (chosen probabilities / their sum)")
    else:
        assert_close(weights, chosen.float(), what="raw gate weights (softmax over all experts)")


@settings(max_examples=25)
@given(shape=logit_shapes, seed=seeds, data=st.data(), shift=st.floats(-30, 30))
def test_renormalised_weights_equal_softmax_over_chosen_logits_and_ignore_shifts(
        impl, device, shape, seed, data, shift):
    top_k = data.draw(st.integers(1, shape[1]), label="top_k")
    logits = randn(shape, seed, device=device, scale=2.0)
    weights, expert_ids = call(impl.route, logits, top_k)
    shifted, shifted_ids = call(impl.route, logits + shift, top_k)
    assert_equal(shifted_ids, expert_ids, what=f"expert_ids after adding {shift:g} to every logit")
    assert_close(shifted, weights, what=f"weights after adding {shift:g} to every logit")
    assert_close(weights, torch.softmax(logits.gather(-1, expert_ids), dim=-1),
                 what="renormalised weights vs a softmax over the chosen logits only")


@settings(max_examples=25)
@given(shape=logit_shapes, seed=seeds, data=st.data())
def test_balanced_routing_with_uniform_probabilities_gives_top_k(impl, device, shape, seed, data):
    experts = shape[1]
    top_k = data.draw(st.integers(1, experts), label="top_k")
    tokens = experts * data.draw(size(3), label="tokens per expert")
    logits = torch.full((tokens, experts), 0.7, device=device)
    # token t uses experts t, t+1, ..., t+top_k-1 (mod experts): each expert equally often
    ids = (torch.arange(tokens)[:, None] + torch.arange(top_k)[None]) % experts
    loss = call(impl.load_balancing_loss, logits, ids.to(device))
    assert_close(loss, torch.tensor(float(top_k), device=device),
                 what=f"loss for perfectly balanced top_k={top_k} routing (N · Σ (k/N)(1/N) = k)")


@settings(max_examples=25)
@given(shape=logit_shapes, seed=seeds, data=st.data())
def test_loss_ignores_token_order_and_expert_labels(impl, device, shape, seed, data):
    tokens, experts = shape
    top_k = data.draw(st.integers(1, experts), label="top_k")
    logits = randn(shape, seed, device=device)
    ids = _routing(logits, top_k)[1]
    loss = call(impl.load_balancing_loss, logits, ids)
    generator = torch.Generator().manual_seed(seed)
    token_order = torch.randperm(tokens, generator=generator).to(device)
    labels = torch.randperm(experts, generator=generator).to(device)  # expert e -> labels[e]
    relabelled = torch.empty_like(logits).scatter_(-1, labels.expand(tokens, -1), logits)
    moved = call(impl.load_balancing_loss, relabelled[token_order], labels[ids][token_order])
    assert_close(moved, loss, what="loss after shuffling tokens and renaming experts")


@settings(max_examples=25)
@given(shape=logit_shapes, seed=seeds, data=st.data())
def test_loss_gradient_flows_through_mean_probabilities_only(impl, device, shape, seed, data):
    tokens, experts = shape
    top_k = data.draw(st.integers(1, experts), label="top_k")
    logits = randn(shape, seed, device=device, dtype=torch.float64).requires_grad_()
    ids = _routing(logits.detach(), top_k)[1]
    loss = call(impl.load_balancing_loss, logits, ids)
    assert loss.requires_grad, "the loss must be differentiable with respect to router_logits"
    (grad,) = torch.autograd.grad(loss, logits)
    fraction = torch.zeros(experts, dtype=torch.float64, device=device).index_add_(
        0, ids.flatten(), torch.ones(ids.numel(), dtype=torch.float64, device=device)) / tokens
    # d/dlogits of N · Σ_i f_i · mean_t softmax(logits_t)_i with f held constant
    (expected,) = torch.autograd.grad(
        experts * (fraction * torch.softmax(logits, -1).mean(0)).sum(), logits)
    assert_close(grad, expected, what="gradient of the loss with respect to router_logits "
                 "(f_i is a count: no gradient through it)")


@settings(max_examples=15)
@given(seed=seeds, batch=size(2), seq=size(5), top_k=st.integers(1, 4))
def test_each_expert_sees_only_its_tokens(impl, device, seed, batch, seq, top_k):
    moe = _moe(impl, seed, num_experts=4, top_k=top_k, device=device)
    factors = (1.0, -2.0, 3.0, 0.5)
    moe.experts = torch.nn.ModuleList(Scale(f) for f in factors)
    x = randn((batch, seq, 4), seed, device=device)
    output, _ = call(impl.SparseMoE.forward, moe, x)
    _, ids = _routing(x.reshape(-1, 4) @ moe.router.weight.detach().T, top_k)
    for e, expert in enumerate(moe.experts):
        routed = int((ids == e).sum())
        assert expert.rows == routed, (
            f"expert {e} processed {expert.rows} rows but {routed} tokens were routed to it: run "
            "each expert only on its tokens (x[token_idx]), not on the whole batch")


@settings(max_examples=15)
@given(seed=seeds, batch=size(2), seq=size(5), num_experts=size(5, 2), data=st.data())
def test_moe_equals_dense_weighted_mixture(impl, device, seed, batch, seq, num_experts, data):
    top_k = data.draw(st.integers(1, num_experts), label="top_k")
    moe = _moe(impl, seed, num_experts=num_experts, top_k=top_k, device=device)
    x = randn((batch, seq, 4), seed, device=device)
    output, router_logits = call(impl.SparseMoE.forward, moe, x)
    expected = _dense_mixture(moe, x)
    assert_close(output, expected.float(), what=f"MoE output vs the dense mixture of all experts "
                 f"(top_k={top_k} of {num_experts})")
    assert_close(router_logits, (x.reshape(-1, 4) @ moe.router.weight.detach().T),
                 what="router_logits (tokens, experts)")


@settings(max_examples=10)
@given(seed=seeds, batch=size(2), seq=size(4))
def test_single_expert_layer_equals_that_expert(impl, device, seed, batch, seq):
    moe = _moe(impl, seed, num_experts=1, top_k=1, device=device)
    x = randn((batch, seq, 4), seed, device=device)
    output, _ = call(impl.SparseMoE.forward, moe, x)
    with torch.no_grad():
        expected = moe.experts[0](x)
    assert_close(output, expected, what="a one-expert MoE (gate weight 1) vs the expert itself")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_forward_keeps_dtype_and_matches_float64(impl, device, dtype):
    # Gate weights (float32 from `route`) are cast to the input dtype before weighting.
    moe = _moe(impl, 3, num_experts=4, top_k=2, device=device).to(dtype)
    x = randn((2, 3, 4), 3, device=device).to(dtype)
    output, _ = call(impl.SparseMoE.forward, moe, x)
    assert output.dtype == dtype, f"output must be in the input dtype {dtype}, got {output.dtype}"
    assert_close(output, _dense_mixture(moe, x).to(dtype),
                 what=f"{dtype} MoE output vs the float64 dense mixture")


# ---------------------------------------------------------------- oracle


@settings(max_examples=25)
@given(shape=logit_shapes, seed=seeds, data=st.data(),
       dtype=st.sampled_from((torch.float16, torch.bfloat16, torch.float32)))
def test_route_matches_float64_for_any_input_dtype(impl, device, shape, seed, data, dtype):
    top_k = data.draw(st.integers(1, shape[1]), label="top_k")
    logits = randn(shape, seed, device=device, scale=2.0).to(dtype)
    expected, expected_ids = _routing(logits, top_k)
    weights, expert_ids = call(impl.route, logits, top_k)
    probs = torch.sort(torch.softmax(logits.double(), -1), dim=-1, descending=True).values
    if bool((probs.diff(dim=-1).abs() > 1e-6).all()):  # no tied experts: ids are determined
        assert_equal(expert_ids, expected_ids, what="expert_ids")
    assert_close(weights, expected.float(), what=f"gate weights from {dtype} logits (float32, "
                 "softmax computed in float32)")


@settings(max_examples=25)
@given(shape=logit_shapes, seed=seeds, data=st.data())
def test_loss_matches_switch_formula(impl, device, shape, seed, data):
    tokens, experts = shape
    top_k = data.draw(st.integers(1, experts), label="top_k")
    logits = randn(shape, seed, device=device, scale=2.0)
    ids = torch.randint(0, experts, (tokens, top_k), generator=torch.Generator().manual_seed(seed))
    ids = ids.to(device)
    probs = torch.softmax(logits.double(), dim=-1)
    fraction = torch.stack([(ids == e).sum() for e in range(experts)]).double() / tokens
    expected = experts * (fraction * probs.mean(0)).sum()
    loss = call(impl.load_balancing_loss, logits, ids)
    assert_close(loss, expected.float(), what="N · Σ_i f_i · P_i")


def test_float64_logits_are_routed_in_float64(impl, device):
    # Logits 1e8 and 1e8 + 1 are equal in float32. In float64 the two chosen experts have
    # probabilities proportional to e and 1: renormalised weights e/(1+e) and 1/(1+e).
    logits = torch.tensor([[1e8, 1e8 + 1.0, 0.0]], dtype=torch.float64, device=device)
    weights, expert_ids = call(impl.route, logits, 2)
    high = math.e / (1 + math.e)
    assert_equal(expert_ids, torch.tensor([[1, 0]], device=device), what="expert_ids")
    assert_close(weights, torch.tensor([[high, 1 - high]], dtype=torch.float64, device=device),
                 what="float64 gate weights (a float32 softmax gives [0.5, 0.5])")
    loss = call(impl.load_balancing_loss, logits, expert_ids)
    # f = [1, 1, 0] (one token, two slots), P = [1 - high, high, ~0]: loss = 3 · (P_0 + P_1)
    expected = 3 * (1 / (1 + math.e) + high + 0.0)
    assert_close(loss, torch.tensor(expected, dtype=torch.float64, device=device),
                 what="float64 load-balancing loss")


@pytest.mark.parametrize("top_k", [1, 3])
def test_top_k_of_one_and_of_every_expert_are_accepted(impl, device, top_k):
    logits = torch.tensor([[0.2, 0.5, 0.3]], device=device).log()
    weights, expert_ids = call(impl.route, logits, top_k, renormalize=False)
    expected_ids, expected = [1, 2, 0][:top_k], [0.5, 0.3, 0.2][:top_k]
    assert_equal(expert_ids, torch.tensor([expected_ids], device=device),
                 what=f"expert_ids with top_k={top_k} of 3 experts")
    assert_close(weights, torch.tensor([expected], device=device),
                 what=f"raw gate weights with top_k={top_k}")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("top_k", [0, 4])
def test_top_k_out_of_range_raises_value_error_naming_it(impl, device, top_k):
    with pytest.raises(ValueError) as raised:
        call(impl.route, torch.zeros(2, 3, device=device), top_k)
    assert str(top_k) in str(raised.value) and "3" in str(raised.value), (
        f"the ValueError should name top_k={top_k} and the 3 experts; it said: "
        f"{str(raised.value)!r}")
