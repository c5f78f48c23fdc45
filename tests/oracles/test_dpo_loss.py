"""Library check for the `dpo_loss` reference: agreement with TRL on random inputs.

Not part of the grader (TRL is not a dependency). Run in a venv with trl installed:
    python -m pytest tests/oracles/test_dpo_loss.py --target solutions -q

TRL's DPOTrainer computes its loss inside `_compute_loss(model, inputs)`; this check calls that
method on a stand-in trainer (only the attributes it reads) and a stand-in model whose "fused LM
head" returns per-token log-probs from TRL's own `selective_log_softmax` (shifted labels, -100
masked). Label-smoothed (conservative) DPO and SimPO are checked against
`CPOTrainer.cpo_loss` ("sigmoid" with label_smoothing on the DPO log-ratios, and "simpo").
"""

import collections
import os
import types

import pytest
import torch

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
trl = pytest.importorskip("trl")
from trl.experimental.cpo.cpo_trainer import CPOTrainer
from trl.trainer.dpo_trainer import DPOTrainer
from trl.trainer.utils import selective_log_softmax

IGNORE = -100


def _accelerator():
    return types.SimpleNamespace(device=torch.device("cpu"), gather=lambda x: x,
                                 gather_for_metrics=lambda x: x, unwrap_model=lambda m: m)


class _FusedModel:
    """Stands in for a model patched by trl's add_fused_lm_head, for fixed logits."""

    training = True

    def __init__(self, logits):
        self.logits = logits

    def __call__(self, *, labels, fused_lm_head, **kwargs):
        assert fused_lm_head
        shift_labels = labels[:, 1:]
        mask = shift_labels != IGNORE
        logps = selective_log_softmax(self.logits[:, :-1], shift_labels.clamp(min=0))
        logps = logps.masked_fill(~mask, 0.0)
        zeros = torch.zeros_like(logps)
        return types.SimpleNamespace(log_probs=logps, entropy=zeros, mean_logits=zeros,
                                     is_top1=torch.zeros_like(mask), log_sum_sq_probs=zeros)


def _trl_dpo(logits, input_ids, completion_mask, ref_chosen, ref_rejected, beta, loss_type):
    model = _FusedModel(logits)
    trainer = types.SimpleNamespace(
        model=model, accelerator=_accelerator(), aux_loss_enabled=False, precompute_ref_logps=True,
        ld_alpha=None, f_divergence_type="reverse_kl", loss_types=[loss_type], loss_weights=[1.0],
        beta=beta, label_smoothing=0.0, use_weighting=False, _tp_size=1, _total_train_tokens=0,
        _metrics=collections.defaultdict(lambda: collections.defaultdict(list)))
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
              "completion_mask": completion_mask, "ref_chosen_logps": ref_chosen,
              "ref_rejected_logps": ref_rejected}
    loss = DPOTrainer._compute_loss(trainer, model, inputs, return_outputs=False)
    metrics = {k: v[-1] for k, v in trainer._metrics["train"].items()}
    return loss, metrics


def _batch(pairs, seq, vocab, generator):
    """[chosen; rejected] rows: a prompt (>= 1 token), a completion (>= 1 token), padding."""
    input_ids = torch.randint(0, vocab, (2 * pairs, seq), generator=generator)
    completion_mask = torch.zeros(2 * pairs, seq, dtype=torch.long)
    for row in range(2 * pairs):
        start = int(torch.randint(1, seq, (1,), generator=generator))
        stop = int(torch.randint(start + 1, seq + 1, (1,), generator=generator))
        completion_mask[row, start:stop] = 1
    logits = torch.randn(2 * pairs, seq, vocab, generator=generator, dtype=torch.float64) * 2
    return logits, input_ids, completion_mask


