"""moe_router vs transformers' Mixtral router (MixtralTopKRouter) and load_balancing_loss_func."""

import pytest
import torch

CASES = 150


def test_routing_and_loss_match_transformers_mixtral(ref, oracle):
    pytest.importorskip("transformers")
    from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func

    oracle.uses("transformers")
    for seed in range(CASES):
        g = torch.Generator().manual_seed(seed)
        tokens = int(torch.randint(1, 30, (), generator=g))
        experts = int(torch.randint(2, 9, (), generator=g))
        top_k = int(torch.randint(1, experts + 1, (), generator=g))
        router_logits = torch.randn(tokens, experts, generator=g) * 2
        # Mixtral's router: softmax in float32, top_k, renormalised by the kept mass.
        probs = torch.softmax(router_logits.float(), dim=-1)
        top_values, top_ids = torch.topk(probs, top_k, dim=-1)
        weights, expert_ids = ref.route(router_logits, top_k, renormalize=True)
        oracle.compare(weights, top_values / top_values.sum(-1, keepdim=True), atol=1e-6,
                       what=f"route weights, seed {seed}")
        oracle.compare(expert_ids, top_ids, atol=0, what=f"route expert ids, seed {seed}")
        expected = load_balancing_loss_func((router_logits,), experts, top_k)
        oracle.compare(ref.load_balancing_loss(router_logits, expert_ids), expected, atol=1e-6,
                       what=f"load_balancing_loss, seed {seed}")
