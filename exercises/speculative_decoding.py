"""Speculative decoding: a draft model proposes k tokens, the target verifies them in one pass.

Task:
    Write draft-then-verify decoding. `speculative_step` lets the draft model propose
    `num_draft_tokens` tokens one by one, scores all of them with a single target call, accepts
    draft token x with probability min(1, p(x) / q(x)), and at the first rejection emits a token
    drawn from `residual_distribution(p, q)` = norm(max(0, p − q)) and stops; when every draft is
    accepted it emits one bonus token from the target's last distribution. With `sampler=None`
    it is greedy: drafts are the draft's argmax, accepted while they equal the target's argmax.
    `speculative_generate` repeats steps until `max_new_tokens` new tokens exist.

Rules:
    Plain torch. Draw every random number through `sampler` (never torch.rand or Python's
    random): the grader passes a sampler that enumerates every outcome and checks that the
    emitted tokens follow the target model's distribution exactly.

Models and samplers:
    A model is a callable `model(input_ids) -> probs`: input_ids (seq,) int64, probs (seq, vocab)
    where row i is the distribution of the token that follows input_ids[: i + 1] (a causal LM's
    softmaxed logits). `sampler.uniform()` returns a float in [0, 1); `sampler.categorical(probs)`
    returns index i with probability probs[i] (probs sums to 1). Example, vocab 2, one draft:
    draft q = [0.5, 0.5] samples token 1; target p = [0.75, 0.25] accepts it with probability
    0.25 / 0.5; uniform() = 0.7 rejects it, and categorical(norm(max(0, p − q)) = [1, 0])
    emits token 0: the step returns tensor([0]).

Shapes:
    seq (tokens so far), vocab, k = num_draft_tokens.

Reference:
    Leviathan, Kalman, Matias 2023, "Fast Inference from Transformers via Speculative Decoding",
    Algorithm 1 and Appendix A.1 (the output distribution equals the target's); Chen et al. 2023,
    "Accelerating Large Language Model Decoding with Speculative Sampling", Algorithm 2.

Notable choices:
    - A draft is accepted when uniform() < p(x) / q(x) (Leviathan's r < p/q).
    - If p == q everywhere, max(0, p − q) has no mass; `residual_distribution` then returns p
      (a rejection has probability 0 there anyway).
    - Greedy ties go to the lowest token id (torch.argmax).
    - `speculative_generate` truncates the last step's output to exactly `max_new_tokens`.

Grade: nox -s speculative_decoding
"""

from collections.abc import Callable
from typing import Protocol

import torch
from jaxtyping import Float, Int
from torch import Tensor

Model = Callable[[Int[Tensor, " seq"]], Float[Tensor, "seq vocab"]]


class Sampler(Protocol):
    def uniform(self) -> float: ...

    def categorical(self, probs: Float[Tensor, " vocab"]) -> int: ...


class TorchSampler:
    """A Sampler backed by a seeded torch.Generator (for real use; the grader has its own)."""

    def __init__(self, seed: int = 0) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def uniform(self) -> float:
        return torch.rand((), generator=self.generator).item()

    def categorical(self, probs: Float[Tensor, " vocab"]) -> int:
        return int(torch.multinomial(probs.double(), 1, generator=self.generator))


def residual_distribution(target_probs: Float[Tensor, "*batch vocab"],
                          draft_probs: Float[Tensor, "*batch vocab"],
                          ) -> Float[Tensor, "*batch vocab"]:
    """norm(max(0, p − q)) over the last axis, in the inputs' dtype; p where p − q has no mass."""
    # TODO: implement this (about 3 lines in the reference).
    raise NotImplementedError(
        "residual_distribution: not written yet. Stuck? nox -s hint -- speculative_decoding"
    )


def speculative_step(target: Model, draft: Model, input_ids: Int[Tensor, " seq"],
                     num_draft_tokens: int, sampler: Sampler | None = None,
                     ) -> Int[Tensor, " new"]:
    """One draft-then-verify step: the 1 to k + 1 tokens that follow input_ids.

    Args:
        target, draft: models (see the module docstring). The target is called exactly once.
        input_ids: (seq,) int64, seq ≥ 1.
        num_draft_tokens: k ≥ 1 tokens proposed by the draft model.
        sampler: the source of randomness; None for greedy decoding.

    Returns:
        (new,) int64 with 1 ≤ new ≤ k + 1: the accepted drafts, then either the token drawn
        from the residual at the first rejection or the bonus token from the target.

    Raises:
        ValueError: num_draft_tokens < 1, or input_ids is not a non-empty 1-D tensor.
    """
    # TODO: implement this (about 22 lines in the reference).
    raise NotImplementedError(
        "speculative_step: not written yet. Stuck? nox -s hint -- speculative_decoding"
    )


def speculative_generate(target: Model, draft: Model, input_ids: Int[Tensor, " seq"],
                         max_new_tokens: int, num_draft_tokens: int = 4,
                         sampler: Sampler | None = None) -> Int[Tensor, " total"]:
    """input_ids followed by exactly max_new_tokens tokens, by repeated speculative steps.

    Raises:
        ValueError: max_new_tokens < 0 (and whatever speculative_step raises).
    """
    # TODO: implement this (about 7 lines in the reference).
    raise NotImplementedError(
        "speculative_generate: not written yet. Stuck? nox -s hint -- speculative_decoding"
    )
