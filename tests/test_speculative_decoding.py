"""Grader for the `speculative_decoding` kata: scripted steps, exact laws by enumeration."""

import math
from collections import defaultdict
from itertools import product

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kata.check import assert_close, assert_equal, call
from kata.strategies import randn, seeds, size

VOCAB = 3
GRID = 4  # the enumerating sampler's uniform() takes the values (j + 0.5) / GRID
few = settings(max_examples=8)


class _Model:
    """A causal 'LM' from a table: row i of the output is table[(i + 1 + 3 · token_i) % rows]."""

    def __init__(self, table):
        self.table, self.calls = table, 0

    def __call__(self, input_ids):
        self.calls += 1
        index = (torch.arange(len(input_ids)) + 1 + 3 * input_ids) % len(self.table)
        return self.table[index]

    def __repr__(self):
        return f"_Model(table={self.table.tolist()})"


def _target_table(seed, rows=5):
    """Rows of eighths: every p(x) / q(x) against a draft row of quarters and halves is a
    multiple of 1/4, so a uniform on the grid (j + 0.5) / 4 accepts with exactly that chance."""
    generator = torch.Generator().manual_seed(seed)
    cuts = torch.randint(0, 9, (rows, 2), generator=generator).sort(dim=1).values
    counts = torch.stack((cuts[:, 0], cuts[:, 1] - cuts[:, 0], 8 - cuts[:, 1]), dim=1)
    return counts.double() / 8


DRAFT_ROWS = torch.tensor([[0.25, 0.25, 0.5], [0.25, 0.5, 0.25], [0.5, 0.25, 0.25],
                           [0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5]], dtype=torch.float64)


def _draft_table(seed, rows=4):
    generator = torch.Generator().manual_seed(seed + 1)
    return DRAFT_ROWS[torch.randint(0, len(DRAFT_ROWS), (rows,), generator=generator)]


class _Replay:
    """Replays a script of choices, takes choice 0 past its end and queues the alternatives."""

    def __init__(self, script):
        self.script, self.taken, self.weight, self.branches = script, [], 1.0, []

    def _choose(self, weights):
        if len(self.taken) < len(self.script):
            index = self.script[len(self.taken)]
        else:
            index = 0
            self.branches += [self.taken + [j] for j in range(1, len(weights))]
        self.taken.append(index)
        self.weight *= weights[index]
        return index

    def uniform(self):
        return (self._choose([1 / GRID] * GRID) + 0.5) / GRID

    def categorical(self, probs):
        values = probs.tolist()
        assert probs.dim() == 1, (
            f"sampler.categorical expects a (vocab,) distribution, got shape {tuple(probs.shape)}")
        assert all(v >= 0 for v in values) and abs(sum(values) - 1) < 1e-9, (
            f"sampler.categorical got {values}: not a distribution (non-negative, sums to 1). "
            "Is the residual max(0, p - q) normalised?")
        support = [i for i, v in enumerate(values) if v > 0]
        return support[self._choose([values[i] for i in support])]


class _Script:
    """Hands out scripted uniforms and tokens (separate queues) and records what it was asked."""

    def __init__(self, uniforms, tokens):
        self.uniforms, self.tokens, self.asked = list(uniforms), list(tokens), []

    def uniform(self):
        return self.uniforms.pop(0)

    def categorical(self, probs):
        self.asked.append(probs.detach().clone())
        token = self.tokens.pop(0)
        assert probs[token] > 0, f"the script draws token {token} from {probs.tolist()}"
        return token


def _enumerate(fn, *args):
    """{emitted tokens: probability} over every outcome of the sampler's random draws."""
    outcomes, pending, runs = defaultdict(float), [[]], 0
    while pending:
        replay = _Replay(pending.pop())
        emitted = (call if runs == 0 else lambda f, *a: f(*a))(fn, *args, replay)
        pending += replay.branches
        outcomes[tuple(emitted.tolist())] += replay.weight
        runs += 1
        assert runs < 60_000, "more than 60,000 random outcomes: too many sampler draws"
    return outcomes


def _target_prob(target, prefix, tokens):
    """P_target(tokens | prefix), by the chain rule."""
    prob, ids = 1.0, prefix
    for token in tokens:
        prob *= target(ids)[-1, token].item()
        ids = torch.cat((ids, torch.tensor([token])))
    return prob


def _prefix(seed, length):
    return torch.randint(0, VOCAB, (length,), generator=torch.Generator().manual_seed(seed + 2))


# ---------------------------------------------------------------- worked examples


