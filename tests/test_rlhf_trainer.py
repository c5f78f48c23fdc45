"""Grader for the `rlhf_trainer` kata: the loss on fixed tensors, rollout properties, and
seeded training runs (the reference stays put, rewards rise, the KL stays bounded)."""

import copy
import math

import torch
from hypothesis import given, settings

from kata.check import assert_close, call
from kata.strategies import randn, seeds, size

VOCAB = 6


def _setup(ref, seed, batch=16, prompt_len=2, **config):
    generator = torch.Generator().manual_seed(seed)
    policy = ref.BigramPolicy(VOCAB)
    with torch.no_grad():
        policy.logits_table.copy_(torch.randn(VOCAB, VOCAB, generator=generator) * 0.5)
    reference = copy.deepcopy(policy).requires_grad_(False)
    prompts = torch.randint(0, VOCAB, (batch, prompt_len), generator=generator)
    return policy, reference, prompts, ref.PPOConfig(**config), generator


def _run(impl, ref, seed, iterations, **config):
    policy, reference, prompts, config, generator = _setup(ref, seed, **config)
    optimizer = torch.optim.Adam(policy.parameters(), lr=0.05)
    stats = [call(impl.train_step, policy, reference, optimizer, prompts, config, generator)
             for _ in range(iterations)]
    return policy, reference, stats


# ---------------------------------------------------------------- worked example


def test_ppo_loss_worked_example(impl, ref):
    # vocab 2, zero tables: p = 1/2 for every token, V = 0. One prompt token, 2 response tokens.
    policy = ref.BigramPolicy(2)
    half = math.log(0.5)
    batch = {"tokens": torch.tensor([[0, 1, 0]]),
             "logprobs": torch.tensor([[half - math.log(1.5), half - math.log(0.5)]]),  # r 1.5, 0.5
             "advantages": torch.tensor([[1.0, -1.0]]),
             "values": torch.tensor([[0.0, 0.5]]), "returns": torch.tensor([[1.0, 1.0]])}
    loss, stats = call(impl.ppo_loss, policy, batch, 1, ref.PPOConfig())
    # policy: A=+1 r=1.5 -> max(-1.5, -1.2) = -1.2; A=-1 r=0.5 -> max(0.5, 0.8) = 0.8; mean -0.2
    # value: V = 0; token 1 clipped to 0.5 - 0.2 = 0.3: max((0-1)², (0.3-1)²) = 1; token 0: 1
    expected = -0.2 + 0.1 * 0.5 * (1.0 + 1.0) / 2
    assert_close(loss, torch.tensor(expected), what="ppo_loss (policy + 0.1 · value loss)")
    assert_close(stats["clip_fraction"], torch.tensor(1.0),
                 what="stats['clip_fraction'] (both tokens clipped on the active side)")


# ---------------------------------------------------------------- rollout


@settings(max_examples=15)
@given(seed=seeds, batch=size(6), prompt_len=size(3))
def test_rollout_is_detached_and_consistent(impl, ref, seed, batch, prompt_len):
    policy, reference, prompts, config, generator = _setup(ref, seed, batch, prompt_len)
    with torch.no_grad():
        reference.logits_table.add_(randn((VOCAB, VOCAB), seed + 1))
        policy.value_table.copy_(randn((VOCAB,), seed + 2))
    out = call(impl.rollout, policy, reference, prompts, config, generator)
    for name, tensor in out.items():
        assert not tensor.requires_grad, (
            f"rollout()[{name!r}] requires grad: experience is data, compute it under no_grad "
            "(old log-probs must stay fixed during the PPO epochs)")
    tokens = out["tokens"]
    assert torch.equal(tokens[:, :prompt_len], prompts), "tokens must start with the prompts"
    start, responses = prompt_len - 1, tokens[:, prompt_len:]
    logits, values = policy(tokens)
    expected = ref.token_logprobs(logits[:, start:-1], responses).detach()
    assert_close(out["logprobs"], expected, what="logprobs of the sampled response tokens")
    ref_logits, _ = reference(tokens)
    assert_close(out["ref_logprobs"], ref.token_logprobs(ref_logits[:, start:-1], responses),
                 what="ref_logprobs (under ref_policy)")
    assert_close(out["values"], values[:, start:-1].detach(),
                 what="values (the critic before each response token)")
    scores = ref.reward_fn(responses, config.target_token)
    assert_close(out["scores"], scores, what="scores")
    rewards = ref.kl_penalized_rewards(scores, expected, out["ref_logprobs"], config.kl_coef)
    assert_close(out["rewards"], rewards, what="rewards (KL-shaped)")
    advantages, returns = ref.gae(rewards, out["values"], config.gamma, config.lam)
    assert_close(out["returns"], returns, what="returns (from the raw GAE advantages)")
    assert_close(out["advantages"], ref.whiten(advantages), what="whitened advantages")


def test_rollout_samples_from_the_policy(impl, ref):
    policy, reference, prompts, config, generator = _setup(ref, 0)
    with torch.no_grad():
        policy.logits_table.zero_()
        policy.logits_table[:, 3] = 50.0  # the policy always says 3; the reference does not
    out = call(impl.rollout, policy, reference, prompts, config, generator)
    assert bool((out["tokens"][:, prompts.shape[1]:] == 3).all()), (
        "responses must be sampled from the policy (which always picks token 3), not the reference")


