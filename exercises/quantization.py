"""Weight quantization: absmax int8, uint8 with a zero point, packed int4 groups, W8A16/W4A16.

Task:
    Quantize weights the way LLM serving stacks do. `quantize_int8` maps a weight to int8 with
    one absmax scale per tensor or per output channel; `quantize_uint8` maps a tensor to uint8
    with a scale and a zero point; `dequantize` maps codes back to float32. `quantize_int4`
    gives each group of `group_size` input columns its own scale and packs two 4-bit codes per
    byte (`pack_int4`, `unpack_int4`, `dequantize_int4`). `QuantLinear` is a weight-only
    quantized `nn.Linear` (W8A16 / W4A16) and `quantize_dynamic` swaps it in for every
    `nn.Linear` of a model, like the guide's `torch.quantization.quantize_dynamic` example.
    Call the given `check_float` first in each quantize function.

Rules:
    Do not use torch's quantized tensors or quantization toolkits (torch.quantize_per_tensor,
    torch.quantize_per_channel, torch.ao.quantization, torch.quantization, fake_quantize,
    bitsandbytes): the grader uses torch's as oracles.

Shapes:
    d_out, d_in (a weight is (d_out, d_in), as in nn.Linear); group = d_in // group_size;
    "*" any leading axes.

Reference:
    Absmax int8: Dettmers et al. 2022, "LLM.int8()", §3.1 Eq. 1, q = round(127 · x / absmax).
    Affine uint8: Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
    Integer-Arithmetic-Only Inference", Eq. 1, x = scale · (q − zero_point), with the scale and
    zero point of torch.ao.quantization.MinMaxObserver(dtype=torch.quint8) (torch 2.x).
    Group-wise int4: GPTQ (Frantar et al. 2023) and AWQ (Lin et al. 2024), groups of 128 input
    columns; nibble layout of torch.quint4x2 and llama.cpp's Q4_0 (code + 8).

Notable choices:
    - Rounding is half to even (torch.round), as in torch.quantize_per_tensor.
    - int8 uses the restricted range [-127, 127], scale = absmax / 127 (LLM.int8, bitsandbytes),
      so q(−x) = −q(x). torch's symmetric observer divides by 127.5 instead.
    - uint8 widens [min, max] to include 0, scale = (max − min) / 255 and zero_point =
      clamp(round(−min / scale), 0, 255), so 0.0 round-trips exactly; codes are clamped to
      [0, 255] (rounding can reach 256).
    - No scale is below EPS = torch.finfo(torch.float32).eps (as torch's observers): an all-zero
      tensor, channel or group gets codes 0 and a finite scale.
    - int4 codes are [-8, 7] with scale = absmax / 7 per group, stored as the nibble code + 8;
      element 2j goes in the low nibble of byte j, element 2j + 1 in the high nibble (torch's
      quint4x2 order; bitsandbytes puts the first element in the high nibble).
    - Scales are float32 and computed in float32 whatever the input dtype.
    - torch's quantize_dynamic also quantizes activations per batch (int8 GEMM, W8A8); this is
      the weight-only variant LLM serving uses: activations stay 16-bit.

Grade: nox -s quantization
"""

import copy

import torch
from jaxtyping import Float, Int, Int8, UInt8
from torch import Tensor, nn

EPS = torch.finfo(torch.float32).eps


def check_float(tensor: Tensor, name: str = "weight") -> None:
    """Raise ValueError unless `tensor` is a non-empty floating tensor, finite in float32."""
    if not tensor.is_floating_point():
        raise ValueError(f"{name} has dtype {tensor.dtype}; quantize a floating tensor")
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)}); nothing to quantize")
    if not torch.isfinite(tensor.float()).all():
        raise ValueError(f"{name} has a value that is inf or NaN in float32: no finite scale "
                         "covers it; find where it came from before quantizing")


def quantize_int8(weight: Float[Tensor, "d_out d_in"], per_channel: bool = False,
                  ) -> tuple[Int8[Tensor, "d_out d_in"], Float[Tensor, "..."]]:
    """Symmetric absmax int8: q = clamp(round(weight / scale), -127, 127).

    Args:
        weight: (d_out, d_in) floating weight, any float dtype.
        per_channel: one scale per output channel (row) instead of one for the tensor.

    Returns:
        q: (d_out, d_in) int8 codes in [-127, 127].
        scale: float32 absmax / 127 (at least EPS), shape () or (d_out,) per channel.

    Raises:
        ValueError: weight is not 2-D, or is rejected by `check_float`.
    """
    # TODO: implement this (about 8 lines in the reference).
    raise NotImplementedError(
        "quantize_int8: not written yet. Stuck? nox -s hint -- quantization"
    )


def quantize_uint8(x: Float[Tensor, "*shape"],
                   ) -> tuple[UInt8[Tensor, "*shape"], Float[Tensor, ""], Int[Tensor, ""]]:
    """Asymmetric (affine) uint8: q = clamp(round(x / scale) + zero_point, 0, 255).

    Args:
        x: floating tensor of any shape and float dtype.

    Returns:
        q: uint8 codes, x's shape.
        scale: float32 0-d, (max − min) / 255 over the range widened to include 0 (at least EPS).
        zero_point: int32 0-d, clamp(round(−min / scale), 0, 255), the code of 0.0.

    Raises:
        ValueError: rejected by `check_float`.
    """
    # TODO: implement this (about 7 lines in the reference).
    raise NotImplementedError(
        "quantize_uint8: not written yet. Stuck? nox -s hint -- quantization"
    )


