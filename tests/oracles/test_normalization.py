"""normalization vs torch.nn.functional.layer_norm / rms_norm and transformers' LlamaRMSNorm."""

import pytest
import torch
import torch.nn.functional as F

CASES = 100
DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)
TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 3e-2, torch.float16: 4e-3}


def _case(seed: int):
    g = torch.Generator().manual_seed(seed)
    dtype = DTYPES[seed % len(DTYPES)]
    shape = tuple(int(v) for v in torch.randint(1, 9, (3,), generator=g))
    offset = [0.0, 10.0, -3.0, 100.0][seed % 4]
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 3 + offset
    weight = torch.randn(shape[-1], generator=g, dtype=torch.float64)
    bias = torch.randn(shape[-1], generator=g, dtype=torch.float64)
    eps = [1e-5, 1e-6, 0.1][seed % 3]
    return x.to(dtype), weight.to(dtype), bias.to(dtype), eps


def test_layer_norm_and_rms_norm_match_torch(ref, oracle):
    oracle.uses("torch")
    for seed in range(CASES):
        x, weight, bias, eps = _case(seed)
        tol = TOLERANCE[x.dtype]
        wide = [t.double() for t in (x, weight, bias)]  # torch's reference in float64
        expected = F.layer_norm(wide[0], wide[0].shape[-1:], wide[1], wide[2], eps).to(x.dtype)
        oracle.compare(ref.layer_norm(x, weight, bias, eps), expected, atol=tol, rtol=tol,
                       what=f"layer_norm, {x.dtype}, seed {seed}")
        expected = F.rms_norm(wide[0], wide[0].shape[-1:], wide[1], eps).to(x.dtype)
        oracle.compare(ref.rms_norm(x, weight, eps), expected, atol=tol, rtol=tol,
                       what=f"rms_norm, {x.dtype}, seed {seed}")


def test_rms_norm_matches_transformers_llama_rms_norm(ref, oracle):
    pytest.importorskip("transformers")
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    oracle.uses("transformers")
    for seed in range(CASES):
        x, weight, _, eps = _case(seed)
        if x.dtype == torch.float64:
            continue  # LlamaRMSNorm computes float64 in float32; the kata keeps float64
        module = LlamaRMSNorm(x.shape[-1], eps=eps).to(x.dtype)
        with torch.no_grad():
            module.weight.copy_(weight)
            expected = module(x)
        tol = TOLERANCE[x.dtype]
        oracle.compare(ref.rms_norm(x, weight, eps), expected, atol=tol, rtol=tol,
                       what=f"rms_norm vs LlamaRMSNorm, {x.dtype}, seed {seed}")
