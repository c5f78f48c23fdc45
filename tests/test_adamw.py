"""Grader for the `adamw` kata: worked examples, properties, then torch.optim.AdamW as oracle."""

import math
import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.strategies import bernoulli, randn, seeds, size

shapes = st.lists(size(4), min_size=1, max_size=2).map(tuple)
hyper = st.fixed_dictionaries({
    "lr": st.sampled_from((1e-3, 1e-2, 0.1)),
    "betas": st.tuples(st.sampled_from((0.0, 0.5, 0.9)), st.sampled_from((0.9, 0.99, 0.999))),
    "eps": st.sampled_from((1e-8, 1e-3, 0.1, 1.0)),
    "weight_decay": st.sampled_from((0.0, 0.01, 0.1, 0.5)),
})


def _torch_step(param, grad, exp_avg, exp_avg_sq, step, **hp):
    """torch.optim.AdamW's update from a given state (step − 1 updates done)."""
    p = param.clone()
    p.grad = grad.clone()
    optimizer = torch.optim.AdamW([p], foreach=False, **hp)
    optimizer.state[p] = {"step": torch.tensor(float(step - 1)), "exp_avg": exp_avg.clone(),
                          "exp_avg_sq": exp_avg_sq.clone()}
    optimizer.step()
    state = optimizer.state[p]
    return p, state["exp_avg"], state["exp_avg_sq"]


# ---------------------------------------------------------------- worked examples


def test_first_step_moves_each_weight_by_lr_against_the_gradient_sign(impl, device):
    param = torch.tensor([1.0, -2.0], device=device)
    grad = torch.tensor([0.5, -4.0], device=device)
    zeros = torch.zeros(2, device=device)
    # m = 0.1·g, v = 0.001·g²; bias-corrected m̂ = g, v̂ = g², so the step is lr·g/|g|.
    new_param, exp_avg, exp_avg_sq = call(impl.adamw_update, param, grad, zeros, zeros, 1,
                                          lr=0.1, betas=(0.9, 0.999), eps=0.0, weight_decay=0.0)
    assert_close(exp_avg, torch.tensor([0.05, -0.4], device=device), what="exp_avg = 0.1·g")
    assert_close(exp_avg_sq, torch.tensor([0.00025, 0.016], device=device),
                 what="exp_avg_sq = 0.001·g²")
    assert_close(new_param, torch.tensor([0.9, -1.9], device=device),
                 what="param after the first step (bias correction makes it exactly lr·sign(g))")


def test_weight_decay_is_decoupled_from_the_gradient(impl, device):
    param = torch.tensor([2.0, -1.0], device=device)
    zeros = torch.zeros(2, device=device)
    # zero gradient: the moments stay 0 and only the decay acts: param·(1 − lr·wd) = param·0.95.
    # (Adam + L2 would feed wd·param into the moments and step by lr·sign(param).)
    new_param, exp_avg, exp_avg_sq = call(impl.adamw_update, param, zeros, zeros, zeros, 1,
                                          lr=0.1, weight_decay=0.5)
    assert_close(new_param, torch.tensor([1.9, -0.95], device=device),
                 what="param after a zero-gradient step with lr=0.1, weight_decay=0.5")
    assert_close(exp_avg, zeros, what="exp_avg (weight decay must not enter the moments)")
    assert_close(exp_avg_sq, zeros, what="exp_avg_sq (weight decay must not enter the moments)")


def test_constant_gradient_has_bias_corrected_moments_equal_to_g(impl, device):
    # After t steps of the same gradient g: m = (1 − β1^t)·g and v = (1 − β2^t)·g², so m̂ = g and
    # v̂ = g² and the step is lr·g/(|g| + eps). Here t = 5, g = 2, eps = 1: lr·2/3.
    beta1, beta2, g, lr, wd = 0.9, 0.999, 2.0, 0.01, 0.1
    param = torch.tensor([3.0], dtype=torch.float64, device=device)
    grad = torch.tensor([g], dtype=torch.float64, device=device)
    exp_avg = (1 - beta1**4) * grad
    exp_avg_sq = (1 - beta2**4) * grad**2
    new_param, _, _ = call(impl.adamw_update, param, grad, exp_avg, exp_avg_sq, 5, lr=lr,
                           betas=(beta1, beta2), eps=1.0, weight_decay=wd)
    expected = torch.tensor([3.0 * (1 - lr * wd) - lr * g / (g + 1.0)], dtype=torch.float64,
                            device=device)
    assert_close(new_param, expected, what="step 5 of a constant gradient 2 with eps=1")


# ---------------------------------------------------------------- properties


