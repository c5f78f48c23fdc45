"""LoRA: a trainable low-rank update on a frozen linear layer, merging, injection by name.

Task:
    Write `LoRALinear`, which wraps a frozen `nn.Linear` (weight W0, bias b) and adds a trainable
    low-rank update: y = x W0ᵀ + b + scaling · dropout(x) Aᵀ Bᵀ, with A (r, in_features) and
    B (out_features, r). `merge()` folds scaling · B A into W0 for inference and `unmerge()`
    takes it out again. Then `inject_lora` wraps the nn.Linear submodules of a model named in
    `target_modules` and freezes everything else, and `count_parameters` reports what trains.

Rules:
    Plain torch; no peft (or loralib). nn.init, nn.Dropout and nn.Module methods are fine.

Shapes:
    "..." any leading axes (batch, seq), in_features, out_features, rank (r).

Reference:
    Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", §4.1 (h = W0 x + B A x,
    B zero at the start, ΔW x scaled by α / r). Kalajdzievski 2023, "A Rank Stabilization
    Scaling Factor for Fine-Tuning with LoRA" (rsLoRA: α / √r). Initialisation, dropout
    placement, merging and target-module matching follow Hugging Face PEFT's LoRA `Linear`
    layer (peft 0.21: `reset_lora_parameters`, `get_delta_weight`, `check_target_module_exists`).

Notable choices:
    - A is drawn as PEFT draws it, `kaiming_uniform_(a=√5)`, i.e. U(-1/√in_features,
      1/√in_features) (nn.Linear's own default), not Gaussian as in the paper; B starts at zero,
      so a fresh LoRALinear computes exactly what its base layer computes.
    - A and B are plain nn.Parameters (PEFT keeps them in nn.Linear modules `lora_A`/`lora_B`
      with the same weight shapes).
    - Dropout acts on the input of the LoRA path only; the base path never sees it.
    - merge() on a merged layer and unmerge() on an unmerged one do nothing (PEFT warns and
      skips): both are idempotent. While merged, forward is the base layer alone.
    - A module name matches a target when it equals it or ends with "." + target (PEFT's list
      form): "q_proj" matches "layers.0.q_proj" but not "layers.0.qq_proj". Only nn.Linear is
      supported. The total in `count_parameters` includes the LoRA parameters, as PEFT's
      `get_nb_trainable_parameters` does.

Grade: nox -s lora
"""

import math

