"""One PPO iteration of RLHF, end to end, on a tiny policy: RLHFTrainer.train_step made real.

Task:
    Write `rollout`, which samples responses from the policy, scores them with a rule-based
    reward, and turns them into training data (old log-probs, reference log-probs, values,
    KL-shaped rewards, whitened GAE advantages, returns), all detached; `ppo_loss`, the clipped
    PPO loss of one minibatch under the current policy; and `train_step`, which does one
    rollout and several epochs of minibatch updates and reports statistics.

Rules:
    Plain torch; no trl or openrlhf. The sampler, the reward, the reward shaping, GAE and the
    whitening are given (they are the `ppo_loss` and `gae` katas).

Shapes:
    batch (prompts), prompt_len, response_len, seq = prompt_len + response_len, vocab.
    Response tensors (logprobs, values, rewards, advantages ...) are (batch, response_len):
    entry t belongs to response token t, predicted from position prompt_len - 1 + t.

Reference:
    Ouyang et al. 2022 (InstructGPT) §3.5 and Eq. 2; Ziegler et al. 2019; Schulman et al.
    2017 (PPO, Eq. 7, several epochs of minibatch SGD per batch of samples). The loop follows
    TRL's PPOTrainer (trl 0.19: rollout under no_grad, KL-in-reward, whitened advantages,
    `num_ppo_epochs` over shuffled minibatches, clipped policy and value losses).

Notable choices:
    - The value of response token t is the critic's output at position prompt_len - 1 + t (the
      state before the token is chosen), like the log-prob that predicts it.
    - Responses have a fixed length (no end token), so every response token counts.
    - Minibatches: a fresh torch.randperm(batch, generator=generator) each epoch, cut into
      consecutive chunks of minibatch_size.

Grade: nox -s rlhf_trainer
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn


@dataclass
class PPOConfig:
    response_len: int = 6
    target_token: int = 1  # the rule-based reward counts this token in the response
    kl_coef: float = 0.05
    gamma: float = 1.0
    lam: float = 0.95
    clip_range: float = 0.2
    clip_range_value: float = 0.2
    vf_coef: float = 0.1
    ppo_epochs: int = 4
    minibatch_size: int = 8


class BigramPolicy(nn.Module):
    """Given: a policy and value model whose next-token logits depend on the current token."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.logits_table = nn.Parameter(torch.zeros(vocab, vocab))
        self.value_table = nn.Parameter(torch.zeros(vocab))

    def forward(self, tokens: Int[Tensor, "batch seq"]) -> tuple[Float[Tensor, "batch seq vocab"],
                                                                 Float[Tensor, "batch seq"]]:
        """(logits, values): logits[:, t] predict token t + 1; values[:, t] is V(state at t)."""
        return self.logits_table[tokens], self.value_table[tokens]


@torch.no_grad()
def sample(policy: BigramPolicy, prompts: Int[Tensor, "batch prompt_len"], response_len: int,
           generator: torch.Generator) -> Int[Tensor, "batch seq"]:
    """Given: prompts followed by response_len tokens sampled from the policy."""
    tokens = prompts
    for _ in range(response_len):
        logits, _ = policy(tokens[:, -1:])
        probs = torch.softmax(logits[:, -1].float(), dim=-1)
        tokens = torch.cat([tokens, torch.multinomial(probs, 1, generator=generator)], dim=1)
    return tokens


def reward_fn(responses: Int[Tensor, "batch response_len"], target_token: int) -> Tensor:
    """Given: the rule-based score, how many times the response contains target_token."""
    return (responses == target_token).float().sum(dim=-1)


