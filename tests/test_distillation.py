"""Grader for the `distillation` kata: worked examples, properties (autograd), the reference."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_close, call
from kata.strategies import randn, seeds, size

directions = st.sampled_from(["forward", "reverse"])
temperatures = st.sampled_from([0.5, 1.0, 2.0, 4.0])


def _kl(p, q):  # KL(p || q) of two lists of probabilities
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))


def _softmax(weights, temperature=1.0):  # softmax(log(weights) / T) = weights^(1/T), normalised
    powered = [w ** (1 / temperature) for w in weights]
    return [w / sum(powered) for w in powered]


def _logits(shape, seed, dtype=torch.float32, device="cpu", scale=2.0):
    return randn(shape, seed, dtype=dtype, device=device, scale=scale)


# ---------------------------------------------------------------- worked examples


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_token_kl_worked_example(impl, device, temperature):
    # teacher weights [1, 1, 2], student uniform: at T the teacher is [1, 1, 2^(1/T)] normalised
    teacher = torch.tensor([[1.0, 1.0, 2.0]], device=device).log()
    student = torch.zeros(1, 3, device=device)
    p_teacher, p_student = _softmax([1, 1, 2], temperature), [1 / 3] * 3
    forward = call(impl.token_kl, student, teacher, temperature=temperature)
    assert_close(forward, torch.tensor([_kl(p_teacher, p_student)], device=device),
                 what=f"forward KL(teacher || student) at T={temperature}")
    reverse = call(impl.token_kl, student, teacher, temperature=temperature,
                   direction="reverse")
    assert_close(reverse, torch.tensor([_kl(p_student, p_teacher)], device=device),
                 what=f"reverse KL(student || teacher) at T={temperature}")


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_token_kl_is_finite_for_far_apart_logits(impl, device, direction):
    # teacher [0, -200, 0], student [0, 0, -200] (float32): each puts ≈ 1/2 on two tokens and
    # e^-200 (0 in float32) on the third. Either way round the KL is
    # 1/2 · (log 1/2 - log 1/2) + 1/2 · (log 1/2 - (-200 + log 1/2)) = 100, up to e^-200 terms.
    # Taking log of softmax probabilities instead of log_softmax gives 0 · log 0 = NaN or
    # log 0 = -inf here.
    teacher = torch.tensor([[0.0, -200.0, 0.0]], device=device)
    student = torch.tensor([[0.0, 0.0, -200.0]], device=device)
    assert_close(call(impl.token_kl, student, teacher, direction=direction),
                 torch.tensor([100.0], device=device),
                 what=f"{direction} token_kl, logit gaps of 200 (log_softmax, not log(softmax))")


def test_hinton_loss_worked_example(impl, device):
    # one example, vocab 3, label 2, T = 2, alpha = 0.3
    teacher = torch.tensor([[1.0, 1.0, 2.0]], device=device).log()
    student = torch.tensor([[1.0, 2.0, 1.0]], device=device).log()
    labels = torch.tensor([2], device=device)
    hard = -math.log(1 / 4)  # student p(label 2) = 1/4 at T = 1
    soft = _kl(_softmax([1, 1, 2], 2.0), _softmax([1, 2, 1], 2.0))
    expected = 0.3 * hard + 0.7 * 2.0**2 * soft
    assert_close(call(impl.hinton_loss, student, teacher, labels, temperature=2.0, alpha=0.3),
                 torch.tensor(expected, device=device),
                 what="hinton_loss = alpha · CE + (1 - alpha) · T² · KL_T(teacher || student)")


def test_sequence_distillation_loss_worked_example(impl, device):
    # two distilled positions (KL a and b) and one masked position with very different logits
    teacher = torch.tensor([[[1.0, 1.0, 2.0], [1.0, 3.0, 1.0], [100.0, 1.0, 1.0]]],
                           device=device).log()
    student = torch.zeros(1, 3, 3, device=device)
    mask = torch.tensor([[True, True, False]], device=device)
    a = _kl(_softmax([1, 1, 2]), [1 / 3] * 3)
    b = _kl(_softmax([1, 3, 1]), [1 / 3] * 3)
    assert_close(call(impl.sequence_distillation_loss, student, teacher, mask),
                 torch.tensor((a + b) / 2, device=device),
                 what="sequence distillation loss (mean over the 2 masked-in positions)")


# ---------------------------------------------------------------- properties


@given(shape=st.tuples(size(4), size(6, min_value=2)), seed=seeds, temperature=temperatures,
       direction=directions)
def test_kl_is_zero_for_equal_and_positive_for_different_distributions(
        impl, device, shape, seed, temperature, direction):
    logits = _logits(shape, seed, dtype=torch.float64, device=device)
    same = call(impl.token_kl, logits, logits + 3.0, temperature=temperature,
                direction=direction)  # a constant shift does not change the softmax
    assert_close(same, torch.zeros(shape[0], dtype=torch.float64, device=device), atol=1e-12,
                 what="token_kl of logits that differ by a constant (same distribution)")
    other = _logits(shape, seed + 1, dtype=torch.float64, device=device)
    kl = call(impl.token_kl, logits, other, temperature=temperature, direction=direction)
    assert bool((kl > 0).all()), f"KL must be > 0 between different distributions, got {kl}"


@given(shape=st.tuples(size(4), size(6, min_value=2)), seed=seeds, temperature=temperatures)
def test_reverse_kl_is_forward_kl_with_roles_swapped(impl, device, shape, seed, temperature):
    student = _logits(shape, seed, dtype=torch.float64, device=device)
    teacher = _logits(shape, seed + 1, dtype=torch.float64, device=device)
    p_s = torch.softmax(student / temperature, -1)
    p_t = torch.softmax(teacher / temperature, -1)
    forward = (p_t * (p_t.log() - p_s.log())).sum(-1)
    reverse = (p_s * (p_s.log() - p_t.log())).sum(-1)
    assert_close(call(impl.token_kl, student, teacher, temperature=temperature), forward,
                 what="forward KL(softmax(teacher/T) || softmax(student/T))")
    assert_close(call(impl.token_kl, student, teacher, temperature=temperature,
                      direction="reverse"), reverse,
                 what="reverse KL(softmax(student/T) || softmax(teacher/T))")


@given(batch=size(4), vocab=size(6, min_value=2), seed=seeds)
def test_t_squared_keeps_the_soft_loss_finite_at_high_temperature(impl, device, batch, vocab,
                                                                  seed):
    # Hinton §2.1: for large T both softmaxes approach uniform and, with d = teacher - student
    # logits, T² · KL_T -> Var(d) / 2 (the variance over the vocabulary): finite, not 0
    student = _logits((batch, vocab), seed, dtype=torch.float64, device=device)
    teacher = _logits((batch, vocab), seed + 1, dtype=torch.float64, device=device)
    labels = torch.zeros(batch, dtype=torch.long, device=device)
    d = teacher - student
    limit = ((d - d.mean(-1, keepdim=True)) ** 2).mean(-1).mean() / 2
    loss = call(impl.hinton_loss, student, teacher, labels, temperature=1000.0, alpha=0.0)
    assert_close(loss, limit, rtol=1e-2, atol=1e-6,
                 what="hinton_loss with alpha=0 at T=1000 (T² · KL_T tends to Var(d) / 2: "
                      "without T² it would vanish)")


@given(shape=st.tuples(size(3), size(4), size(5, min_value=2)), seed=seeds,
       temperature=temperatures, direction=directions)
def test_masked_positions_and_the_teacher_get_no_gradient(impl, device, shape, seed, temperature,
                                                          direction):
    student = _logits(shape, seed, dtype=torch.float64, device=device).requires_grad_()
    teacher = _logits(shape, seed + 1, dtype=torch.float64, device=device).requires_grad_()
    mask = torch.rand(shape[:2], generator=torch.Generator().manual_seed(seed)) < 0.6
    mask[0, 0] = True
    mask = mask.to(device)
    loss = call(impl.sequence_distillation_loss, student, teacher, mask,
                temperature=temperature, direction=direction)
    loss.backward()
    assert teacher.grad is None or not bool(teacher.grad.any()), (
        "teacher_logits received a gradient: the teacher is frozen, detach its logits")
    zeros = torch.zeros_like(student.grad)
    assert_close(torch.where(mask[..., None], zeros, student.grad), zeros,
                 what="d loss / d student_logits at masked-out positions")
    p_s = torch.softmax(student.detach() / temperature, -1)
    p_t = torch.softmax(teacher.detach() / temperature, -1)
    if direction == "forward":  # d KL(p_t || p_s) / d z_s = (p_s - p_t) / T
        expected = (p_s - p_t) / temperature / mask.sum()
        assert_close(torch.where(mask[..., None], student.grad, zeros),
                     torch.where(mask[..., None], expected, zeros),
                     what="d forward-KL loss / d student_logits ((p_s - p_t) / (T · count))")


def test_half_precision_logits_are_computed_in_float32(impl, device):
    student = _logits((4, 50), 3, device=device, scale=30.0).to(torch.bfloat16)
    teacher = _logits((4, 50), 4, device=device, scale=30.0).to(torch.bfloat16)
    p_t = torch.log_softmax(teacher.double(), -1)
    expected = (p_t.exp() * (p_t - torch.log_softmax(student.double(), -1))).sum(-1)
    assert_close(call(impl.token_kl, student, teacher), expected.float(),
                 what="token_kl of bfloat16 logits (computed and returned in float32)")


# ---------------------------------------------------------------- reference


@given(shape=st.tuples(size(3), size(4), size(6, min_value=2)), seed=seeds,
       temperature=temperatures, direction=directions,
       alpha=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_matches_reference(impl, ref, device, shape, seed, temperature, direction, alpha, dtype):
    student = _logits(shape, seed, dtype=dtype, device=device)
    teacher = _logits(shape, seed + 1, dtype=dtype, device=device)
    mask = (torch.rand(shape[:2], generator=torch.Generator().manual_seed(seed)) < 0.6)
    mask[0, 0] = True
    mask = mask.to(device)
    assert_close(call(impl.sequence_distillation_loss, student, teacher, mask,
                      temperature=temperature, direction=direction),
                 ref.sequence_distillation_loss(student, teacher, mask, temperature=temperature,
                                                direction=direction),
                 what="sequence_distillation_loss")
    flat_s, flat_t = student[:, 0], teacher[:, 0]
    labels = torch.randint(0, shape[2], (shape[0],),
                           generator=torch.Generator().manual_seed(seed)).to(device)
    assert_close(call(impl.hinton_loss, flat_s, flat_t, labels, temperature=temperature,
                      alpha=alpha),
                 ref.hinton_loss(flat_s, flat_t, labels, temperature=temperature, alpha=alpha),
                 what="hinton_loss")


# ---------------------------------------------------------------- bad input


def test_bad_temperature_or_direction_raises_value_error(impl, device):
    logits = torch.zeros(2, 3, device=device)
    call(impl.token_kl, logits, logits, temperature=1e-3)
    with pytest.raises(ValueError):
        call(impl.token_kl, logits, logits, temperature=0.0)
    with pytest.raises(ValueError) as raised:
        call(impl.token_kl, logits, logits, direction="jsd")
    assert "jsd" in str(raised.value), (
        f"the ValueError should name the unknown direction; it said: {raised.value}")


def test_alpha_outside_unit_interval_raises_value_error(impl, device):
    logits = torch.zeros(2, 3, device=device)
    labels = torch.zeros(2, dtype=torch.long, device=device)
    for valid in (0.0, 1.0):
        call(impl.hinton_loss, logits, logits, labels, alpha=valid)
    for bad in (1.5, -0.5):
        with pytest.raises(ValueError):
            call(impl.hinton_loss, logits, logits, labels, alpha=bad)


def test_empty_mask_raises_value_error(impl, device):
    logits = torch.zeros(2, 3, 4, device=device)
    mask = torch.zeros(2, 3, dtype=torch.bool, device=device)
    mask[1, 2] = True
    call(impl.sequence_distillation_loss, logits, logits, mask)
    with pytest.raises(ValueError):
        call(impl.sequence_distillation_loss, logits, logits, torch.zeros_like(mask))
