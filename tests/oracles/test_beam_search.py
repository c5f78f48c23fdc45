"""beam_search vs transformers' generate(num_beams=...) on a tiny random Llama.

The two differ in how finished hypotheses leave the beam (the kata's beam shrinks; transformers
refills it from 2 · num_beams candidates), so the comparison keeps EOS out of reach (its
log-probability is pushed to -1e4 after the log-softmax, as transformers' SuppressTokens does
with -inf): then both keep the beam_width best prefixes by summed log-probability each step,
and the returned sequence and penalised score must agree.
"""

import pytest
import torch

CASES = 40


def test_best_beam_matches_transformers_generate(ref, oracle):
    pytest.importorskip("transformers")
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.generation.logits_process import LogitsProcessor, LogitsProcessorList

    class PushDown(LogitsProcessor):
        def __init__(self, token: int) -> None:
            self.token = token

        def __call__(self, input_ids, scores):
            return scores.index_fill(-1, torch.tensor([self.token]), -1e4)

    oracle.uses("transformers")
    for seed in range(CASES):
        g = torch.Generator().manual_seed(seed)
        vocab = int(torch.randint(4, 12, (), generator=g))
        torch.manual_seed(seed)
        config = LlamaConfig(vocab_size=vocab, hidden_size=8, intermediate_size=16,
                             num_hidden_layers=1, num_attention_heads=2, head_dim=4,
                             eos_token_id=vocab - 1, pad_token_id=0, bos_token_id=0)
        model = LlamaForCausalLM(config).double().eval()
        with torch.no_grad():  # the default init's tiny weights make near-ties between tokens
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
        eos = vocab - 1
        beam_width = int(torch.randint(2, 5, (), generator=g))  # 1 is greedy search there
        max_new_tokens = int(torch.randint(1, 6, (), generator=g))
        length_penalty = [1.0, 0.0, 2.0][seed % 3]
        prompt = torch.randint(0, vocab - 1, (int(torch.randint(1, 5, (), generator=g)),),
                               generator=g)

        def step_fn(beams):
            with torch.no_grad():
                logprobs = torch.log_softmax(model(beams).logits[:, -1], dim=-1)
            return logprobs.index_fill(-1, torch.tensor([eos]), -1e4)

        tokens, score = ref.beam_search(step_fn, prompt, beam_width, max_new_tokens, eos,
                                        length_penalty)
        with torch.no_grad():
            out = model.generate(prompt[None], attention_mask=torch.ones_like(prompt[None]),
                                 num_beams=beam_width, num_return_sequences=1,
                                 max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens,
                                 do_sample=False, length_penalty=length_penalty,
                                 early_stopping="never", output_scores=True,
                                 return_dict_in_generate=True, eos_token_id=eos,
                                 logits_processor=LogitsProcessorList([PushDown(eos)]))
        expected = out.sequences[0, prompt.shape[0]:]
        oracle.compare(tokens, expected, atol=0, what=f"best beam, seed {seed}")
        their_score = float(out.sequences_scores[0])
        # transformers keeps beam scores in float32
        oracle.compare(torch.tensor(score), torch.tensor(their_score), atol=1e-5,
                       what=f"penalised score, seed {seed}")
