import pytest

from kata.stubgen import StubError, find_regions, make_stub, strip_markers

SOLUTION = '''"""Doc."""
import math


def area(radius: float) -> float:
    """Area of a circle."""
    # BEGIN SOLUTION
    squared = radius * radius
    return math.pi * squared
    # END SOLUTION
'''


def test_stub_replaces_region_with_todo_and_raise():
    stub = make_stub(SOLUTION, "circle")
    assert "math.pi" not in stub
    assert "# TODO" in stub
    assert "raise NotImplementedError(" in stub
    assert '"area: not written yet. Stuck? nox -s hint -- circle"' in stub
    assert '"""Area of a circle."""' in stub  # the docstring is given


def test_stub_imports_and_raises_not_implemented():
    namespace = {}
    exec(make_stub(SOLUTION, "circle"), namespace)
    with pytest.raises(NotImplementedError, match="area"):
        namespace["area"](1.0)


def test_size_cue_counts_code_lines():
    assert "about 2 lines" in make_stub(SOLUTION, "circle")


def test_region_outside_function_is_refused():
    with pytest.raises(StubError, match="inside a function"):
        find_regions("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n")


@pytest.mark.parametrize("source, words", [
    ("def f():\n    # BEGIN SOLUTION\n    pass\n", "never closed"),
    ("def f():\n    pass\n    # END SOLUTION\n", "without BEGIN"),
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    pass\n", "inside another"),
])
def test_unbalanced_markers_are_refused(source, words):
    with pytest.raises(StubError, match=words):
        find_regions(source)


def test_strip_markers_keeps_code():
    clean = strip_markers(SOLUTION)
    assert "SOLUTION" not in clean and "math.pi * squared" in clean
