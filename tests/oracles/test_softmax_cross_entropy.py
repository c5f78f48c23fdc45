"""softmax_cross_entropy vs torch's softmax family and cross_entropy, and transformers'
ForCausalLMLoss (label shift, num_items_in_batch)."""

import pytest
import torch
import torch.nn.functional as F

CASES = 100


def _logits(g, shape, dtype=torch.float64):
    return (torch.randn(shape, generator=g, dtype=torch.float64) * 5).to(dtype)


def test_softmax_family_matches_torch(ref, oracle):
    oracle.uses("torch")
    for seed in range(CASES):
        g = torch.Generator().manual_seed(seed)
        shape = tuple(int(v) for v in torch.randint(0 if seed % 10 == 0 else 1, 7, (3,),
                                                    generator=g))
        x = _logits(g, shape)
        if seed % 4 == 0 and x.numel():
            x[..., 0] = float("-inf")
        dim = int(torch.randint(0, 3, (), generator=g))
        oracle.compare(ref.softmax(x, dim), torch.softmax(x, dim), atol=1e-12,
                       what=f"softmax, seed {seed}")
        oracle.compare(ref.log_softmax(x, dim), torch.log_softmax(x, dim), atol=1e-12,
                       what=f"log_softmax, seed {seed}")
        oracle.compare(ref.logsumexp(x, dim), torch.logsumexp(x, dim), atol=1e-12,
                       what=f"logsumexp, seed {seed}")


def test_cross_entropy_matches_torch(ref, oracle):
    oracle.uses("torch")
    for seed in range(CASES):
        g = torch.Generator().manual_seed(seed)
        batch, seq, vocab = (int(v) for v in torch.randint(1, 8, (3,), generator=g))
        dtype = (torch.float64, torch.float32, torch.bfloat16)[seed % 3]
        logits = _logits(g, (batch, seq, vocab), dtype)
        targets = torch.randint(0, vocab, (batch, seq), generator=g)
        targets[torch.rand(batch, seq, generator=g) < 0.3] = -100
        reduction = ("mean", "sum", "none")[seed % 3]
        expected = F.cross_entropy(logits.to(torch.promote_types(dtype, torch.float32))
                                   .reshape(-1, vocab), targets.reshape(-1),
                                   reduction=reduction)
        actual = ref.cross_entropy(logits, targets, reduction=reduction)
        oracle.compare(actual.reshape(expected.shape), expected, atol=1e-5, rtol=1e-6,
                       what=f"cross_entropy({reduction}), {dtype}, seed {seed}")


def test_causal_lm_loss_matches_transformers(ref, oracle):
    pytest.importorskip("transformers")
    from transformers.loss.loss_utils import ForCausalLMLoss

    oracle.uses("transformers")
    for seed in range(CASES):
        g = torch.Generator().manual_seed(seed)
        batch, seq, vocab = (int(v) for v in torch.randint(2, 8, (3,), generator=g))
        logits = _logits(g, (batch, seq, vocab), torch.float32)
        labels = torch.randint(0, vocab, (batch, seq), generator=g)
        labels[torch.rand(batch, seq, generator=g) < 0.3] = -100
        labels[:, -1] = 0  # at least one counted target after the shift
        items = None if seed % 2 else int((labels[:, 1:] != -100).sum()) + 3
        expected = ForCausalLMLoss(logits, labels, vocab_size=vocab,
                                   num_items_in_batch=None if items is None
                                   else torch.tensor(items))
        actual = ref.causal_lm_loss(logits, labels, num_items_in_batch=items)
        oracle.compare(actual, expected, atol=1e-5, rtol=1e-6, what=f"causal_lm_loss, seed {seed}")