@given(shape=shapes, seed=seeds, hp=hyper)
def test_update_changes_none_of_its_inputs(impl, device, shape, seed, hp):
    tensors = [randn(shape, seed + i, device=device) for i in range(4)]
    tensors[3] = tensors[3].abs()  # exp_avg_sq >= 0
    before = [t.clone() for t in tensors]
    call(impl.adamw_update, *tensors, 3, **hp)
    for name, now, then in zip(("param", "grad", "exp_avg", "exp_avg_sq"), tensors, before):
        assert torch.equal(now, then), (
            f"adamw_update changed its input `{name}` in place; it must return new tensors")


@given(shape=shapes, seed=seeds, lr=st.sampled_from((1e-3, 0.1, 1.0)),
       beta1=st.sampled_from((0.0, 0.9)), beta2=st.sampled_from((0.5, 0.999)))
def test_first_step_is_lr_times_sign_of_gradient(impl, device, shape, seed, lr, beta1, beta2):
    param = randn(shape, seed, dtype=torch.float64, device=device)
    grad = randn(shape, seed + 1, dtype=torch.float64, device=device)
    zeros = torch.zeros_like(param)
    new_param, _, _ = call(impl.adamw_update, param, grad, zeros, zeros, 1, lr=lr,
                           betas=(beta1, beta2), eps=0.0, weight_decay=0.0)
    assert_close(param - new_param, lr * grad.sign(),
                 what=f"first-step change with lr={lr}, betas=({beta1}, {beta2}), eps=0")


@given(shape=shapes, seed=seeds, scale=st.floats(1e-3, 1e3), hp=hyper)
def test_update_is_invariant_to_gradient_scale_when_eps_is_zero(impl, device, shape, seed,
                                                                scale, hp):
    hp = {**hp, "eps": 0.0}
    param = randn(shape, seed, dtype=torch.float64, device=device)
    runs = []
    for factor in (1.0, scale):
        p, m, v = param, torch.zeros_like(param), torch.zeros_like(param)
        for step in range(1, 4):
            grad = randn(shape, seed + step, dtype=torch.float64, device=device) * factor
            p, m, v = call(impl.adamw_update, p, grad, m, v, step, **hp)
        runs.append(p)
    assert_close(runs[1], runs[0], what=f"params after 3 steps with gradients × {scale:g}")


@given(shape=shapes, seed=seeds, hp=hyper, steps=size(6))
def test_zero_gradients_only_decay_the_weights(impl, device, shape, seed, hp, steps):
    param = randn(shape, seed, dtype=torch.float64, device=device)
    weight = param.clone()
    optimizer = impl.AdamW([weight], **hp)
    for _ in range(steps):
        weight.grad = torch.zeros_like(weight)
        call(optimizer.step)
    factor = (1 - hp["lr"] * hp["weight_decay"]) ** steps
    assert_close(weight, param * factor,
                 what=f"param after {steps} zero-gradient steps: param·(1 − lr·wd)^{steps}")


# ---------------------------------------------------------------- oracle


@given(shape=shapes, seed=seeds, hp=hyper, step=st.sampled_from((1, 2, 3, 10, 1000)))
def test_update_matches_torch_adamw_from_any_state(impl, device, shape, seed, hp, step):
    param, grad, exp_avg = (randn(shape, seed + i, dtype=torch.float64, device=device)
                            for i in range(3))
    exp_avg_sq = randn(shape, seed + 3, dtype=torch.float64, device=device) ** 2
    expected = _torch_step(param, grad, exp_avg, exp_avg_sq, step, **hp)
    output = call(impl.adamw_update, param, grad, exp_avg, exp_avg_sq, step, **hp)
    assert isinstance(output, tuple) and len(output) == 3, (
        "adamw_update must return (new_param, new_exp_avg, new_exp_avg_sq)")
    for name, got, want in zip(("new_param", "new_exp_avg", "new_exp_avg_sq"), output, expected):
        assert_close(got, want, what=f"{name} at step {step} with {hp}")


@given(shapes_=st.lists(shapes, min_size=1, max_size=3), seed=seeds, hp=hyper, steps=size(8))
def test_many_steps_match_torch_adamw_with_missing_grads(impl, device, shapes_, seed, hp, steps):
    ours = [randn(s, seed + i, dtype=torch.float64, device=device) for i, s in enumerate(shapes_)]
    theirs = [p.clone() for p in ours]
    optimizer = impl.AdamW(ours, **hp)
    oracle = torch.optim.AdamW(theirs, foreach=False, **hp)
    present = bernoulli((steps, len(ours)), seed, 0.75)  # some params get no grad some steps
    for step in range(steps):
        for i, (mine, other) in enumerate(zip(ours, theirs)):
            grad = randn(mine.shape, seed + 100 * step + i, dtype=torch.float64, device=device)
            mine.grad = grad.clone() if present[step, i] else None
            other.grad = grad.clone() if present[step, i] else None
        call(optimizer.step)
        oracle.step()
        for i, (mine, other) in enumerate(zip(ours, theirs)):
            assert_close(mine, other, what=f"param {i} after step {step + 1} with {hp} "
                                           f"(grad present: {present[: step + 1, i].tolist()})")


