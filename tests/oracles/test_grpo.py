"""Library check for the `grpo` reference: agreement with TRL's GRPOTrainer on random inputs.

Not part of the grader (TRL is not a dependency). Run in a venv with trl installed:
    python -m pytest tests/oracles/test_grpo.py --target solutions -q

The loss: `GRPOTrainer._compute_loss` called on a stand-in trainer (only the attributes it
reads) whose `_get_per_token_logps_and_entropies` returns the drawn log-probabilities; the loss,
its gradient, the KL and the clip-ratio metrics are compared. The advantages: TRL computes them
inline in `_generate_and_score_completions` (trl 1.16, lines 2765-2787:
`(rewards - group mean) / (nanstd(group) + 1e-4)`, no division with scale_rewards="none"); this
check evaluates those lines with TRL's own `nanstd`.
"""

import collections
import types

import pytest
import torch

trl = pytest.importorskip("trl")
from trl.trainer.grpo_trainer import GRPOTrainer
from trl.trainer.utils import nanstd


def _trainer(logprobs, beta, epsilon_low, epsilon_high, loss_type, max_completion_length):
    reduce = lambda x, reduction: x
    accelerator = types.SimpleNamespace(num_processes=1, gather=lambda x: x,
                                        gather_for_metrics=lambda x: x, reduce=reduce,
                                        sync_gradients=True)
    args = types.SimpleNamespace(use_bias_correction_kl=False, delta=None, steps_per_generation=1)
    return types.SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *a, **k: (logprobs, torch.zeros_like(logprobs),
                                                            None),
        top_entropy_quantile=1.0, off_policy_mask_threshold=None, importance_sampling_level="token",
        beta=beta, args=args, loss_type=loss_type, epsilon_low=epsilon_low,
        epsilon_high=epsilon_high, use_vllm=False, model=types.SimpleNamespace(training=True),
        current_gradient_accumulation_steps=1, max_completion_length=max_completion_length,
        accelerator=accelerator, aux_loss_enabled=False, _entropy_bonus_enabled=False,
        _metrics=collections.defaultdict(lambda: collections.defaultdict(list)))


def test_grpo_loss_matches_trl(ref, record_property):
    generator = torch.Generator().manual_seed(0)
    cases, max_diff = 0, 0.0
    for case in range(60):
        batch, seq = 1 + case % 5, 1 + case % 6
        loss_type = ["grpo", "dapo", "dr_grpo"][case % 3]
        beta = [0.0, 0.04, 0.3][(case // 3) % 3]
        epsilon_low, epsilon_high = [(0.2, 0.2), (0.2, 0.28), (0.1, 0.3)][(case // 9) % 3]
        max_completion_length = seq + case % 3
        old = -torch.rand(batch, seq, generator=generator, dtype=torch.float64) * 3 - 0.05
        logprobs = (old + torch.randn(batch, seq, generator=generator, dtype=torch.float64) * 0.3)
        ref_logprobs = old + torch.randn(batch, seq, generator=generator, dtype=torch.float64) * 0.3
        advantages = torch.randn(batch, generator=generator, dtype=torch.float64)
        lengths = torch.randint(1, seq + 1, (batch,), generator=generator)
        mask = torch.arange(seq)[None, :] < lengths[:, None]
        theirs = logprobs.clone().requires_grad_()
        trainer = _trainer(theirs, beta, epsilon_low, epsilon_high, loss_type,
                           max_completion_length)
        inputs = {"prompt_ids": torch.zeros(batch, 1, dtype=torch.long),
                  "prompt_mask": torch.ones(batch, 1, dtype=torch.long),
                  "completion_ids": torch.zeros(batch, seq, dtype=torch.long),
                  "completion_mask": mask.long(), "advantages": advantages,
                  "old_per_token_logps": old, "ref_per_token_logps": ref_logprobs,
                  "num_items_in_batch": mask.sum()}
        expected = GRPOTrainer._compute_loss(trainer, None, inputs)
        expected.backward()
        metrics = {k: v[-1] for k, v in trainer._metrics["train"].items()}
        ours = logprobs.clone().requires_grad_()
        loss, stats = ref.grpo_loss(ours, old, ref_logprobs if beta else None, advantages, mask,
                                    beta=beta, epsilon_low=epsilon_low, epsilon_high=epsilon_high,
                                    loss_type=loss_type,
                                    max_completion_length=max_completion_length)
        loss.backward()
        diffs = [float(loss - expected), float((ours.grad - theirs.grad).abs().max())]
        # TRL's clip-ratio metric is a mean of float32 flags (a third is off by ~1e-8)
        clip_diff = float(stats["clip_ratio"]) - metrics["clip_ratio/region_mean"]
        assert abs(clip_diff) < 1e-6, (stats, metrics)
        if beta:
            diffs.append(float(stats["kl"]) - metrics["kl"])
        max_diff = max(max_diff, *(abs(d) for d in diffs))
        cases += 1
    record_property("library", f"trl {trl.__version__}")
    record_property("cases", cases)
    record_property("max_abs_diff", max_diff)
    print(f"trl {trl.__version__} GRPO loss: {cases} cases, max abs diff {max_diff:.3g}")
    assert max_diff < 1e-12


def test_group_advantages_match_trl(ref, record_property):
    generator = torch.Generator().manual_seed(1)
    cases, max_diff = 0, 0.0
    for case in range(60):
        num_generations, prompts = 2 + case % 5, 1 + case % 4
        rewards = torch.randn(prompts * num_generations, generator=generator,
                              dtype=torch.float64)
        if case % 4 == 0:
            rewards[:num_generations] = 1.0  # a group with no signal
        for scale_rewards in ("group", "none"):
            mean = torch.nanmean(rewards.view(-1, num_generations), dim=1)
            mean = mean.repeat_interleave(num_generations, dim=0)
            std = nanstd(rewards.view(-1, num_generations), dim=1)
            std = std.repeat_interleave(num_generations, dim=0)
            expected = rewards - mean
            if scale_rewards != "none":
                expected = expected / (std + 1e-4)
            ours = ref.group_advantages(rewards, num_generations,
                                        scale_rewards=scale_rewards == "group")
            # nanstd's Bessel factor count / (count - 1) divides int64 tensors, which gives
            # float32: TRL's std is off by ~1e-8 relative, hence the 1e-6 bound below
            max_diff = max(max_diff, float((ours - expected).abs().max()))
            cases += 1
    record_property("library", f"trl {trl.__version__}")
    record_property("cases", cases)
    record_property("max_abs_diff", max_diff)
    print(f"trl {trl.__version__} advantages: {cases} cases, max abs diff {max_diff:.3g}")
    assert max_diff < 1e-6
