"""Grader for the `mixed_precision` kata: GradScaler's schedule by hand, torch's AMP as oracle."""

import math

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn

from kata.check import assert_close, assert_equal, call
from kata.strategies import randn, seeds, size

INF, NAN = float("inf"), float("nan")


def _param_and_optimizer(value=1.0, lr=0.1):
    param = nn.Parameter(torch.full((3,), value))
    return param, torch.optim.SGD([param], lr=lr)


def _scaled_backward(scale_loss, param, gradient):
    """backward of scale_loss(param · gradient summed): param.grad = gradient · scale."""
    param.grad = None
    scale_loss((param * gradient).sum()).backward()


def _run_scaler(scaler, gradients, lr=0.1):
    """SGD on one parameter with the given per-step gradient; (scales, stepped, values)."""
    param, optimizer = _param_and_optimizer(lr=lr)
    scales, stepped, values = [], [], []
    for gradient in gradients:
        _scaled_backward(scaler.scale_loss, param, gradient)
        stepped.append(call(scaler.step, optimizer))
        call(scaler.update)
        scales.append(scaler.scale)
        values.append(param.detach()[0].item())
    return scales, stepped, values


# ---------------------------------------------------------------- worked examples


def test_scaler_schedule_worked_example(impl):
    # growth_interval 2: back off (x0.5) after inf/NaN and restart the count; the 2nd clean
    # step in a row doubles the scale and restarts the count. SGD lr 0.1 on gradient 1.
    scaler = call(impl.DynamicLossScaler, init_scale=8.0, growth_interval=2)
    scales, stepped, values = _run_scaler(scaler, [1.0, INF, 1.0, 1.0, 1.0, NAN])
    assert scales == [8.0, 4.0, 4.0, 8.0, 8.0, 4.0], (
        f"scale after each update: expected [8 (1 clean), 4 (inf: backoff), 4 (1 clean), "
        f"8 (2 clean: growth), 8 (1 clean), 4 (NaN: backoff)], got {scales}")
    assert stepped == [True, False, True, True, True, False], (
        f"step() taken? expected a skip exactly on the inf and NaN steps, got {stepped}")
    assert values == pytest.approx([0.9, 0.9, 0.8, 0.7, 0.6, 0.6]), (
        f"parameter after each step: the skipped steps must leave it unchanged, got {values}")


def test_unscale_divides_gradients_by_the_scale(impl):
    scaler = call(impl.DynamicLossScaler, init_scale=8.0)
    param, optimizer = _param_and_optimizer()
    _scaled_backward(scaler.scale_loss, param, torch.tensor([1.0, 2.0, -0.5]))
    assert_close(param.grad, torch.tensor([8.0, 16.0, -4.0]), what="gradient of the scaled loss")
    call(scaler.unscale_, optimizer)
    assert_close(param.grad, torch.tensor([1.0, 2.0, -0.5]), what="gradient after unscale_")
    assert call(scaler.step, optimizer) is True, "a finite step must be taken"
    assert_close(param.detach(), torch.tensor([0.9, 0.8, 1.05]),
                 what="parameter after step(): step must not unscale a second time")


def test_unscale_multiplies_by_the_float32_reciprocal(impl):
    # GradScaler multiplies by float32(1 / scale), 1 / scale taken in float64; for a scale that
    # is not a power of two this differs from dividing by the scale in the last bit: with
    # scale 3, 0.3 * float32(1/3) is 0.10000000894 while 0.3 / 3 is 0.10000000149.
    scaler = call(impl.DynamicLossScaler, init_scale=3.0)
    param, optimizer = _param_and_optimizer()
    _scaled_backward(scaler.scale_loss, param, torch.tensor([0.1, 0.2, 1.0]))
    scaled = param.grad.clone()
    expected = scaled * torch.tensor(3.0, dtype=torch.float64).reciprocal().float()
    assert (expected != scaled / 3).any(), "test self-check: the example must tell mul from div"
    call(scaler.unscale_, optimizer)
    assert_equal(param.grad, expected,
                 what="gradients after unscale_ with scale 3: grad * float32(1/3), bit for bit "
                      "as GradScaler (not grad / 3)")