def token_logprobs(logits: Float[Tensor, "batch n vocab"],
                   tokens: Int[Tensor, "batch n"]) -> Float[Tensor, "batch n"]:
    """Given: log softmax(logits)[token] at each position."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, tokens[..., None]).squeeze(-1)


def kl_penalized_rewards(scores: Tensor, logprobs: Tensor, ref_logprobs: Tensor,
                         kl_coef: float) -> Tensor:
    """Given (the ppo_loss kata, no padding): -kl_coef · k1 per token, the score on the last."""
    rewards = -kl_coef * (logprobs - ref_logprobs)
    rewards[:, -1] += scores
    return rewards


def gae(rewards: Tensor, values: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """Given (the gae kata, no padding): advantages and returns, V after the last token 0."""
    last = torch.zeros_like(rewards[:, 0])
    advantages = torch.zeros_like(rewards)
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(last)
        last = rewards[:, t] + gamma * next_value - values[:, t] + gamma * lam * last
        advantages[:, t] = last
    return advantages, advantages + values


def whiten(values: Tensor) -> Tensor:
    """Given (the gae kata, no padding): (x - mean) / sqrt(unbiased var + 1e-8)."""
    return (values - values.mean()) * torch.rsqrt(values.var() + 1e-8)


def rollout(policy: BigramPolicy, ref_policy: BigramPolicy,
            prompts: Int[Tensor, "batch prompt_len"], config: PPOConfig,
            generator: torch.Generator) -> dict[str, Tensor]:
    """Sample, score and prepare one batch of experience; every tensor detached.

    Returns:
        {"tokens": (batch, seq) prompts + sampled responses;
         "logprobs": (batch, response_len) log π_old of each response token;
         "ref_logprobs": the same under ref_policy;
         "values": (batch, response_len) the critic's V before each response token;
         "scores": (batch,) reward_fn of the responses;
         "rewards": kl_penalized_rewards(scores, logprobs, ref_logprobs, kl_coef);
         "advantages": whiten(GAE advantages); "returns": GAE returns (not whitened)}.
    """
    # TODO: implement this (about 15 lines in the reference).
    raise NotImplementedError(
        "rollout: not written yet. Stuck? nox -s hint -- rlhf_trainer"
    )


def ppo_loss(policy: BigramPolicy, batch: dict[str, Tensor], prompt_len: int,
             config: PPOConfig) -> tuple[Float[Tensor, ""], dict[str, Tensor]]:
    """The clipped PPO loss of a minibatch (a slice of rollout's dict) under the current policy.

    policy loss: mean of max(-A · ratio, -A · clip(ratio, 1 ± clip_range)), ratio =
    exp(new logprobs - batch["logprobs"]); value loss: 1/2 · mean of max((V - R)²,
    (V_clip - R)²) with V_clip = old V + clip(V - old V, ± clip_range_value); loss = policy +
    vf_coef · value. Means run over every response token of the minibatch.

    Returns:
        (loss, stats): stats holds detached 0-dim "policy_loss", "value_loss" and
        "clip_fraction" (the fraction of tokens where the clipped policy term is larger).
    """
    # TODO: implement this (about 19 lines in the reference).
    raise NotImplementedError(
        "ppo_loss: not written yet. Stuck? nox -s hint -- rlhf_trainer"
    )


def train_step(policy: BigramPolicy, ref_policy: BigramPolicy, optimizer: torch.optim.Optimizer,
               prompts: Int[Tensor, "batch prompt_len"], config: PPOConfig,
               generator: torch.Generator) -> dict[str, float]:
    """One PPO iteration: a rollout, then ppo_epochs passes of shuffled minibatch updates.

    The reference policy is never updated (the optimizer holds the policy's parameters only).

    Returns:
        {"mean_score": mean of the rollout's scores; "kl": mean over the batch of the summed
         per-token k1 = logprobs - ref_logprobs of the rollout; "clip_fraction": the mean of
         ppo_loss's clip_fraction over every minibatch update; "loss": the mean loss over them}.
    """
    # TODO: implement this (about 18 lines in the reference).
    raise NotImplementedError(
        "train_step: not written yet. Stuck? nox -s hint -- rlhf_trainer"
    )
