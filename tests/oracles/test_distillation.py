"""Library check for the `distillation` reference: TRL's GKD loss on random inputs.

Not part of the grader (TRL is not a dependency). Run in a venv with trl installed:
    python -m pytest tests/oracles/test_distillation.py --target solutions -q

`GKDTrainer.generalized_jsd_loss(student, teacher, labels, beta, temperature, "batchmean")`
with beta=0 is the forward KL(teacher || student) and beta=1 the reverse, averaged over the
tokens whose label is not -100: `sequence_distillation_loss` with mask = labels != -100.
Hinton's mix (alpha, T²) has no TRL counterpart; the grader checks it against the paper's formula.
"""

import os

import pytest
import torch

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
trl = pytest.importorskip("trl")
from trl.experimental.gkd.gkd_trainer import GKDTrainer


def test_sequence_distillation_loss_matches_trl_gkd(ref, record_property):
    generator = torch.Generator().manual_seed(0)
    cases, max_diff = 0, 0.0
    for case in range(48):
        batch, seq, vocab = 1 + case % 3, 1 + case % 5, 2 + case % 7
        temperature = [1.0, 0.5, 2.0, 0.9][case % 4]
        beta, direction = [(0.0, "forward"), (1.0, "reverse")][case % 2]
        student = torch.randn(batch, seq, vocab, generator=generator, dtype=torch.float64) * 3
        teacher = torch.randn(batch, seq, vocab, generator=generator, dtype=torch.float64) * 3
        labels = torch.randint(0, vocab, (batch, seq), generator=generator)
        labels[torch.rand(batch, seq, generator=generator) < 0.4] = -100
        labels[0, 0] = 1 % vocab
        expected = GKDTrainer.generalized_jsd_loss(student, teacher, labels, beta=beta,
                                                   temperature=temperature)
        ours = ref.sequence_distillation_loss(student, teacher, labels != -100,
                                              temperature=temperature, direction=direction)
        per_token = ref.token_kl(student, teacher, temperature=temperature, direction=direction)
        expected_tokens = GKDTrainer.generalized_jsd_loss(student, teacher, None, beta=beta,
                                                          temperature=temperature,
                                                          reduction="none").sum(-1)
        max_diff = max(max_diff, float((ours - expected).abs()),
                       float((per_token - expected_tokens).abs().max()))
        cases += 1
    record_property("library", f"trl {trl.__version__}")
    record_property("cases", cases)
    record_property("max_abs_diff", max_diff)
    print(f"trl {trl.__version__} GKD: {cases} cases, max abs diff {max_diff:.3g}")
    assert max_diff < 1e-12