def test_clip_grad_norm_worked_example(impl):
    first, second = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(2))
    first.grad, second.grad = torch.tensor([3.0]), torch.tensor([0.0, -4.0])  # global norm 5
    total = call(impl.clip_grad_norm_, [first, second], 1.0)
    assert_close(total, torch.tensor(5.0), what="total norm sqrt(3² + 4²)")
    coefficient = 1.0 / (5.0 + 1e-6)
    assert_close(first.grad, torch.tensor([3.0 * coefficient]), what="clipped first gradient")
    assert_close(second.grad, torch.tensor([0.0, -4.0 * coefficient]),
                 what="clipped second gradient (one global norm, not one per tensor)")
    first.grad, second.grad = torch.tensor([3.0]), torch.tensor([0.0, -4.0])
    call(impl.clip_grad_norm_, [first, second], 10.0)
    assert_close(second.grad, torch.tensor([0.0, -4.0]),
                 what="gradient under max_norm: left alone (the coefficient is capped at 1)")
    total = call(impl.clip_grad_norm_, [first, second], 2.0, norm_type=math.inf)
    assert_close(total, torch.tensor(4.0), what="inf-norm: the largest |g|")
    assert_close(second.grad, torch.tensor([0.0, -4.0 * 2.0 / (4.0 + 1e-6)]),
                 what="gradient clipped to inf-norm 2")


def test_master_weights_keep_updates_too_small_for_bf16(impl):
    # lr · grad = 1e-3 is below half the bf16 spacing under 1.0 (2^-9 ≈ 0.00195): a bf16
    # weight would never move; the fp32 master accumulates ten of them.
    model = nn.Linear(1, 1, bias=False).bfloat16()
    with torch.no_grad():
        model.weight.fill_(1.0)
    master = impl.make_master_params(model)
    optimizer = torch.optim.SGD(master, lr=1e-3)
    scaler = call(impl.DynamicLossScaler, init_scale=1024.0)
    x = torch.ones(1, 1, dtype=torch.bfloat16)
    for _ in range(10):
        _, stepped = call(impl.train_step, model, master, optimizer, scaler,
                          lambda m: m(x).float().sum())
        assert stepped, "a bf16 step with gradient 1 · 1024 must not overflow"
    assert_close(master[0].detach(), torch.tensor([[0.99]]),
                 what="fp32 master weight after 10 SGD steps of 1e-3")
    assert_close(model.weight.detach(), torch.tensor([[0.99]]).bfloat16(),
                 what="bf16 model weight = the master weight cast to bf16")
    assert model.weight.grad is None, "train_step must leave no gradient on the model"


def test_overflowing_step_is_skipped_and_the_scale_backs_off(impl):
    # With scale 2^16 a gradient of 4 is 262144 in fp16: inf (fp16 max 65504).
    model = nn.Linear(2, 1, bias=False).half()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5, -0.5]]))
    master = impl.make_master_params(model)
    optimizer = torch.optim.SGD(master, lr=0.1)
    scaler = call(impl.DynamicLossScaler)
    x = torch.tensor([[4.0, 4.0]], dtype=torch.float16)
    _, stepped = call(impl.train_step, model, master, optimizer, scaler,
                      lambda m: m(x).float().sum())
    assert stepped is False, "scaled fp16 gradients overflowed: the step must be skipped"
    assert scaler.scale == 2.0**15, f"the scale must back off to 2^15, got {scaler.scale}"
    assert_close(master[0].detach(), torch.tensor([[0.5, -0.5]]),
                 what="master weights after a skipped step (unchanged)")
    _, stepped = call(impl.train_step, model, master, optimizer, scaler,
                      lambda m: m(x / 8).float().sum())
    assert stepped is True, "gradient 0.5 · 2^15 fits in fp16: the step must be taken"
    assert_close(master[0].detach(), torch.tensor([[0.45, -0.55]]),
                 what="master weights after SGD with the unscaled gradient 0.5")


# ---------------------------------------------------------------- properties


@given(seed=seeds, shapes=st.lists(st.tuples(size(4), size(3)), min_size=1, max_size=4),
       max_norm=st.sampled_from([0.1, 1.0, 5.0]), norm_type=st.sampled_from([1.0, 2.0, math.inf]))
