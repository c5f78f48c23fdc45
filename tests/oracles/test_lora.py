"""Library check for the `lora` reference: agreement with Hugging Face PEFT on random inputs.

Not part of the grader (PEFT is not a dependency). Run in a venv with peft installed:
    python -m pytest tests/oracles/test_lora.py --target solutions -q
"""

import copy
import math

import pytest
import torch
from torch import nn

peft = pytest.importorskip("peft")


class _Block(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.q_proj, self.k_proj = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.up_proj, self.down_proj = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x):
        x = x + self.q_proj(x) * torch.tanh(self.k_proj(x)) + self.v_proj(x)
        return self.norm(x + self.down_proj(torch.relu(self.up_proj(x))))


class _Model(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.embed = nn.Embedding(11, d_model)
        self.layers = nn.ModuleList([_Block(d_model, d_ff) for _ in range(2)])

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return x


def test_lora_matches_peft(ref, record_property):
    generator = torch.Generator().manual_seed(0)
    cases, max_diff = 0, 0.0
    for case in range(24):
        d_model, d_ff = 4 + case % 5, 6 + case % 7
        r = 1 + case % 4
        lora_alpha = float(1 + case % 16)
        use_rslora = case % 2 == 1
        targets = [["q_proj", "v_proj"], ["up_proj", "down_proj", "layers.1.k_proj"],
                   ["q_proj", "k_proj", "v_proj", "up_proj", "down_proj"]][case % 3]
        torch.manual_seed(case)
        model = _Model(d_model, d_ff).double()
        ours = copy.deepcopy(model)
        config = peft.LoraConfig(r=r, lora_alpha=lora_alpha, target_modules=targets,
                                 lora_dropout=0.0, use_rslora=use_rslora)
        theirs = peft.get_peft_model(copy.deepcopy(model), config)
        names = ref.inject_lora(ours, targets, r=r, lora_alpha=lora_alpha,
                                use_rslora=use_rslora)
        assert sorted(names) == sorted(theirs.base_model.targeted_module_names), (
            names, theirs.base_model.targeted_module_names)
        assert ref.count_parameters(ours) == theirs.get_nb_trainable_parameters()
        # initialisation: B zero, A within PEFT's kaiming_uniform_(a=sqrt(5)) bound
        for name in names:
            layer = ours.get_submodule(name)
            peft_layer = theirs.base_model.model.get_submodule(name)
            assert layer.scaling == peft_layer.scaling["default"]
            assert float(peft_layer.lora_B["default"].weight.detach().abs().max()) == 0.0
            bound = 1 / math.sqrt(layer.lora_A.shape[1])
            assert float(peft_layer.lora_A["default"].weight.detach().abs().max()) <= bound
            assert float(layer.lora_A.detach().abs().max()) <= bound
            # the same random A and B in both
            with torch.no_grad():
                layer.lora_A.copy_(torch.randn(layer.lora_A.shape, generator=generator,
                                               dtype=torch.float64))
                layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=generator,
                                               dtype=torch.float64))
                peft_layer.lora_A["default"].weight.copy_(layer.lora_A)
                peft_layer.lora_B["default"].weight.copy_(layer.lora_B)
        ids = torch.randint(0, 11, (3, 5), generator=generator)
        ours.eval()
        theirs.eval()
        expected = theirs(ids)
        diffs = [(ours(ids) - expected).abs().max()]
        for name in names:
            ours.get_submodule(name).merge()
        diffs.append((ours(ids) - expected).abs().max())
        merged = theirs.merge_and_unload()
        for name in names:
            diffs.append((ours.get_submodule(name).base_layer.weight
                          - merged.get_submodule(name).weight).abs().max())
        for name in names:
            ours.get_submodule(name).unmerge()
            diffs.append((ours.get_submodule(name).base_layer.weight
                          - model.get_submodule(name).weight).abs().max())
        max_diff = max(max_diff, max(float(d) for d in diffs))
        cases += 1
    record_property("library", f"peft {peft.__version__}")
    record_property("cases", cases)
    record_property("max_abs_diff", max_diff)
    print(f"peft {peft.__version__}: {cases} cases, max abs diff {max_diff:.3g}")
    assert max_diff < 1e-10