import torch
from jaxtyping import Float
from torch import Tensor, nn


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus the trainable low-rank update scaling · B A.

    Attributes (tests write into these, so use exactly these names and shapes):
        base_layer: the wrapped nn.Linear; its weight and bias are frozen (requires_grad False).
        lora_A: nn.Parameter (r, in_features), Kaiming-uniform, U(±1/√in_features).
        lora_B: nn.Parameter (out_features, r), zeros.
        scaling: lora_alpha / r (lora_alpha / √r when use_rslora).
        merged: True while scaling · B A is folded into base_layer.weight.
    A and B take the dtype and device of the base layer's weight.

    Args:
        base_layer: the nn.Linear to adapt (wrapped, not copied).
        r: the rank, >= 1.
        lora_alpha: α in the scaling.
        lora_dropout: dropout probability on the LoRA path's input (0 = none).
        use_rslora: scale by α / √r instead of α / r.

    Raises:
        ValueError: r < 1 (the message names it).
    """

    def __init__(self, base_layer: nn.Linear, r: int = 8, lora_alpha: float = 8,
                 lora_dropout: float = 0.0, use_rslora: bool = False) -> None:
        super().__init__()
        # BEGIN SOLUTION
        if r < 1:
            raise ValueError(f"r={r}: the LoRA rank must be a positive integer")
        self.base_layer = base_layer
        self.base_layer.requires_grad_(False)
        weight = base_layer.weight  # (out_features, in_features)
        out_features, in_features = weight.shape
        self.lora_A = nn.Parameter(torch.empty(r, in_features, dtype=weight.dtype,
                                               device=weight.device))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r, dtype=weight.dtype,
                                               device=weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = lora_alpha / math.sqrt(r) if use_rslora else lora_alpha / r
        self.lora_dropout = nn.Dropout(lora_dropout)
        self.merged = False
        # END SOLUTION

    def forward(self, x: Float[Tensor, "... in_features"]) -> Float[Tensor, "... out_features"]:
        """base_layer(x) + scaling · dropout(x) Aᵀ Bᵀ (just base_layer(x) while merged).

        Args:
            x: (..., in_features) in the layer's dtype.

        Returns:
            (..., out_features) in x's dtype.
        """
        # BEGIN SOLUTION
        result = self.base_layer(x)
        if self.merged:
            return result
        dropped = self.lora_dropout(x)
        # (..., in_features) @ (in_features, r) @ (r, out_features) -> (..., out_features)
        update = dropped @ self.lora_A.T @ self.lora_B.T
        return result + update * self.scaling
        # END SOLUTION

    def delta_weight(self) -> Float[Tensor, "out_features in_features"]:
        """scaling · B A: what merging adds to base_layer.weight, in the weight's layout."""
        # BEGIN SOLUTION
        # (out_features, r) @ (r, in_features) -> (out_features, in_features)
        return self.scaling * (self.lora_B @ self.lora_A)
        # END SOLUTION

    @torch.no_grad()
    def merge(self) -> None:
        """Add delta_weight() to base_layer.weight in place; nothing if already merged."""
        # BEGIN SOLUTION
        if self.merged:
            return
        self.base_layer.weight += self.delta_weight()
        self.merged = True
        # END SOLUTION

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract delta_weight() from base_layer.weight in place; nothing if not merged."""
        # BEGIN SOLUTION
        if not self.merged:
            return
        self.base_layer.weight -= self.delta_weight()
        self.merged = False
        # END SOLUTION


def inject_lora(model: nn.Module, target_modules: list[str], r: int = 8, lora_alpha: float = 8,
                lora_dropout: float = 0.0, use_rslora: bool = False) -> list[str]:
    """Wrap every nn.Linear whose name matches a target in a LoRALinear, in place.

    A name (as in `model.named_modules()`, e.g. "layers.0.attn.q_proj") matches a target when
    it equals the target or ends with "." + target. Every parameter of the model that is not a
    LoRA A or B is frozen (requires_grad False), so only the adapters train.

    Args:
        model: the model to adapt, changed in place.
        target_modules: module names or name suffixes, e.g. ["q_proj", "v_proj"].
        r, lora_alpha, lora_dropout, use_rslora: passed to each LoRALinear.

    Returns:
        The names of the wrapped modules, in `model.named_modules()` order.

    Raises:
        ValueError: no module name matches any target (the message names the targets).
        TypeError: a matching module is not an nn.Linear (the message names it and its type).
    """
    # BEGIN SOLUTION
    names = [name for name, _ in model.named_modules()
             if any(name == target or name.endswith("." + target) for target in target_modules)]
    if not names:
        raise ValueError(f"target_modules={target_modules} match no module of the model; use "
                         "names from model.named_modules()")
    for name in names:
        module = model.get_submodule(name)
        if not isinstance(module, nn.Linear):
            raise TypeError(f"module {name!r} is a {type(module).__name__}; LoRALinear wraps "
                            "nn.Linear only, so leave it out of target_modules")
    model.requires_grad_(False)
    for name in names:
        parent_name, _, child_name = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        layer = LoRALinear(getattr(parent, child_name), r, lora_alpha, lora_dropout, use_rslora)
        setattr(parent, child_name, layer)
    return names
    # END SOLUTION


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) numbers of parameter elements, as PEFT's get_nb_trainable_parameters.

    Trainable counts parameters with requires_grad True; total counts all of them, LoRA's too.
    """
    # BEGIN SOLUTION
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
    # END SOLUTION
