"""Library check for the `peft_adapters` reference: PEFT's prompt tuning on random inputs.

Not part of the grader (PEFT is not a dependency). Run in a venv with peft installed:
    python -m pytest tests/oracles/test_peft_adapters.py --target solutions -q

A tiny random LlamaForCausalLM wrapped by `get_peft_model(PromptTuningConfig(...))` with the
same soft prompt: its logits and loss must equal the base model's on the inputs_embeds,
attention_mask and labels that `PromptTuning` builds. (Prefix tuning is checked by the grader:
PEFT passes prefixes as past_key_values, so its real tokens' positions depend on the model.)
"""

import pytest
import torch

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")


def test_prompt_tuning_matches_peft(ref, record_property):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=20, hidden_size=8, intermediate_size=16,
                                      num_hidden_layers=1, num_attention_heads=2,
                                      num_key_value_heads=2, pad_token_id=0)
    base = transformers.LlamaForCausalLM(config).double().eval()
    generator = torch.Generator().manual_seed(1)
    cases, max_diff = 0, 0.0
    for case in range(12):
        virtual = 1 + case % 4
        model = peft.get_peft_model(base, peft.PromptTuningConfig(
            task_type="CAUSAL_LM", num_virtual_tokens=virtual)).double().eval()
        soft = torch.randn(virtual, 8, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            model.prompt_encoder["default"].embedding.weight.copy_(soft)
        ours = ref.PromptTuning(base.get_input_embeddings(), virtual)
        with torch.no_grad():
            ours.prompt_embeddings.copy_(soft)
        batch, seq = 1 + case % 3, 2 + case % 4
        input_ids = torch.randint(1, 20, (batch, seq), generator=generator)
        attention_mask = torch.ones(batch, seq, dtype=torch.long)
        attention_mask[0, seq - 1:] = 0  # right padding on the first row
        labels = input_ids.masked_fill(attention_mask == 0, -100)
        with torch.no_grad():
            expected = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
            inputs = ours(input_ids, attention_mask, labels)
            got = base(**inputs)
        max_diff = max(max_diff, float((got.logits - expected.logits).abs().max()),
                       float((got.loss - expected.loss).abs()))
        cases += 1
    record_property("library", f"peft {peft.__version__}")
    record_property("cases", cases)
    record_property("max_abs_diff", max_diff)
    print(f"peft {peft.__version__} prompt tuning: {cases} cases, max abs diff {max_diff:.3g}")
    assert max_diff < 1e-10
