"""Library check for the `sft_data` reference: transformers' padding-free collator.

Not part of the grader. Run in a venv with transformers installed:
    python -m pytest tests/oracles/test_sft_data.py --target solutions -q

`DataCollatorWithFlattening` concatenates examples into one row with restarting position ids
and -100 on each example's first label; `pack` with max_length = the total length must give the
same row. (The ChatML rendering is checked by the grader against the documented template: a
real tokenizer's chat template needs a downloaded tokenizer.)
"""

import pytest
import torch

transformers = pytest.importorskip("transformers")


def test_pack_matches_data_collator_with_flattening(ref, record_property):
    generator = torch.Generator().manual_seed(0)
    collator = transformers.DataCollatorWithFlattening(return_position_ids=True)
    cases, mismatches = 0, 0
    for case in range(40):
        lengths = torch.randint(1, 7, (1 + case % 5,), generator=generator).tolist()
        examples = []
        for n in lengths:
            ids = torch.randint(0, 256, (n,), generator=generator)
            labels = torch.where(torch.rand(n, generator=generator) < 0.5, ids, -100)
            examples.append((ids, labels))
        flat = collator([{"input_ids": ids.tolist(), "labels": labels.tolist()}
                         for ids, labels in examples])
        packed = ref.pack(examples, sum(lengths))
        for key in ("input_ids", "labels", "position_ids"):
            mismatches += int(not torch.equal(packed[key], torch.as_tensor(flat[key])))
        cases += 1
    record_property("library", f"transformers {transformers.__version__}")
    record_property("cases", cases)
    record_property("max_abs_diff", float(mismatches))
    print(f"transformers {transformers.__version__} flattening: {cases} cases, "
          f"{mismatches} mismatching tensors")
    assert mismatches == 0
