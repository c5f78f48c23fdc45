"""Parameter-efficient fine-tuning beyond LoRA: bottleneck adapters, prefix and prompt tuning.

Task:
    Write three ways to adapt a frozen model with few parameters. `BottleneckAdapter`: Houlsby's
    residual bottleneck h + up(relu(down(h))) with the up projection zero-initialised, so it
    starts as the identity. `PrefixAttention`: prefix tuning on the given `TinyAttention`:
    learned key/value prefixes prepended in every forward, every query allowed to see all of
    them, the real tokens keeping their own position ids. `PromptTuning`: learned virtual token
    embeddings prepended to the input embeddings, with the attention mask and labels extended.

Rules:
    Plain torch; no peft or adapters libraries. Use the given `TinyAttention` (its `project`
    and `attend`), do not re-implement attention.

Shapes:
    batch, seq (real tokens), virtual (num_virtual_tokens), d_model, heads, head_dim,
    bottleneck.

Reference:
    Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP", §2.1 (bottleneck with
    a skip connection, near-identity initialisation); Li & Liang 2021, "Prefix-Tuning", §4
    (learned key/value activations at every layer); Lester et al. 2021, "The Power of Scale for
    Parameter-Efficient Prompt Tuning" (soft prompt prepended to the embedded input). Names,
    the -100 labels and the mask extension follow Hugging Face PEFT's PromptTuning /
    PrefixTuning (peft 0.21, `PeftModelForCausalLM.forward`).

Notable choices:
    - The adapter's up projection (weight and bias) starts at zero; the down projection keeps
      nn.Linear's default init (Houlsby use a near-zero init for both).
    - Prefix keys are used as given: no rotary embedding is applied to them (they have no
      position); the real tokens keep position ids 0..seq-1. (PEFT passes the prefixes as
      past_key_values; some models then start the real positions at num_virtual_tokens.)
    - Padding is on the right; attention_mask is 1 on real tokens. Prefixes are visible to
      every query, padded keys to none.

Grade: nox -s peft_adapters
"""

import math

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

IGNORE_INDEX = -100


class TinyAttention(nn.Module):
    """Given: multi-head self-attention with rotary embeddings, split in two steps.

    `project` makes rotated queries/keys and values; `attend` runs softmax attention with a
    boolean mask (True = may attend) and the output projection.
    """

    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, d_model // num_heads
        self.q_proj, self.k_proj = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.v_proj, self.o_proj = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)

    def rotate(self, x: Float[Tensor, "batch heads seq head_dim"],
               position_ids: Int[Tensor, "batch seq"]) -> Float[Tensor, "batch heads seq head_dim"]:
        half = self.head_dim // 2
        inv_freq = 10000.0 ** (-torch.arange(half, dtype=torch.float64) / half)
        angles = position_ids[:, None, :, None].double() * inv_freq.to(x.device)  # (b, 1, s, half)
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)

    def project(self, x: Float[Tensor, "batch seq d_model"],
                position_ids: Int[Tensor, "batch seq"]) -> tuple[Tensor, Tensor, Tensor]:
        """(query, key, value), each (batch, heads, seq, head_dim); query and key rotated."""
        batch, seq, _ = x.shape

        def heads(t):  # (batch, seq, d_model) -> (batch, heads, seq, head_dim)
            return t.view(batch, seq, self.num_heads, self.head_dim).transpose(1, 2)

        query, key, value = heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x))
        return self.rotate(query, position_ids), self.rotate(key, position_ids), value

    def attend(self, query: Float[Tensor, "batch heads q_len head_dim"],
               key: Float[Tensor, "batch heads kv_len head_dim"],
               value: Float[Tensor, "batch heads kv_len head_dim"],
               mask: Bool[Tensor, "batch 1 q_len kv_len"]) -> Float[Tensor, "batch q_len d_model"]:
        """softmax(q kᵀ / √head_dim, masked) v, heads merged, then o_proj."""
        scores = query @ key.transpose(-1, -2) / math.sqrt(self.head_dim)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        out = weights @ value  # (batch, heads, q_len, head_dim)
        batch, _, q_len, _ = out.shape
        return self.o_proj(out.transpose(1, 2).reshape(batch, q_len, -1))

    def forward(self, x: Float[Tensor, "batch seq d_model"],
                attention_mask: Int[Tensor, "batch seq"]) -> Float[Tensor, "batch seq d_model"]:
        """Plain causal self-attention over right-padded x (no prefixes)."""
        batch, seq, _ = x.shape
        position_ids = torch.arange(seq, device=x.device).expand(batch, seq)
        query, key, value = self.project(x, position_ids)
        causal = torch.ones(seq, seq, dtype=torch.bool, device=x.device).tril()
        mask = causal & attention_mask.bool()[:, None, None, :]
        return self.attend(query, key, value, mask)


