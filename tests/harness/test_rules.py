import pytest

from kata.rules import check_source

SDPA = "torch.nn.functional.scaled_dot_product_attention"


@pytest.mark.parametrize("source", [
    "import torch\ntorch.nn.functional.scaled_dot_product_attention(q, k, v)\n",
    "import torch.nn.functional as F\nF.scaled_dot_product_attention(q, k, v)\n",
    "from torch.nn import functional as F\nF.scaled_dot_product_attention(q, k, v)\n",
    "from torch.nn.functional import scaled_dot_product_attention as sdpa\nsdpa(q, k, v)\n",
    "import torch.nn.functional as F\nf = F.scaled_dot_product_attention\n",
    "import torch.nn.functional as F\ngetattr(F, 'scaled_dot_product_attention')(q, k, v)\n",
])
def test_forbidden_use_is_found_however_imported(source):
    violations = check_source(source, [SDPA])
    assert violations, source
    assert violations[0].forbidden == SDPA
    assert "forbids" in violations[0].message("x.py") and "x.py:" in violations[0].message("x.py")


def test_allowed_code_passes():
    source = "import torch\nimport torch.nn.functional as F\nF.softmax(torch.ones(2), dim=-1)\n"
    assert check_source(source, [SDPA]) == []


def test_violation_names_the_line():
    source = "import torch\n\n\ny = torch.nn.MultiheadAttention(4, 2)\n"
    (violation,) = check_source(source, ["torch.nn.MultiheadAttention"])
    assert violation.line == 4


def test_prefix_entry_covers_members():
    source = "import torch\ntorch.nn.MultiheadAttention.forward\n"
    assert check_source(source, ["torch.nn.MultiheadAttention"])