# ---------------------------------------------------------------- training


def test_reference_never_changes_and_policy_does(impl, ref):
    policy, reference, stats = _run(impl, ref, 0, 3)
    _, original, _, _, _ = _setup(ref, 0)
    assert torch.equal(reference.logits_table, original.logits_table) and torch.equal(
        reference.value_table, original.value_table), "the reference policy changed"
    assert not torch.equal(policy.logits_table, original.logits_table), "the policy did not change"
    for key in ("mean_score", "kl", "clip_fraction", "loss"):
        assert key in stats[-1], f"train_step's stats lack {key!r}"


def test_rewards_rise_on_the_toy_task(impl, ref):
    for seed in (0, 1):
        _, _, stats = _run(impl, ref, seed, 8)
        scores = [s["mean_score"] for s in stats]
        assert sum(scores[-3:]) / 3 > sum(scores[:2]) / 2 + 0.5, (
            f"seed {seed}: the mean score should rise over 8 PPO iterations, got {scores}")


def test_kl_penalty_keeps_the_policy_near_the_reference(impl, ref):
    for seed in (0, 1):
        _, _, stats = _run(impl, ref, seed, 8, kl_coef=1.0)
        kls = [s["kl"] for s in stats]
        assert sum(kls[-3:]) / 3 < 1.5, (
            f"seed {seed}: with kl_coef=1 the KL to the reference should stay small, got {kls}")
        assert max(kls) > 0, f"seed {seed}: the KL never rose above 0 ({kls}): is ref a copy?"


def test_train_step_kl_is_summed_over_the_response(impl, ref):
    # The policy always says 3 (log π ≈ 0); the reference is uniform (log π_ref = -log VOCAB).
    # k1 = log VOCAB per token, so the KL of a response is response_len · log VOCAB, the same
    # for every sequence (a per-token mean would give log VOCAB); every token scores 1.
    policy, reference, prompts, config, generator = _setup(ref, 0, response_len=4,
                                                           target_token=3)
    with torch.no_grad():
        policy.logits_table.zero_()
        policy.logits_table[:, 3] = 50.0
        reference.logits_table.zero_()
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.0)
    stats = call(impl.train_step, policy, reference, optimizer, prompts, config, generator)
    expected = 4 * math.log(VOCAB)
    assert abs(stats["kl"] - expected) < 1e-4, (
        f"stats['kl'] = {stats['kl']}, expected 4 · log {VOCAB} = {expected:.6f}: the KL of "
        "the rollout is the per-token k1 summed over each response, then averaged over the batch")
    assert abs(stats["mean_score"] - 4.0) < 1e-6, (
        f"stats['mean_score'] = {stats['mean_score']}, expected 4 (every response token is 3)")


def test_several_epochs_reuse_the_old_logprobs(impl, ref):
    _, _, stats = _run(impl, ref, 0, 2)
    assert stats[0]["clip_fraction"] > 0, (
        "no token was ever clipped over 4 epochs: the ratio must compare with the rollout's "
        "(old) log-probs, which stay fixed while the policy moves")


# ---------------------------------------------------------------- reference


@settings(max_examples=20)
@given(seed=seeds, batch=size(5), prompt_len=size(3))
def test_ppo_loss_matches_reference_on_fixed_tensors(impl, ref, seed, batch, prompt_len):
    policy, reference, prompts, config, generator = _setup(ref, seed, batch, prompt_len)
    experience = ref.rollout(policy, reference, prompts, config, generator)
    with torch.no_grad():
        policy.logits_table.add_(randn((VOCAB, VOCAB), seed + 3, scale=0.3))
        policy.value_table.add_(randn((VOCAB,), seed + 4, scale=0.3))
    results = []
    for fn in (impl.ppo_loss, ref.ppo_loss):
        policy.zero_grad()
        loss, stats = (call(fn, policy, experience, prompt_len, config) if fn is impl.ppo_loss
                       else fn(policy, experience, prompt_len, config))
        loss.backward()
        results.append((loss.detach(), stats, policy.logits_table.grad.clone(),
                        policy.value_table.grad.clone()))
    (loss, stats, g_logits, g_values), (e_loss, e_stats, e_logits, e_values) = results
    assert_close(loss, e_loss, what="ppo_loss")
    assert_close(g_logits, e_logits, what="d loss / d logits_table")
    assert_close(g_values, e_values, what="d loss / d value_table")
    for name, value in e_stats.items():
        assert_close(stats[name], value, what=f"stats[{name!r}]")


def test_one_train_step_matches_reference(impl, ref):
    results = []
    for fn in (impl.train_step, ref.train_step):
        policy, reference, prompts, config, generator = _setup(ref, 7)
        optimizer = torch.optim.SGD(policy.parameters(), lr=0.5)
        stats = (call(fn, policy, reference, optimizer, prompts, config, generator)
                 if fn is impl.train_step else fn(policy, reference, optimizer, prompts, config,
                                                  generator))
        results.append((policy.logits_table.detach(), policy.value_table.detach(), stats))
    (logits, values, stats), (e_logits, e_values, e_stats) = results
    assert_close(logits, e_logits, what="logits_table after one train_step (same seed)")
    assert_close(values, e_values, what="value_table after one train_step (same seed)")
    for key, value in e_stats.items():
        assert abs(stats[key] - value) < 1e-5, f"stats[{key!r}]: {stats[key]} vs {value}"