class BottleneckAdapter(nn.Module):
    """h + up(relu(down(h))): Houlsby's adapter, the identity at initialisation.

    Attributes (tests write into these): down: nn.Linear(d_model, bottleneck);
    up: nn.Linear(bottleneck, d_model), weight and bias zero at initialisation.
    """

    def __init__(self, d_model: int, bottleneck: int) -> None:
        super().__init__()
        # BEGIN SOLUTION
        self.down = nn.Linear(d_model, bottleneck)
        self.up = nn.Linear(bottleneck, d_model)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        # END SOLUTION

    def forward(self, hidden: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        # BEGIN SOLUTION
        return hidden + self.up(torch.relu(self.down(hidden)))
        # END SOLUTION


class PrefixAttention(nn.Module):
    """Prefix tuning of one frozen TinyAttention layer.

    Attributes (tests write into these): attn: the wrapped TinyAttention, all its parameters
    frozen; prefix_key, prefix_value: nn.Parameter (heads, virtual, head_dim), N(0, 1) at
    initialisation, shared by every sequence of the batch.

    Raises:
        ValueError: num_virtual_tokens < 1.
    """

    def __init__(self, attn: TinyAttention, num_virtual_tokens: int) -> None:
        super().__init__()
        # BEGIN SOLUTION
        if num_virtual_tokens < 1:
            raise ValueError(f"num_virtual_tokens={num_virtual_tokens}: use at least 1")
        self.attn = attn.requires_grad_(False)
        shape = (attn.num_heads, num_virtual_tokens, attn.head_dim)
        weight = attn.q_proj.weight
        self.prefix_key = nn.Parameter(torch.randn(shape, dtype=weight.dtype,
                                                   device=weight.device))
        self.prefix_value = nn.Parameter(torch.randn(shape, dtype=weight.dtype,
                                                     device=weight.device))
        # END SOLUTION

    def forward(self, x: Float[Tensor, "batch seq d_model"],
                attention_mask: Int[Tensor, "batch seq"]) -> Float[Tensor, "batch seq d_model"]:
        """Causal attention over [prefixes; x]: every query sees all prefixes.

        Args:
            x: (batch, seq, d_model) real tokens, right-padded.
            attention_mask: (batch, seq) 1 on real tokens, 0 on padding.

        Returns:
            (batch, seq, d_model); the real tokens use position ids 0..seq-1.
        """
        # BEGIN SOLUTION
        batch, seq, _ = x.shape
        virtual = self.prefix_key.shape[1]
        position_ids = torch.arange(seq, device=x.device).expand(batch, seq)
        query, key, value = self.attn.project(x, position_ids)
        # (heads, virtual, head_dim) -> (batch, heads, virtual + seq, head_dim)
        key = torch.cat([self.prefix_key.expand(batch, -1, -1, -1), key], dim=2)
        value = torch.cat([self.prefix_value.expand(batch, -1, -1, -1), value], dim=2)
        causal = torch.ones(seq, seq, dtype=torch.bool, device=x.device).tril()
        real = causal & attention_mask.bool()[:, None, None, :]  # (batch, 1, seq, seq)
        prefix = torch.ones(batch, 1, seq, virtual, dtype=torch.bool, device=x.device)
        return self.attn.attend(query, key, value, torch.cat([prefix, real], dim=-1))
        # END SOLUTION


class PromptTuning(nn.Module):
    """Soft prompt: learned virtual token embeddings before the embedded input.

    Attributes (tests write into these): embedding: the wrapped nn.Embedding, frozen;
    prompt_embeddings: nn.Parameter (virtual, d_model), N(0, 1) at initialisation.

    Raises:
        ValueError: num_virtual_tokens < 1.
    """

    def __init__(self, embedding: nn.Embedding, num_virtual_tokens: int) -> None:
        super().__init__()
        # BEGIN SOLUTION
        if num_virtual_tokens < 1:
            raise ValueError(f"num_virtual_tokens={num_virtual_tokens}: use at least 1")
        self.embedding = embedding.requires_grad_(False)
        weight = embedding.weight
        self.prompt_embeddings = nn.Parameter(torch.randn(
            num_virtual_tokens, weight.shape[1], dtype=weight.dtype, device=weight.device))
        # END SOLUTION

    def forward(self, input_ids: Int[Tensor, "batch seq"], attention_mask: Int[Tensor, "batch seq"],
                labels: Int[Tensor, "batch seq"] | None = None) -> dict[str, Tensor | None]:
        """The inputs a causal LM receives with the soft prompt in front.

        Returns:
            {"inputs_embeds": (batch, virtual + seq, d_model), the prompt then embed(input_ids);
             "attention_mask": (batch, virtual + seq), 1 on the virtual tokens, then the mask;
             "labels": (batch, virtual + seq), IGNORE_INDEX on the virtual tokens, then labels
             (None if labels is None)}.
        """
        # BEGIN SOLUTION
        batch = input_ids.shape[0]
        virtual = self.prompt_embeddings.shape[0]
        prompt = self.prompt_embeddings.expand(batch, -1, -1)  # (batch, virtual, d_model)
        inputs_embeds = torch.cat([prompt, self.embedding(input_ids)], dim=1)
        ones = torch.ones(batch, virtual, dtype=attention_mask.dtype, device=input_ids.device)
        mask = torch.cat([ones, attention_mask], dim=1)
        if labels is not None:
            ignored = torch.full((batch, virtual), IGNORE_INDEX, dtype=labels.dtype,
                                 device=labels.device)
            labels = torch.cat([ignored, labels], dim=1)
        return {"inputs_embeds": inputs_embeds, "attention_mask": mask, "labels": labels}
        # END SOLUTION
