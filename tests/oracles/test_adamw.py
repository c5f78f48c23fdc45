"""adamw vs torch.optim.AdamW (same hyper-parameters, same gradients, several steps)."""

import torch

CASES = 60
STEPS = 10


def test_steps_match_torch_optim_adamw(ref, oracle):
    oracle.uses("torch")
    for seed in range(CASES):
        g = torch.Generator().manual_seed(seed)
        shape = tuple(int(v) for v in torch.randint(1, 6, (2,), generator=g))
        lr = [0.0, 1e-3, 1e-2, 0.3][seed % 4]
        betas = (0.9, 0.999) if seed % 2 else (0.5, 0.8)
        weight_decay = [0.0, 0.01, 0.1][seed % 3]
        eps = 1e-8 if seed % 5 else 1e-3
        ours = torch.randn(shape, generator=g, dtype=torch.float64)
        theirs = ours.clone().requires_grad_()
        ours.requires_grad_()
        mine = ref.AdamW([ours], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        torch_opt = torch.optim.AdamW([theirs], lr=lr, betas=betas, eps=eps,
                                      weight_decay=weight_decay)
        for _ in range(STEPS):
            grad = torch.randn(shape, generator=g, dtype=torch.float64)
            ours.grad, theirs.grad = grad.clone(), grad.clone()
            with torch.no_grad():
                mine.step()
            torch_opt.step()
        oracle.compare(ours, theirs, atol=1e-12, rtol=1e-12,
                       what=f"parameters after {STEPS} steps, seed {seed}")
