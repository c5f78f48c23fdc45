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


@pytest.mark.parametrize("source", [
    "from solutions.attention import *\n",
    "from solutions.attention import scaled_dot_product_attention as sdpa\n",
    "import solutions.attention\n",
    "import solutions.attention as ref\n",
    "import solutions\n",
    "from solutions import attention\n",
    "import importlib\nref = importlib.import_module('solutions.attention')\n",
    "from importlib import import_module\nref = import_module('solutions.attention')\n",
    "ref = __import__('solutions.attention', fromlist=['x'])\n",
    "exec(open('solutions/attention.py').read())\n",
    "from pathlib import Path\nsource = Path('solutions') / 'attention.py'\n",
    "import os\nsource = os.path.join(ROOT, 'solutions', 'attention.py')\n",
    "source = open('../solutions/attention.py').read()\n",
    "source = open(r'..\\solutions\\attention.py').read()\n",
])
def test_importing_or_reading_the_reference_is_refused_with_any_forbid_list(source):
    for forbid in ([], [SDPA]):
        violations = check_source(source, forbid)
        assert violations, (source, forbid)
        message = violations[0].message("exercises/attention.py")
        assert "exercises/attention.py:" in message and "reference" in message


@pytest.mark.parametrize("source", [
    '"""Solutions to the exercises are graded by pytest."""\n',
    "import torch\nsolutions = [1, 2]\nprint(solutions[0])\n",
    "message = 'see the solutions folder once you pass'\n",
    "from kata.check import call\n",
])
def test_the_word_solutions_alone_is_not_refused(source):
    assert check_source(source, []) == []