def test_training_a_linear_model_matches_torch_adamw(impl, device):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2).to(device)
    twin = torch.nn.Linear(4, 2).to(device)
    twin.load_state_dict(model.state_dict())
    x, y = randn((16, 4), 1, device=device), randn((16, 2), 2, device=device)
    optimizer = impl.AdamW(model.parameters(), lr=0.05, weight_decay=0.1)
    oracle = torch.optim.AdamW(twin.parameters(), lr=0.05, weight_decay=0.1, foreach=False)
    for step in range(20):
        for net, opt in ((model, optimizer), (twin, oracle)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(x), y).backward()
        call(optimizer.step)
        oracle.step()
    assert_close(model.weight, twin.weight, what="weight after 20 float32 training steps")
    assert_close(model.bias, twin.bias, what="bias after 20 float32 training steps")


def test_float64_step_is_computed_in_float64(impl, device):
    # Step 1, eps 0: m̂ = g and v̂ = g², so the step is exactly lr · sign(g). In float32 the bias
    # corrections 1 - 0.9 and 1 - 0.999 are off by up to 1.3e-5 (relative), visible in float64.
    param = torch.tensor([1.0, -2.0], dtype=torch.float64, device=device)
    grad = torch.tensor([0.5, -3.0], dtype=torch.float64, device=device)
    zeros = torch.zeros(2, dtype=torch.float64, device=device)
    new_param, exp_avg, exp_avg_sq = call(impl.adamw_update, param, grad, zeros, zeros, 1,
                                          lr=0.1, eps=0.0, weight_decay=0.01)
    expected = torch.tensor([1.0 * (1 - 0.001) - 0.1, -2.0 * (1 - 0.001) + 0.1],
                            dtype=torch.float64, device=device)
    assert_close(new_param, expected, what="float64 param after one step (lr·sign(g) with eps 0)")
    assert_close(exp_avg, 0.1 * grad, what="float64 exp_avg after one step")
    assert_close(exp_avg_sq, 0.001 * grad * grad, what="float64 exp_avg_sq after one step")


@pytest.mark.parametrize(("field", "value"),
                         [("lr", 0.0), ("eps", 0.0), ("weight_decay", 0.0), ("betas", (0.0, 0.0))],
                         ids=["lr", "eps", "weight_decay", "betas"])
def test_arguments_at_the_edge_of_their_range_are_accepted(impl, device, field, value):
    # lr = 0 is where warm-up schedules start; betas (0, 0) make m = g and v = g².
    param = torch.tensor([1.0, -2.0], device=device)
    grad = torch.tensor([0.5, -3.0], device=device)
    zeros = torch.zeros(2, device=device)
    kwargs = {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}
    kwargs[field] = value
    lr, (beta1, beta2), eps, decay = (kwargs[k] for k in ("lr", "betas", "eps", "weight_decay"))
    m = [(1 - beta1) * g for g in (0.5, -3.0)]
    v = [(1 - beta2) * g * g for g in (0.5, -3.0)]
    expected = [p * (1 - lr * decay) - lr * (mi / (1 - beta1)) / (math.sqrt(vi / (1 - beta2)) + eps)
                for p, mi, vi in zip((1.0, -2.0), m, v, strict=True)]
    new_param, _, _ = call(impl.adamw_update, param, grad, zeros, zeros, 1, **kwargs)
    assert_close(new_param, torch.tensor(expected, device=device),
                 what=f"param after one step with {field}={value} (the last valid value)")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(("field", "value", "shown"),
                         [("step", 0, "0"), ("lr", -0.1, "-0.1"), ("betas", (0.9, 1.0), "1.0"),
                          ("betas", (1.0, 0.999), "1.0"),
                          ("betas", (-0.5, 0.999), "-0.5"), ("eps", -1e-8, "-1e-08"),
                          ("weight_decay", -0.01, "-0.01")],
                         ids=["step", "lr", "beta2", "beta1_one", "beta1", "eps", "weight_decay"])
def test_out_of_range_arguments_raise_value_error_naming_them(impl, device, field, value, shown):
    zeros = torch.zeros(3, device=device)
    kwargs = {"step": 1, "lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}
    kwargs[field] = value
    with pytest.raises(ValueError) as raised:
        call(impl.adamw_update, zeros, zeros, zeros, zeros, **kwargs)
    assert re.search(re.escape(shown), str(raised.value)), (
        f"the ValueError should name the bad value {shown}; it said: {str(raised.value)!r}")
