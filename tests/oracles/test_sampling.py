"""sampling's filters vs transformers' logits processors (TopK, TopP, MinP, RepetitionPenalty)."""

import pytest
import torch

CASES = 150


def _case(seed: int):
    g = torch.Generator().manual_seed(seed)
    batch = int(torch.randint(1, 5, (), generator=g))
    vocab = int(torch.randint(2, 40, (), generator=g))
    logits = torch.randn(batch, vocab, generator=g) * 3
    input_ids = torch.randint(0, vocab, (batch, int(torch.randint(1, 10, (), generator=g))),
                              generator=g)
    return g, logits, input_ids


def test_filters_match_transformers_logits_processors(ref, oracle):
    pytest.importorskip("transformers")
    from transformers.generation.logits_process import (
        MinPLogitsWarper,
        RepetitionPenaltyLogitsProcessor,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    oracle.uses("transformers")
    for seed in range(CASES):
        g, logits, input_ids = _case(seed)
        top_k = int(torch.randint(1, logits.shape[-1] + 2, (), generator=g))
        top_p = float(torch.rand((), generator=g)) * 0.98 + 0.01
        min_p = float(torch.rand((), generator=g))
        penalty = float(torch.rand((), generator=g)) * 2 + 0.1
        checks = [
            ("top_k_filter", ref.top_k_filter(logits, top_k), TopKLogitsWarper(top_k)),
            ("top_p_filter", ref.top_p_filter(logits, top_p), TopPLogitsWarper(top_p)),
            ("min_p_filter", ref.min_p_filter(logits, min_p), MinPLogitsWarper(min_p)),
            ("apply_repetition_penalty", ref.apply_repetition_penalty(logits, input_ids, penalty),
             RepetitionPenaltyLogitsProcessor(penalty)),
        ]
        for name, actual, processor in checks:
            expected = processor(input_ids, logits.clone())
            oracle.compare(actual, expected, atol=1e-6, what=f"{name}, seed {seed}")