def test_residual_distribution_worked_example(impl):
    p = torch.tensor([0.75, 0.25, 0.0])
    q = torch.tensor([0.5, 0.0, 0.5])
    # max(0, p - q) = [0.25, 0.25, 0], which sums to 0.5
    assert_close(call(impl.residual_distribution, p, q), torch.tensor([0.5, 0.5, 0.0]),
                 what="norm(max(0, p - q))")
    assert_close(call(impl.residual_distribution, p, p), p,
                 what="residual when p == q (no mass left: return p, not 0/0)")


def test_rejected_draft_is_replaced_from_the_residual(impl):
    # q = [1/2, 1/2] drafts token 1; p(1)/q(1) = 1/2 and uniform 0.7 rejects it; the residual
    # norm(max(0, [3/4, 1/4] - [1/2, 1/2])) = [1, 0] then gives token 0.
    target = _Model(torch.tensor([[0.75, 0.25]], dtype=torch.float64))
    draft = _Model(torch.tensor([[0.5, 0.5]], dtype=torch.float64))
    script = _Script(uniforms=[0.7], tokens=[1, 0])
    emitted = call(impl.speculative_step, target, draft, torch.tensor([0]), 1, script)
    assert_equal(emitted, torch.tensor([0]), what="tokens of a step whose only draft is rejected")
    assert len(script.asked) == 2, f"expected 2 categorical draws (draft, residual), got " \
                                   f"{len(script.asked)}"
    assert_close(script.asked[1], torch.tensor([1.0, 0.0], dtype=torch.float64),
                 what="distribution sampled after the rejection (the residual)")


def test_uniform_equal_to_the_ratio_rejects(impl):
    # The boundary of "accepted when uniform() < p(x) / q(x)": p(1)/q(1) = 0.25 / 0.5 = 0.5
    # exactly, and uniform 0.5 is not below it, so draft 1 is rejected and the residual
    # norm(max(0, [3/4, 1/4] - [1/2, 1/2])) = [1, 0] gives token 0 (accepting would emit the
    # draft 1 and then a bonus token).
    target = _Model(torch.tensor([[0.75, 0.25]], dtype=torch.float64))
    draft = _Model(torch.tensor([[0.5, 0.5]], dtype=torch.float64))
    script = _Script(uniforms=[0.5], tokens=[1, 0])
    emitted = call(impl.speculative_step, target, draft, torch.tensor([0]), 1, script)
    assert_equal(emitted, torch.tensor([0]),
                 what="tokens when uniform() == p(x)/q(x): the test is strict (<), so reject")


def test_accepted_draft_is_followed_by_a_bonus_token(impl):
    # Same models, uniform 0.3 < 1/2 accepts draft 1; the bonus token comes from p at the next
    # position, here [3/4, 1/4] again; the script draws 1.
    target = _Model(torch.tensor([[0.75, 0.25]], dtype=torch.float64))
    draft = _Model(torch.tensor([[0.5, 0.5]], dtype=torch.float64))
    script = _Script(uniforms=[0.3], tokens=[1, 1])
    emitted = call(impl.speculative_step, target, draft, torch.tensor([0]), 1, script)
    assert_equal(emitted, torch.tensor([1, 1]), what="accepted draft + bonus token")
    assert_close(script.asked[1], torch.tensor([0.75, 0.25], dtype=torch.float64),
                 what="distribution of the bonus token (the target's, after all drafts)")


def test_draft_more_likely_under_target_is_always_accepted(impl):
    # Two drafts of token 0 with p(0)/q(0) = 1.5: accepted even with uniforms of 0.99.
    target = _Model(torch.tensor([[0.75, 0.25]], dtype=torch.float64))
    draft = _Model(torch.tensor([[0.5, 0.5]], dtype=torch.float64))
    script = _Script(uniforms=[0.99, 0.99], tokens=[0, 0, 1])
    emitted = call(impl.speculative_step, target, draft, torch.tensor([1]), 2, script)
    assert_equal(emitted, torch.tensor([0, 0, 1]), what="two accepted drafts + bonus")


