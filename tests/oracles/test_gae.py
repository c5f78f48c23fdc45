"""Library check for the `gae` reference: TRL 0.x's PPO advantage code on random inputs.

Not part of the grader. TRL 1.x removed its PPOTrainer, so this needs trl 0.19 on the path
(e.g. `pip install --no-deps --target DIR trl==0.19.1` and PYTHONPATH=DIR):
    python -m pytest tests/oracles/test_gae.py --target solutions -q

Whitening: `trl.core.masked_whiten` itself. GAE: TRL's loop is inline in PPOTrainer.train()
(trl 0.19.1, trl/trainer/ppo_trainer.py lines 524-535); `_trl_gae` below is those lines, fed
rewards and values already masked to the response as the kata documents (OpenRLHF's
convention: the value after the last response token is 0). TRL's own layout differs by design:
it keeps the value one position past the response and puts the score there ("padding_mask_p1").
"""

import pytest
import torch

trl = pytest.importorskip("trl")
trl_core = pytest.importorskip("trl.core", reason="needs trl 0.x (trl.core.masked_whiten)")


def _trl_gae(rewards, values, gamma, lam):
    # trl 0.19.1 ppo_trainer.py, lines 524-533
    lastgaelam = 0
    advantages_reversed = []
    gen_length = rewards.shape[1]
    for t in reversed(range(gen_length)):
        nextvalues = values[:, t + 1] if t < gen_length - 1 else 0.0
        delta = rewards[:, t] + gamma * nextvalues - values[:, t]
        lastgaelam = delta + gamma * lam * lastgaelam
        advantages_reversed.append(lastgaelam)
    advantages = torch.stack(advantages_reversed[::-1], axis=1)
    returns = advantages + values
    return advantages, returns


def test_gae_and_whitening_match_trl(ref, record_property):
    generator = torch.Generator().manual_seed(0)
    cases, max_diff = 0, 0.0
    for case in range(60):
        batch, seq = 1 + case % 4, 2 + case % 7
        gamma = [1.0, 0.99, 0.9, 0.5][case % 4]
        lam = [0.95, 1.0, 0.0, 0.5, 0.9][case % 5]
        rewards = torch.randn(batch, seq, generator=generator, dtype=torch.float64)
        values = torch.randn(batch, seq, generator=generator, dtype=torch.float64)
        starts = torch.randint(0, seq - 1, (batch,), generator=generator)
        stops = starts + 1 + torch.randint(1, seq, (batch,), generator=generator) % (seq - starts)
        positions = torch.arange(seq)[None, :]
        mask = (positions >= starts[:, None]) & (positions < stops[:, None])
        if int(mask.sum()) < 2:
            mask[:, :2] = True
        expected_adv, expected_ret = _trl_gae(rewards * mask, values * mask, gamma, lam)
        advantages, returns = ref.gae(rewards, values, mask, gamma=gamma, lam=lam)
        # TRL fills padding (after the response) with 0; the kata zeroes the prompt too
        diffs = [(advantages - expected_adv * mask).abs().max(),
                 (returns - expected_ret * mask).abs().max()]
        for shift_mean in (True, False):
            # a float64 mask: with a bool mask TRL's Bessel factor n / (n - 1) is an int64
            # division, i.e. float32 (off by ~5e-8)
            expected = trl_core.masked_whiten(expected_adv, mask.double(), shift_mean=shift_mean)
            diffs.append((ref.masked_whiten(advantages, mask, shift_mean=shift_mean)
                          - expected * mask).abs().max())
        max_diff = max(max_diff, *(float(d) for d in diffs))
        cases += 1
    record_property("library", f"trl {trl.__version__}")
    record_property("cases", cases)
    record_property("max_abs_diff", max_diff)
    print(f"trl {trl.__version__} GAE/whitening: {cases} cases, max abs diff {max_diff:.3g}")
    assert max_diff < 1e-10
