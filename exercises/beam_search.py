"""Beam search with EOS handling and a length penalty.

Task:
    Write `beam_search`: keep the `beam_width` most likely partial continuations of a prompt,
    extend them all by every token at each step, and collect finished hypotheses (those that
    produced EOS, plus the live beams when `max_new_tokens` is reached). Return the hypothesis
    with the best length-penalised score. With beam_width = 1 this is greedy decoding; with a
    beam wide enough to hold every prefix it is exhaustive search.

Rules:
    Do not import transformers. Plain loops, topk and cat are fine.

Shapes:
    beams (live hypotheses, at most beam_width), seq (prompt + generated so far), vocab,
    prompt_len, new_len (generated tokens, EOS included).

Reference:
    Graves 2012 / Sutskever et al. 2014 (beam search for sequence models); length penalty as in
    transformers' BeamHypotheses: score = sum of log-probs / new_len ** length_penalty.
    Version line: transformers 5.x `generate(num_beams=...)` scoring; `nox -s oracles`
    checks it against transformers 5.18 where the two algorithms coincide (no EOS reached).

Notable choices:
    - Each step ranks all live-beam × vocab candidates by summed log-probability (they all have
      the same length, so the penalty does not change the order) and keeps the top beam_width.
      Kept candidates ending in EOS are finished and leave the beam, so the next step may
      expand fewer than beam_width beams; there is no early stop before the beam is empty or
      max_new_tokens is reached.
    - new_len counts generated tokens only (not the prompt), EOS included. length_penalty = 0
      ranks by summed log-probability (favours short outputs); > 0 favours longer ones.
      GNMT (Wu et al. 2016) uses ((5 + new_len) / 6) ** alpha instead.
    - Ties between equal scores are broken arbitrarily; the tests avoid them.

Grade: nox -s beam_search
"""

from collections.abc import Callable

import torch
from jaxtyping import Float, Int
from torch import Tensor

StepFn = Callable[[Int[Tensor, "beams seq"]], Float[Tensor, "beams vocab"]]


class ToyLM:
    """A deterministic toy language model. Given, not graded.

    Its next-token log-probabilities are a seeded random function of the whole prefix, so every
    prefix has its own distribution and results are reproducible. Logits are float64.
    """

    def __init__(self, vocab: int, seed: int = 0, scale: float = 1.5) -> None:
        self.vocab, self.seed, self.scale = vocab, seed, scale

    def __call__(self, sequences: Int[Tensor, "beams seq"]) -> Float[Tensor, "beams vocab"]:
        rows = []
        for row in sequences.tolist():
            key = self.seed
            for token in row:
                key = (key * 1_000_003 + token + 1) % (2**61 - 1)
            generator = torch.Generator().manual_seed(key)
            rows.append(torch.randn(self.vocab, generator=generator, dtype=torch.float64))
        logits = torch.stack(rows) * self.scale  # (beams, vocab)
        return torch.log_softmax(logits, dim=-1).to(sequences.device)


def beam_search(step_fn: StepFn, prompt: Int[Tensor, " prompt_len"], beam_width: int,
                max_new_tokens: int, eos_token_id: int, length_penalty: float = 1.0
                ) -> tuple[Int[Tensor, " new_len"], float]:
    """The best continuation of `prompt` found by beam search.

    Args:
        step_fn: maps the live beams (beams, seq) int64, each the prompt followed by its
            generated tokens, to next-token log-probabilities (beams, vocab), finite. Call it
            once per step with all live beams stacked (never more than beam_width rows).
        prompt: (prompt_len,) int64, prompt_len >= 1. It may contain eos_token_id (GPT-2 uses
            it as BOS): only a generated EOS ends a hypothesis.
        beam_width: >= 1 beams kept per step.
        max_new_tokens: >= 1; a hypothesis that has not produced EOS by then is finished as is.
        eos_token_id: the end-of-sequence token; a hypothesis ends right after producing it.
        length_penalty: alpha in score = sum of log-probs / new_len ** alpha.

    Returns:
        (tokens, score): the generated tokens (new_len,) int64 on the prompt's device, EOS
        included when produced (EOS appears nowhere else), and its penalised score (a float).

    Raises:
        ValueError: beam_width < 1 or max_new_tokens < 1 (the message names the bad value).
    """
    # TODO: implement this (about 26 lines in the reference).
    raise NotImplementedError(
        "beam_search: not written yet. Stuck? nox -s hint -- beam_search"
    )
