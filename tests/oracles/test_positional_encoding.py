"""positional_encoding vs transformers' sinusoidal tables: XLM's (interleaved, as the paper)
and Marian's (all sines, then all cosines: the same table with permuted features)."""

import pytest
import torch

CASES = 40


def test_encoding_matches_transformers_xlm_and_marian(ref, oracle):
    pytest.importorskip("transformers")
    from transformers.models.marian.modeling_marian import MarianSinusoidalPositionalEmbedding
    from transformers.models.xlm.modeling_xlm import create_sinusoidal_embeddings

    oracle.uses("transformers")
    for seed in range(CASES):
        g = torch.Generator().manual_seed(seed)
        d_model = 2 * int(torch.randint(1, 33, (), generator=g))
        n_pos = int(torch.randint(1, 600, (), generator=g))
        encoding = ref.sinusoidal_encoding(torch.arange(n_pos), d_model)  # float32, base 10000
        xlm = torch.empty(n_pos, d_model)
        create_sinusoidal_embeddings(n_pos, d_model, xlm)
        oracle.compare(encoding, xlm, atol=1e-5, what=f"vs XLM, d_model {d_model}")
        marian = MarianSinusoidalPositionalEmbedding(n_pos, d_model).create_weight()
        sines, cosines = encoding[:, 0::2], encoding[:, 1::2]
        oracle.compare(torch.cat((sines, cosines), dim=-1), marian, atol=1e-5,
                       what=f"vs Marian (sines then cosines), d_model {d_model}")