def dequantize(q: Int[Tensor, "d_out *rest"], scale: Float[Tensor, "..."],
               zero_point: Int[Tensor, "..."] | int = 0) -> Float[Tensor, "d_out *rest"]:
    """float32 (q − zero_point) · scale.

    Args:
        q: int8 or uint8 codes of any shape.
        scale: 0-d (per tensor) or (d_out,) (per channel: one scale per index of q's axis 0).
        zero_point: an int, or an integer tensor shaped like `scale`.

    Returns:
        float32 tensor of q's shape.
    """
    # TODO: implement this (about 5 lines in the reference).
    raise NotImplementedError(
        "dequantize: not written yet. Stuck? nox -s hint -- quantization"
    )


def pack_int4(q: Int8[Tensor, "*batch d_in"]) -> UInt8[Tensor, "*batch d_in//2"]:
    """Pack int4 codes two per byte: byte j = (q[2j] + 8) | (q[2j + 1] + 8) << 4.

    Raises:
        ValueError: the last axis is odd, or a code is outside [-8, 7] (names the value).
    """
    # TODO: implement this (about 8 lines in the reference).
    raise NotImplementedError(
        "pack_int4: not written yet. Stuck? nox -s hint -- quantization"
    )


def unpack_int4(packed: UInt8[Tensor, "*batch packed"]) -> Int8[Tensor, "*batch d_in"]:
    """Inverse of `pack_int4`: int8 codes in [-8, 7], twice as many on the last axis."""
    # TODO: implement this (about 3 lines in the reference).
    raise NotImplementedError(
        "unpack_int4: not written yet. Stuck? nox -s hint -- quantization"
    )


def quantize_int4(weight: Float[Tensor, "d_out d_in"], group_size: int = 128,
                  ) -> tuple[UInt8[Tensor, "d_out d_in//2"], Float[Tensor, "d_out group"]]:
    """Symmetric int4 per group of `group_size` consecutive input columns, packed.

    Group g of row i is weight[i, g·group_size : (g + 1)·group_size]; its scale is
    absmax / 7 (at least EPS) and its codes clamp(round(weight / scale), -8, 7).

    Returns:
        packed: (d_out, d_in // 2) uint8, as `pack_int4` lays it out.
        scales: (d_out, d_in // group_size) float32.

    Raises:
        ValueError: weight is not 2-D, d_in is odd or not a multiple of group_size,
            group_size < 1, or `check_float` rejects weight.
    """
    # TODO: implement this (about 11 lines in the reference).
    raise NotImplementedError(
        "quantize_int4: not written yet. Stuck? nox -s hint -- quantization"
    )


def dequantize_int4(packed: UInt8[Tensor, "d_out packed"], scales: Float[Tensor, "d_out group"],
                    ) -> Float[Tensor, "d_out d_in"]:
    """float32 weight from `quantize_int4`'s output; group_size = d_in // group.

    Raises:
        ValueError: d_in = 2 · packed is not a multiple of the number of groups.
    """
    # TODO: implement this (about 5 lines in the reference).
    raise NotImplementedError(
        "dequantize_int4: not written yet. Stuck? nox -s hint -- quantization"
    )


class QuantLinear(nn.Module):
    """Weight-only quantized nn.Linear: int8 per channel (W8A16) or int4 groups (W4A16).

    Buffers: `qweight` (int8 (d_out, d_in) for bits=8, packed uint8 (d_out, d_in // 2) for
    bits=4), `scale` (float32 (d_out,) or (d_out, group)) and `bias` (a copy of the linear's
    bias, or None). No floating copy of the weight is kept.

    Raises:
        ValueError: bits is not 4 or 8, or quantize_int4 rejects the shape (names the values).
    """

    def __init__(self, linear: nn.Linear, bits: int = 8, group_size: int = 128) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.bits, self.group_size = bits, group_size
        # TODO: implement this (about 11 lines in the reference).
        raise NotImplementedError(
            "__init__: not written yet. Stuck? nox -s hint -- quantization"
        )

    def forward(self, x: Float[Tensor, "*batch d_in"]) -> Float[Tensor, "*batch d_out"]:
        """x @ dequantized_weightᵀ + bias, with the weight and bias cast to x's dtype."""
        # TODO: implement this (about 6 lines in the reference).
        raise NotImplementedError(
            "forward: not written yet. Stuck? nox -s hint -- quantization"
        )


def quantize_dynamic(model: nn.Module, bits: int = 8, group_size: int = 128) -> nn.Module:
    """A copy of `model` with every nn.Linear, at any depth, replaced by a QuantLinear.

    The input model is left unchanged (torch's quantize_dynamic with inplace=False). A bare
    nn.Linear gives a QuantLinear.
    """
    # TODO: implement this (about 8 lines in the reference).
    raise NotImplementedError(
        "quantize_dynamic: not written yet. Stuck? nox -s hint -- quantization"
    )
