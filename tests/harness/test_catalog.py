import pytest

from kata.catalog import CatalogError, UnknownKataError, find_kata, load_catalog

GOOD = """
[[kata]]
id = "attention"
title = "t"
track = "foundations"
seed = "1.1 大模型核心概念"
difficulty = 1
minutes = 10
summary = "s"
"""


def write(tmp_path, text):
    (tmp_path / "kata.toml").write_text(text)
    return tmp_path


def test_good_catalog_loads(tmp_path):
    (kata,) = load_catalog(write(tmp_path, GOOD))
    assert kata.id == "attention" and kata.solution == tmp_path / "solutions" / "attention.py"


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace('minutes = 10\n', ''), "missing required field 'minutes'"),
    (lambda t: t + 'colour = "red"\n', "unknown field 'colour'"),
    (lambda t: t.replace('difficulty = 1', 'difficulty = "hard"'), "field 'difficulty' must be int"),
    (lambda t: t.replace('difficulty = 1', 'difficulty = 7'), "difficulty must be 1, 2 or 3"),
    (lambda t: t.replace('"foundations"', '"cooking"'), "track 'cooking'"),
    (lambda t: t.replace('"attention"', '"tests"'), "reserved session name"),
    (lambda t: t.replace('"attention"', '"01-attention"'), "Python identifier"),
    (lambda t: t + t, "duplicate id 'attention'"),
    (lambda t: t + 'requires = ["nope"]\n', "requires unknown kata 'nope'"),
    (lambda t: t + "forbid = [1]\n", "list of strings"),
    (lambda t: t + "[[kata]\n", "not valid TOML"),
    (lambda t: t.replace('"1.1 大模型核心概念"', '"1.3 Normalization"'),
     "seed '1.3 Normalization' is not a section of the interview guide; use exactly one of: "
     "1.1 大模型核心概念, 1.2 Transformer架构"),
])
def test_invalid_catalog_names_entry_and_field(tmp_path, edit, words):
    with pytest.raises(CatalogError, match="kata.toml") as raised:
        load_catalog(write(tmp_path, edit(GOOD)))
    assert words in str(raised.value)


def test_unknown_id_suggests_closest(tmp_path):
    katas = load_catalog(write(tmp_path, GOOD))
    with pytest.raises(UnknownKataError, match="Did you mean attention"):
        find_kata("atention", katas)