def test_clipped_gradients_have_norm_at_most_max_norm(impl, seed, shapes, max_norm, norm_type):
    params = [nn.Parameter(torch.zeros(shape)) for shape in shapes]
    for index, param in enumerate(params):
        param.grad = randn(param.shape, seed + index, scale=2.0)
    original = [param.grad.clone() for param in params]
    total = call(impl.clip_grad_norm_, (param for param in params), max_norm, norm_type)
    grads = torch.cat([param.grad.flatten() for param in params])
    after = grads.abs().max() if norm_type == math.inf else torch.linalg.vector_norm(grads,
                                                                                     norm_type)
    limit = max_norm * (1 + 1e-5) if total > max_norm else total * (1 + 1e-5)
    assert after <= limit, (
        f"after clipping (given a generator of parameters) the {norm_type}-norm is {after:.5g} "
        f"> max_norm {max_norm}: were the gradients rescaled? (a generator can be iterated only "
        "once: make a list first)")
    ratios = [(param.grad / grad)[grad != 0] for param, grad in zip(params, original)]
    ratio = torch.cat(ratios)
    assert_close(ratio, torch.full_like(ratio, ratio[0].item()),
                 what="new / old gradient: one coefficient for every parameter (global norm)")


def test_float64_gradients_give_a_float64_norm(impl):
    # 1e-30 squared underflows in float32 (norm 0) but not in float64.
    param = nn.Parameter(torch.zeros(4, dtype=torch.float64))
    param.grad = torch.full((4,), 1e-30, dtype=torch.float64)
    total = call(impl.clip_grad_norm_, [param], 1.0)
    assert_close(total, torch.tensor(2e-30, dtype=torch.float64),
                 what="total norm of float64 gradients (computed in float64)", atol=0)


# ---------------------------------------------------------------- torch oracles


def _torch_scaler(init_scale, growth_factor, backoff_factor, growth_interval):
    return torch.amp.GradScaler("cpu", init_scale=init_scale, growth_factor=growth_factor,
                                backoff_factor=backoff_factor, growth_interval=growth_interval)


@given(steps=st.lists(st.sampled_from([1.0, -2.0, 0.5, INF, NAN]), min_size=1, max_size=12),
       init_scale=st.sampled_from([1.0, 8.0, 2.0**16]), growth_factor=st.sampled_from([2.0, 4.0]),
       backoff_factor=st.sampled_from([0.5, 0.25]), growth_interval=st.integers(1, 3))
@example(steps=[1.0, 1.0, INF, 1.0, 1.0, 1.0], init_scale=2.0**16, growth_factor=2.0,
         backoff_factor=0.5, growth_interval=2)
def test_scaler_matches_torch_grad_scaler(impl, steps, init_scale, growth_factor, backoff_factor,
                                          growth_interval):
    options = dict(init_scale=init_scale, growth_factor=growth_factor,
                   backoff_factor=backoff_factor, growth_interval=growth_interval)
    scaler = call(impl.DynamicLossScaler, **options)
    scales, _, values = _run_scaler(scaler, steps)
    oracle = _torch_scaler(**options)
    param, optimizer = _param_and_optimizer()
    for step, (gradient, scale, value) in enumerate(zip(steps, scales, values, strict=True)):
        _scaled_backward(oracle.scale, param, gradient)
        oracle.step(optimizer)
        oracle.update()
        assert scale == oracle.get_scale(), (
            f"after step {step} of gradients {steps}: scale {scale}, GradScaler's "
            f"{oracle.get_scale()} ({options})")
        assert value == pytest.approx(param.detach()[0].item()), (
            f"after step {step} of gradients {steps}: parameter {value}, GradScaler's "
            f"{param.detach()[0].item()}")