def test_greedy_step_worked_example(impl):
    # With 3 rows, the target's row at position i is (i + 1) % 3 whatever the token: its argmax
    # is 2 after positions 0 and 3, 0 after position 1, 1 after position 2. The one-row draft
    # always proposes its argmax, 1.
    target = _Model(torch.tensor([[0.1, 0.7, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]],
                                 dtype=torch.float64))
    draft = _Model(torch.tensor([[0.2, 0.5, 0.3]], dtype=torch.float64))
    emitted = call(impl.speculative_step, target, draft, torch.tensor([0]), 3)
    assert_equal(emitted, torch.tensor([2]),
                 what="greedy step after 1 token: draft 1 mismatches the target's 2")
    emitted = call(impl.speculative_step, target, draft, torch.tensor([0, 0, 0]), 3)
    assert_equal(emitted, torch.tensor([1, 2]),
                 what="greedy step after 3 tokens: draft 1 matches, the next draft 1 does not "
                      "and the target's 2 replaces it")
    emitted = call(impl.speculative_step, target, draft, torch.tensor([0, 0, 0]), 1)
    assert_equal(emitted, torch.tensor([1, 2]),
                 what="greedy step with k=1 after 3 tokens: draft 1 matches, bonus 2")


# ---------------------------------------------------------------- exact distributions


@few
@given(seed=seeds, k=st.sampled_from([1, 2]), length=size(3))
@example(seed=0, k=2, length=1)
@example(seed=5, k=1, length=2)
def test_first_token_follows_the_target_distribution(impl, seed, k, length):
    target, draft = _Model(_target_table(seed)), _Model(_draft_table(seed))
    prefix = _prefix(seed, length)
    outcomes = _enumerate(impl.speculative_step, target, draft, prefix, k)
    first = torch.zeros(VOCAB, dtype=torch.float64)
    for emitted, prob in outcomes.items():
        first[emitted[0]] += prob
    assert_close(first, target(prefix)[-1],
                 what=f"distribution of the first emitted token (exact, by enumeration; k={k}) "
                      "vs the target's next-token distribution")


@few
@given(seed=seeds, k=st.sampled_from([1, 2]), length=size(3))
@example(seed=1, k=2, length=2)
@example(seed=7, k=2, length=1)
def test_emitted_tokens_follow_the_target_distribution(impl, seed, k, length):
    # A step emits 1..k+1 tokens; continued by the target up to k+1 tokens, every sequence must
    # have exactly the target's probability (Leviathan et al. 2023, Appendix A.1).
    target, draft = _Model(_target_table(seed)), _Model(_draft_table(seed))
    prefix = _prefix(seed, length)
    outcomes = _enumerate(impl.speculative_step, target, draft, prefix, k)
    assert math.isclose(sum(outcomes.values()), 1.0, rel_tol=1e-9), "outcomes do not sum to 1"
    assert all(1 <= len(out) <= k + 1 for out in outcomes), (
        f"a step must emit 1 to k + 1 = {k + 1} tokens, saw lengths "
        f"{sorted({len(out) for out in outcomes})}")
    for sequence in product(range(VOCAB), repeat=k + 1):
        got = sum(prob * _target_prob(target, torch.cat((prefix, torch.tensor(out))),
                                      sequence[len(out):])
                  for out, prob in outcomes.items() if sequence[: len(out)] == out)
        want = _target_prob(target, prefix, sequence)
        assert math.isclose(got, want, abs_tol=1e-9), (
            f"P(step emits a prefix of {list(sequence)}, continued by the target) = {got:.6g}, "
            f"but the target gives the sequence {want:.6g} (prefix {prefix.tolist()}, k={k}). "
            "Check the acceptance min(1, p/q), the residual max(0, p - q), which target row "
            "scores which draft, and the bonus token.")


@few
@given(seed=seeds, k=st.sampled_from([1, 2]))
def test_identical_draft_is_always_accepted(impl, seed, k):
    model = _Model(_target_table(seed))
    outcomes = _enumerate(impl.speculative_step, model, model, _prefix(seed, 2), k)
    lengths = sorted({len(out) for out in outcomes})
    assert lengths == [k + 1], (
        f"with draft == target, p/q = 1 accepts every draft and a step emits k + 1 = {k + 1} "
        f"tokens; saw lengths {lengths}")


@few
@given(seed=seeds)
@example(seed=3)
def test_generated_sequences_follow_the_target_distribution(impl, seed):
    # Two new tokens with k = 1: one step of 2 tokens, or two steps (the second truncated).
    k = 1
    target, draft = _Model(_target_table(seed)), _Model(_draft_table(seed))
    prefix = _prefix(seed, 1)

    def generate(target, draft, prefix, sampler):
        return impl.speculative_generate(target, draft, prefix, 2, k, sampler)

    outcomes = _enumerate(generate, target, draft, prefix)
    for sequence in product(range(VOCAB), repeat=2):
        got = outcomes.get((*prefix.tolist(), *sequence), 0.0)
        want = _target_prob(target, prefix, sequence)
        assert math.isclose(got, want, abs_tol=1e-9), (
            f"speculative_generate(max_new_tokens=2, k={k}) gives {list(sequence)} with "
            f"probability {got:.6g}; the target gives {want:.6g}")
    assert all(len(out) == 3 for out in outcomes), (
        "speculative_generate must return the prompt + exactly max_new_tokens tokens")


