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
        # TODO: implement this (about 14 lines in the reference).
        raise NotImplementedError(
            "__init__: not written yet. Stuck? nox -s hint -- lora"
        )

    def forward(self, x: Float[Tensor, "... in_features"]) -> Float[Tensor, "... out_features"]:
        """base_layer(x) + scaling · dropout(x) Aᵀ Bᵀ (just base_layer(x) while merged).

        Args:
            x: (..., in_features) in the layer's dtype.

        Returns:
            (..., out_features) in x's dtype.
        """
        # TODO: implement this (about 6 lines in the reference).
        raise NotImplementedError(
            "forward: not written yet. Stuck? nox -s hint -- lora"
        )

    def delta_weight(self) -> Float[Tensor, "out_features in_features"]:
        """scaling · B A: what merging adds to base_layer.weight, in the weight's layout."""
        # TODO: implement this (about 1 line in the reference).
        raise NotImplementedError(
            "delta_weight: not written yet. Stuck? nox -s hint -- lora"
        )

    @torch.no_grad()
    def merge(self) -> None:
        """Add delta_weight() to base_layer.weight in place; nothing if already merged."""
        # TODO: implement this (about 4 lines in the reference).
        raise NotImplementedError(
            "merge: not written yet. Stuck? nox -s hint -- lora"
        )

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract delta_weight() from base_layer.weight in place; nothing if not merged."""
        # TODO: implement this (about 4 lines in the reference).
        raise NotImplementedError(
            "unmerge: not written yet. Stuck? nox -s hint -- lora"
        )


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
    # TODO: implement this (about 17 lines in the reference).
    raise NotImplementedError(
        "inject_lora: not written yet. Stuck? nox -s hint -- lora"
    )


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) numbers of parameter elements, as PEFT's get_nb_trainable_parameters.

    Trainable counts parameters with requires_grad True; total counts all of them, LoRA's too.
    """
    # TODO: implement this (about 3 lines in the reference).
    raise NotImplementedError(
        "count_parameters: not written yet. Stuck? nox -s hint -- lora"
    )
