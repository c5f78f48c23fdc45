"""Library check for the `reward_model` reference: TRL's RewardTrainer loss and transformers'
sequence-classification read-out, on random inputs.

Not part of the grader (neither library is a dependency). Run in a venv with trl installed:
    python -m pytest tests/oracles/test_reward_model.py --target solutions -q

The loss: `RewardTrainer.compute_loss` on a stand-in trainer and a stand-in model returning the
drawn rewards ([chosen; rejected] rows, as TRL batches them). The read-out: a tiny random
`LlamaForSequenceClassification` (pad_token_id 0) scores left- and right-padded batches; its
pooled logits must equal `last_token_rewards` applied to its per-position scores.
The ranking loss has no library counterpart (TRL trains on pairs); it is checked by the grader.
"""

import collections
import types

import pytest
import torch

trl = pytest.importorskip("trl")
transformers = pytest.importorskip("transformers")
from trl.trainer.reward_trainer import RewardTrainer


def test_pairwise_loss_matches_trl(ref, record_property):
    generator = torch.Generator().manual_seed(0)
    cases, max_diff = 0, 0.0
    for case in range(40):
        batch = 1 + case % 6
        rewards = torch.randn(2 * batch, 1, generator=generator, dtype=torch.float64) * 3
        center = [None, 0.01, 0.5][case % 3]
        inputs = {"input_ids": torch.zeros(2 * batch, 2, dtype=torch.long),
                  "attention_mask": torch.ones(2 * batch, 2, dtype=torch.long)}
        margin = None
        if case % 2:
            margin = torch.rand(batch, generator=generator, dtype=torch.float64)
            inputs["margin"] = margin
        trainer = types.SimpleNamespace(
            model=types.SimpleNamespace(training=True), _tp_size=1, _total_train_tokens=0,
            args=types.SimpleNamespace(center_rewards_coefficient=center),
            accelerator=types.SimpleNamespace(gather_for_metrics=lambda x: x, gather=lambda x: x),
            _metrics=collections.defaultdict(lambda: collections.defaultdict(list)))
        model = lambda rewards=rewards, **kwargs: types.SimpleNamespace(logits=rewards)
        expected = RewardTrainer.compute_loss(trainer, model, inputs)
        chosen, rejected = rewards[:, 0].chunk(2)
        loss = ref.pairwise_loss(chosen, rejected, margin, center)
        diffs = [float(loss - expected)]
        metrics = {k: v[-1] for k, v in trainer._metrics["train"].items()}
        if "accuracy" in metrics:  # a float32 mean in TRL
            assert abs(float(ref.reward_accuracy(chosen, rejected)) - metrics["accuracy"]) < 1e-6
        max_diff = max(max_diff, *(abs(d) for d in diffs))
        cases += 1
    record_property("library", f"trl {trl.__version__}")
    record_property("cases", cases)
    record_property("max_abs_diff", max_diff)
    print(f"trl {trl.__version__} reward loss: {cases} cases, max abs diff {max_diff:.3g}")
    assert max_diff < 1e-12


def test_last_token_rewards_match_transformers(ref, record_property):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=20, hidden_size=8, intermediate_size=16,
                                      num_hidden_layers=1, num_attention_heads=2,
                                      num_key_value_heads=2, pad_token_id=0, num_labels=1)
    model = transformers.LlamaForSequenceClassification(config).double().eval()
    generator = torch.Generator().manual_seed(1)
    cases, max_diff = 0, 0.0
    for case in range(30):
        batch, seq = 1 + case % 4, 2 + case % 5
        lengths = torch.randint(1, seq + 1, (batch,), generator=generator)
        positions = torch.arange(seq)[None, :]
        left = case % 2 == 0
        real = positions >= seq - lengths[:, None] if left else positions < lengths[:, None]
        input_ids = torch.randint(1, 20, (batch, seq), generator=generator).masked_fill(~real, 0)
        attention_mask = real.long()
        with torch.no_grad():
            expected = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, 0]
            hidden = model.model(input_ids=input_ids,
                                 attention_mask=attention_mask).last_hidden_state
            scores = model.score(hidden)[..., 0]  # (batch, seq)
        ours = ref.last_token_rewards(scores, attention_mask)
        max_diff = max(max_diff, float((ours - expected).abs().max()))
        cases += 1
    record_property("library", f"transformers {transformers.__version__}")
    record_property("cases", cases)
    record_property("max_abs_diff", max_diff)
    print(f"transformers {transformers.__version__} read-out: {cases} cases, "
          f"max abs diff {max_diff:.3g}")
    assert max_diff < 1e-12