# ---------------------------------------------------------------- greedy and cost


def _float_model(seed, rows=7):
    return _Model(randn((rows, VOCAB + 2), seed, dtype=torch.float64).softmax(-1))


def _greedy(target, ids, count):
    for _ in range(count):
        ids = torch.cat((ids, target(ids)[-1].argmax().view(1)))
    return ids


@given(seed=seeds, k=size(4), count=size(9, 0), length=size(3))
@example(seed=0, k=3, count=9, length=1)
def test_greedy_speculative_equals_target_greedy(impl, seed, k, count, length):
    target, draft = _float_model(seed), _float_model(seed + 1)
    prefix = randn((length,), seed).abs().mul(3).long() % (VOCAB + 2)
    generated = call(impl.speculative_generate, target, draft, prefix, count, k)
    assert_equal(generated, _greedy(target, prefix, count),
                 what=f"greedy speculative decoding (k={k}) vs the target's greedy decoding")


@pytest.mark.parametrize(("k", "count"), [(1, 6), (3, 8), (4, 5)])
def test_target_is_called_once_per_step(impl, k, count):
    target, draft = _float_model(0), _float_model(1)
    call(impl.speculative_step, target, draft, torch.tensor([0, 1]), k)
    assert target.calls == 1, (
        f"one speculative step called the target {target.calls} times; a single call on "
        "prefix + drafts scores every draft and the bonus position at once")
    model = _float_model(2)
    generated = call(impl.speculative_generate, model, _Model(model.table), torch.tensor([1]),
                     count, k)
    steps = -(-count // (k + 1))
    assert len(generated) == 1 + count and model.calls == steps, (
        f"with a draft equal to the target, greedy steps accept all {k} drafts and emit {k + 1} "
        f"tokens, so {count} tokens take {steps} target calls; counted {model.calls} (output "
        f"length {len(generated)})")


# ---------------------------------------------------------------- residual properties, dtypes


@given(seed=seeds, batch=size(4))
def test_residual_is_a_distribution_on_where_target_exceeds_draft(impl, seed, batch):
    p = randn((batch, VOCAB + 2), seed, dtype=torch.float64).softmax(-1)
    q = randn((batch, VOCAB + 2), seed + 1, dtype=torch.float64).softmax(-1)
    residual = call(impl.residual_distribution, p, q)
    assert residual.dtype == torch.float64, f"float64 in, {residual.dtype} out"
    assert_close(residual.sum(-1), torch.ones(batch, dtype=torch.float64),
                 what="residual rows sum to 1")
    assert (residual[p <= q] == 0).all(), "the residual is 0 wherever p <= q"
    expected = (p - q).clamp(min=0)
    assert_close(residual, expected / expected.sum(-1, keepdim=True), what="norm(max(0, p - q))")


def test_step_returns_int64_tokens(impl):
    target, draft = _float_model(3), _float_model(4)
    emitted = call(impl.speculative_step, target, draft, torch.tensor([0, 2]), 2)
    assert emitted.dtype == torch.int64 and emitted.dim() == 1, (
        f"speculative_step should return a 1-D int64 tensor, got {emitted.dtype} "
        f"{tuple(emitted.shape)}")
    sampled = call(impl.speculative_step, target, draft, torch.tensor([0, 2]), 2, _Replay([]))
    assert sampled.dtype == torch.int64 and sampled.dim() == 1, (
        f"sampled speculative_step should return 1-D int64, got {sampled.dtype}")


# ---------------------------------------------------------------- bad input


def test_bad_arguments_raise_value_error(impl):
    target, draft = _float_model(5), _float_model(6)
    call(impl.speculative_step, target, draft, torch.tensor([1]), 1)  # k = 1 is valid
    with pytest.raises(ValueError):
        call(impl.speculative_step, target, draft, torch.tensor([1]), 0)
    with pytest.raises(ValueError):
        call(impl.speculative_step, target, draft, torch.tensor([], dtype=torch.long), 2)
    same = call(impl.speculative_generate, target, draft, torch.tensor([1, 2]), 0, 2)
    assert_equal(same, torch.tensor([1, 2]), what="max_new_tokens=0 returns the prompt")
    with pytest.raises(ValueError):
        call(impl.speculative_generate, target, draft, torch.tensor([1, 2]), -1, 2)
