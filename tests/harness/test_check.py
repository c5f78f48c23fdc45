"""Unit tests of kata.check's messages for plain (non-tensor) values."""

import pytest

from kata.check import assert_equal, first_difference


def test_first_difference_walks_into_lists_dicts_and_text():
    expected = [{"role": "user", "content": "x" * 40 + '<source id="1">'}]
    actual = [{"role": "user", "content": "x" * 40 + '<source id="0">'}]
    where = first_difference(actual, expected)
    assert where.startswith("[0]['content'] at character 52:"), where
    assert 'id="1"' in where and 'id="0"' in where, where


def test_first_difference_names_missing_and_extra_items_and_keys():
    assert "missing item [1]: 2" in first_difference([1], [1, 2])
    assert "extra item [1]: 3" in first_difference([1, 3], [1])
    assert "keys ['a'], expected ['b']" in first_difference({"a": 1}, {"b": 1})
    assert first_difference([1], [1]) == ""


def test_assert_equal_adds_the_difference_only_for_long_values():
    with pytest.raises(AssertionError) as short:
        assert_equal([1], [2], what="short")
    assert "first difference" not in str(short.value)
    with pytest.raises(AssertionError) as long:
        assert_equal(["a" * 200, "b"], ["a" * 200, "c"], what="long")
    assert "first difference: [1] at character 0: expected 'c', got 'b'" in str(long.value)