@given(seed=seeds, shapes=st.lists(st.tuples(size(4), size(3)), min_size=1, max_size=4),
       max_norm=st.sampled_from([0.1, 1.0, 100.0]),
       norm_type=st.sampled_from([1.0, 2.0, 3.0, math.inf]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_clip_matches_torch_clip_grad_norm(impl, seed, shapes, max_norm, norm_type, dtype):
    params = [nn.Parameter(torch.zeros(shape, dtype=dtype)) for shape in shapes]
    expected = [nn.Parameter(torch.zeros(shape, dtype=dtype)) for shape in shapes]
    for index, (param, other) in enumerate(zip(params, expected, strict=True)):
        param.grad = randn(param.shape, seed + index, dtype=dtype)
        other.grad = param.grad.clone()
    total = call(impl.clip_grad_norm_, params, max_norm, norm_type)
    expected_total = torch.nn.utils.clip_grad_norm_(expected, max_norm, norm_type)
    assert_close(total, expected_total, what=f"total {norm_type}-norm vs clip_grad_norm_")
    for index, (param, other) in enumerate(zip(params, expected, strict=True)):
        assert_close(param.grad, other.grad, what=f"clipped gradient {index} vs clip_grad_norm_")


def _mlp(seed, dtype):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).to(dtype)


def _torch_train_step(model, master, optimizer, scaler, compute_loss, max_norm):
    """The same step with torch.amp.GradScaler and torch.nn.utils.clip_grad_norm_."""
    loss, scale_before = compute_loss(model), scaler.get_scale()
    scaler.scale(loss).backward()
    for param, copy_ in zip(model.parameters(), master, strict=True):
        copy_.grad, param.grad = param.grad.float(), None
    scaler.unscale_(optimizer)
    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_(master, max_norm)
    scaler.step(optimizer)
    scaler.update()
    with torch.no_grad():
        for param, copy_ in zip(model.parameters(), master, strict=True):
            param.copy_(copy_)
    return loss.item(), scaler.get_scale() >= scale_before  # the scale backs off iff skipped


@settings(max_examples=15)
@given(seed=seeds, dtype=st.sampled_from([torch.float16, torch.bfloat16]),
       max_norm=st.sampled_from([None, 0.5]), scales=st.lists(st.sampled_from([0.1, 1.0, 300.0]),
                                                              min_size=1, max_size=6))
@example(seed=0, dtype=torch.float16, max_norm=0.5, scales=[1.0, 300.0, 1.0, 1.0, 0.1])
def test_train_step_matches_torch_amp(impl, seed, dtype, max_norm, scales):
    # Inputs scaled by 300 overflow fp16 at scale 2^16 and make the scaler back off.
    model, expected_model = _mlp(seed, dtype), _mlp(seed, dtype)
    master, expected_master = impl.make_master_params(model), impl.make_master_params(
        expected_model)
    optimizer = torch.optim.SGD(master, lr=0.05, momentum=0.9)
    expected_optimizer = torch.optim.SGD(expected_master, lr=0.05, momentum=0.9)
    scaler = call(impl.DynamicLossScaler, growth_interval=2)
    expected_scaler = _torch_scaler(2.0**16, 2.0, 0.5, 2)
    target = randn((3, 2), seed + 1)
    for step, scale in enumerate(scales):
        x = (randn((3, 4), seed + 2 + step) * scale).to(dtype)

        def compute_loss(m, x=x):
            return ((m(x).float() - target) ** 2).mean()

        loss, stepped = call(impl.train_step, model, master, optimizer, scaler, compute_loss,
                             max_norm)
        expected_loss, expected_stepped = _torch_train_step(
            expected_model, expected_master, expected_optimizer, expected_scaler, compute_loss,
            max_norm)
        assert loss == pytest.approx(expected_loss, rel=1e-6), (
            f"step {step}: train_step returned loss {loss}, the unscaled loss is {expected_loss} "
            "(return compute_loss's value, not the loss multiplied by the scale)")
        assert stepped == expected_stepped, (
            f"step {step}: train_step says the optimizer step was taken: {stepped}; GradScaler "
            f"{'took' if expected_stepped else 'skipped'} it (an inf/NaN gradient skips it)")
        assert scaler.scale == expected_scaler.get_scale(), (
            f"step {step}: loss scale {scaler.scale}, GradScaler's {expected_scaler.get_scale()}")
        for index, (got, want) in enumerate(zip(master, expected_master, strict=True)):
            assert_close(got.detach(), want.detach(),
                         what=f"step {step} ({dtype}, max_norm={max_norm}): master parameter "
                              f"{index} vs torch AMP (unscale before clipping? skipped "
                              "overflow steps? gradients copied to the fp32 master?)")
        for index, (got, want) in enumerate(zip(model.parameters(), expected_model.parameters(),
                                                strict=True)):
            assert_close(got.detach(), want.detach(),
                         what=f"step {step}: model parameter {index} (master cast to {dtype})")


# ---------------------------------------------------------------- misuse


def test_unscale_twice_or_update_without_unscale_raises(impl):
    scaler = call(impl.DynamicLossScaler, init_scale=4.0)
    param, optimizer = _param_and_optimizer()
    _scaled_backward(scaler.scale_loss, param, torch.ones(3))
    call(scaler.unscale_, optimizer)  # once per iteration is fine
    with pytest.raises(RuntimeError):
        call(scaler.unscale_, optimizer)  # a second time would divide by the scale twice
    call(scaler.step, optimizer)
    call(scaler.update)
    with pytest.raises(RuntimeError):
        call(scaler.update)  # no unscale_/step since the last update: no overflow check
    _scaled_backward(scaler.scale_loss, param, torch.ones(3))
    call(scaler.unscale_, optimizer)  # update() starts a new iteration
    assert_close(param.grad, torch.ones(3), what="gradient unscaled in the next iteration")
