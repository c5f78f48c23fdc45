"""Mixture-of-experts: top-k routing, the load-balancing loss and a sparse MoE layer.

Task:
    Write `route` (softmax over all experts, keep the top_k per token, renormalise their
    weights), `load_balancing_loss` (the Switch Transformer auxiliary loss) and
    `SparseMoE.forward`, which runs every expert only on the tokens routed to it and adds up
    their outputs weighted by the gates. The result must equal the dense mixture
    Σ_e gate_e(x) · expert_e(x) in which unchosen experts have gate 0.

Rules:
    Do not import transformers. torch.topk, softmax, one_hot, index_add_ are fine.

Shapes:
    batch, seq, d_model, d_ff (expert hidden size), experts (number of experts), tokens
    (batch · seq, the flattened tokens), top_k (experts per token).

Reference:
    Fedus et al. 2022, "Switch Transformers", §2.2, Eq. 4-6 (loss = N · Σ_i f_i · P_i).
    Routing: Mixtral (Jiang et al. 2024, §2.1) as in transformers' MixtralSparseMoeBlock and
    load_balancing_loss_func.
    Version line: transformers 5.x Mixtral (MixtralTopKRouter, load_balancing_loss_func);
    `nox -s oracles` checks it against transformers 5.18.

Notable choices:
    - Mixtral routing: softmax over ALL experts in float32, top-k, then renormalise the k
      weights to sum to 1 (the same as a softmax over the k selected logits).
      `renormalize=False` keeps the raw probabilities (Switch's top-1 gate; Qwen-MoE's
      norm_topk_prob=False). DeepSeek-V3 uses sigmoid scores instead; not covered here.
    - f_i counts a token once for each of its top_k slots that chose expert i, divided by the
      number of tokens, so Σ_i f_i = top_k and perfectly balanced routing gives a loss of
      top_k (transformers' convention; some code divides by top_k to make it 1). f_i is a
      count, so the gradient flows through P_i only. The coefficient α (0.01 in Switch,
      0.02 in Mixtral) is left to the caller.

Grade: nox -s moe_router
"""

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn


def route(router_logits: Float[Tensor, "tokens experts"], top_k: int, renormalize: bool = True
          ) -> tuple[Float[Tensor, "tokens top_k"], Int[Tensor, "tokens top_k"]]:
    """Pick top_k experts per token and their gate weights.

    Returns:
        (weights, expert_ids), both (tokens, top_k), sorted by decreasing weight. weights are
        float32 (float64 for float64 logits): softmax over all experts, the top_k kept, then
        divided by their sum when `renormalize`. expert_ids are int64 and distinct per token; tied
        experts may come in either order.

    Raises:
        ValueError: top_k outside [1, experts] (the message names top_k and experts).
    """
    # BEGIN SOLUTION
    num_experts = router_logits.shape[-1]
    if not 1 <= top_k <= num_experts:
        raise ValueError(f"top_k={top_k}: must be between 1 and the number of experts "
                         f"({num_experts})")
    compute = torch.promote_types(router_logits.dtype, torch.float32)
    probs = torch.softmax(router_logits.to(compute), dim=-1)  # (tokens, experts)
    weights, expert_ids = torch.topk(probs, top_k, dim=-1)  # (tokens, top_k), descending
    if renormalize:
        weights = weights / weights.sum(dim=-1, keepdim=True)
    return weights, expert_ids
    # END SOLUTION


def load_balancing_loss(router_logits: Float[Tensor, "tokens experts"],
                        expert_ids: Int[Tensor, "tokens top_k"]) -> Float[Tensor, ""]:
    """Switch Transformer auxiliary loss N · Σ_i f_i · P_i (without the coefficient α).

    N = experts; f_i = (number of (token, slot) pairs routed to expert i) / tokens;
    P_i = mean over tokens of softmax(router_logits)_i, computed in float32. Differentiable
    with respect to `router_logits` (through P only). `expert_ids` are int64 in [0, experts),
    e.g. from `route`; tokens >= 1.

    Returns:
        A 0-dim float32 tensor (float64 for float64 logits).
    """
    # BEGIN SOLUTION
    tokens, num_experts = router_logits.shape
    compute = torch.promote_types(router_logits.dtype, torch.float32)
    probs = torch.softmax(router_logits.to(compute), dim=-1)  # (tokens, experts)
    dispatched = F.one_hot(expert_ids, num_experts).to(compute)  # (tokens, top_k, experts)
    fraction = dispatched.sum(dim=(0, 1)) / tokens  # f: (experts,), sums to top_k
    mean_prob = probs.mean(dim=0)  # P: (experts,)
    return num_experts * (fraction * mean_prob).sum()
    # END SOLUTION


class Expert(nn.Module):
    """One SwiGLU feed-forward expert (Mixtral): w2(silu(w1 x) * w3 x). Given, not graded."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(d_model, d_ff, bias=False)
        self.w3 = nn.Linear(d_model, d_ff, bias=False)
        self.w2 = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x: Float[Tensor, "tokens d_model"]) -> Float[Tensor, "tokens d_model"]:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class SparseMoE(nn.Module):
    """A sparse MoE feed-forward layer: a linear router and `num_experts` experts."""

    def __init__(self, d_model: int, d_ff: int, num_experts: int, top_k: int) -> None:
        super().__init__()
        self.top_k = top_k
        self.router = nn.Linear(d_model, num_experts, bias=False)
        self.experts = nn.ModuleList(Expert(d_model, d_ff) for _ in range(num_experts))

    def forward(self, hidden_states: Float[Tensor, "batch seq d_model"]
                ) -> tuple[Float[Tensor, "batch seq d_model"], Float[Tensor, "tokens experts"]]:
        """Route each token (`route` with renormalisation) and mix its experts' outputs.

        Each `self.experts[e]` maps (n, d_model) -> (n, d_model) and must only see the tokens
        routed to it (it may be skipped, or called with 0 rows, when none are). Gate weights
        are cast to the dtype of `hidden_states` before weighting the expert outputs.

        Returns:
            (output, router_logits): output (batch, seq, d_model) in the input dtype, and the
            router logits (tokens, experts) for the load-balancing loss.
        """
        # BEGIN SOLUTION
        batch, seq, d_model = hidden_states.shape
        x = hidden_states.reshape(-1, d_model)  # (tokens, d_model)
        router_logits = self.router(x)  # (tokens, experts)
        weights, expert_ids = route(router_logits, self.top_k)
        weights = weights.to(x.dtype)
        output = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            token_idx, slot = torch.where(expert_ids == e)  # tokens that chose e, in which slot
            if token_idx.numel() == 0:
                continue
            expert_out = expert(x[token_idx]) * weights[token_idx, slot, None]  # (n_e, d_model)
            output.index_add_(0, token_idx, expert_out)
        return output.reshape(batch, seq, d_model), router_logits
        # END SOLUTION