def test_dpo_loss_matches_trl(ref, record_property):
    generator = torch.Generator().manual_seed(0)
    cases, max_diff = 0, 0.0
    for case in range(40):
        pairs, seq, vocab = 1 + case % 4, 3 + case % 5, 5 + case % 7
        beta = [0.1, 0.5, 1.0, 0.05][case % 4]
        loss_type = ["sigmoid", "ipo"][case % 2]
        logits, input_ids, completion_mask = _batch(pairs, seq, vocab, generator)
        ref_logps = -torch.rand(2 * pairs, generator=generator, dtype=torch.float64) * 10
        expected_loss, metrics = _trl_dpo(logits, input_ids, completion_mask,
                                          *ref_logps.chunk(2), beta, loss_type)
        labels = input_ids.masked_fill(completion_mask == 0, IGNORE)
        average = loss_type == "ipo"  # TRL length-normalises IPO's log-ratios
        logps = ref.sequence_logprobs(logits, labels, average=average)
        ref_in = ref_logps / completion_mask.sum(dim=1) if average else ref_logps
        chosen, rejected = logps.chunk(2)
        ref_chosen, ref_rejected = ref_in.chunk(2)
        losses, stats = ref.dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta=beta,
                                     loss_type=loss_type)
        diffs = [float(losses.mean() - expected_loss)]
        if loss_type == "sigmoid":  # TRL logs rewards of the summed log-ratios
            diffs += [float(stats["chosen_rewards"].mean()) - metrics["rewards/chosen"],
                      float(stats["rejected_rewards"].mean()) - metrics["rewards/rejected"],
                      float(stats["reward_margin"]) - metrics["rewards/margins"],
                      float(chosen.mean()) - metrics["logps/chosen"]]
            # TRL averages the accuracy in float32 (a third differs by ~1e-8): checked apart
            accuracy_diff = float(stats["reward_accuracy"]) - metrics["rewards/accuracies"]
            assert abs(accuracy_diff) < 1e-6, (stats["reward_accuracy"], metrics)
        max_diff = max(max_diff, *(abs(d) for d in diffs))
        cases += 1
    record_property("library", f"trl {trl.__version__}")
    record_property("cases", cases)
    record_property("max_abs_diff", max_diff)
    print(f"trl {trl.__version__} DPO: {cases} cases, max abs diff {max_diff:.3g}")
    assert max_diff < 1e-9


def test_conservative_dpo_and_simpo_match_trl_cpo_loss(ref, record_property):
    generator = torch.Generator().manual_seed(1)
    cases, max_diff = 0, 0.0
    for case in range(40):
        batch = 1 + case % 5
        beta = [0.1, 0.5, 2.0, 2.5][case % 4]
        label_smoothing = [0.0, 0.1, 0.25, 0.5][case % 4]
        gamma = [0.0, 0.5, 1.0, 1.6][(case // 4) % 4]
        logps = -torch.rand(4, batch, generator=generator, dtype=torch.float64) * 20
        trainer = types.SimpleNamespace(alpha=0.0, beta=beta, label_smoothing=label_smoothing,
                                        simpo_gamma=gamma, accelerator=_accelerator(),
                                        loss_type="sigmoid")
        losses, _ = ref.dpo_loss(*logps, beta=beta, label_smoothing=label_smoothing)
        expected, *_ = CPOTrainer.cpo_loss(trainer, logps[0] - logps[2], logps[1] - logps[3])
        diffs = [(losses - expected).abs().max()]
        trainer.loss_type, trainer.label_smoothing = "simpo", 0.0
        averages = logps[:2] / torch.randint(1, 30, (2, batch), generator=generator)
        expected, *_ = CPOTrainer.cpo_loss(trainer, averages[0], averages[1])
        diffs.append((ref.simpo_loss(averages[0], averages[1], beta=beta, gamma=gamma)
                      - expected).abs().max())
        max_diff = max(max_diff, *(float(d) for d in diffs))
        cases += 1
    record_property("library", f"trl {trl.__version__}")
    record_property("cases", cases)
    record_property("max_abs_diff", max_diff)
    print(f"trl {trl.__version__} cDPO/SimPO: {cases} cases, max abs diff {max_diff:.3g}")
    assert max_diff < 1e-12
