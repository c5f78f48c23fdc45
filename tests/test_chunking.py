"""Grader for the `chunking` kata: worked examples, properties of any split, agreement, bad input.

Every expected split below is worked out by hand from the documented two steps: cut into pieces
(the first separator that occurs, kept at the end of the piece it closes; recurse on what is
still too long with the finer separators), then merge the pieces greedily with overlap.
"""

import itertools
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kata.check import assert_equal, call

CHINESE = ("\n\n", "。", "，", "")


def _split(impl, text, chunk_size, chunk_overlap=0, **options):
    chunks = call(impl.split_text, text, chunk_size, chunk_overlap, **options)
    assert isinstance(chunks, list), f"split_text must return a list of Chunk, got {chunks!r}"
    return chunks


def _pairs(chunks):
    return [(chunk.text, chunk.start) for chunk in chunks]


def tokens(text):
    """The documented stand-in tokenizer, written out: ASCII word runs and single other
    non-space characters."""
    return len(re.findall(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]", text))


# ---------------------------------------------------------------- worked examples


def test_spaces_pack_up_to_the_size_inclusive(impl):
    # "aaa bbb ccc" → pieces "aaa " (4), "bbb " (4), "ccc" (3). "aaa bbb " is 8 > 7, so "aaa "
    # goes alone; "bbb ccc" is exactly 7 and fits: the size is inclusive.
    assert_equal(_pairs(_split(impl, "aaa bbb ccc", 7)), [("aaa ", 0), ("bbb ccc", 4)],
                 what="split_text('aaa bbb ccc', chunk_size=7)")


def test_overlap_repeats_whole_pieces(impl):
    # size 8: "aaa bbb " (8) fits, + "ccc" = 11 does not → emit it; keep the tail "bbb " (4 <= 4
    # and "bbb ccc" = 7 <= 8): the next chunk starts at 4.
    assert_equal(_pairs(_split(impl, "aaa bbb ccc", 8, 4)), [("aaa bbb ", 0), ("bbb ccc", 4)],
                 what="split_text('aaa bbb ccc', 8, chunk_overlap=4): overlap exactly 4 is kept")
    # overlap 3: "bbb " (4) is longer than 3, so nothing is repeated.
    assert_equal(_pairs(_split(impl, "aaa bbb ccc", 8, 3)), [("aaa bbb ", 0), ("ccc", 8)],
                 what="split_text('aaa bbb ccc', 8, chunk_overlap=3): no whole piece fits in 3")


def test_separator_hierarchy_paragraph_line_space(impl):
    # "ab\n\ncd ef\n\ngh", size 5. "\n\n" occurs → "ab\n\n" (4), "cd ef\n\n" (7), "gh" (2).
    # "cd ef\n\n" is too long; with ("\n", " ", ""): "\n" occurs → "cd ef\n" (6), "\n" (1);
    # "cd ef\n" is too long; with (" ", ""): "cd " (3), "ef\n" (3).
    # Pieces: "ab\n\n" | "cd " | "ef\n" | "\n" | "gh" at 0, 4, 7, 10, 11; merge (size 5):
    # "ab\n\n"+"cd " = 7 → emit; "cd "+"ef\n" = 6 → emit; "ef\n"+"\n" = 4, +"gh" = 6 → emit.
    expected = [("ab\n\n", 0), ("cd ", 4), ("ef\n\n", 7), ("gh", 11)]
    assert_equal(_pairs(_split(impl, "ab\n\ncd ef\n\ngh", 5)), expected,
                 what="split_text('ab\\n\\ncd ef\\n\\ngh', 5)")


def test_text_that_fits_is_one_chunk(impl):
    text = "First paragraph.\n\nSecond one."
    assert_equal(_pairs(_split(impl, text, len(text))), [(text, 0)],
                 what="a text exactly chunk_size long is returned whole")


def test_long_word_falls_back_to_characters(impl):
    # "abcdefg hi" size 3: " " occurs → "abcdefg " (8, too long), "hi". The long piece is cut
    # between characters: a, b, c, ..., g, " ". Merge: "abc" | "def" | "g " | "hi".
    expected = [("abc", 0), ("def", 3), ("g ", 6), ("hi", 8)]
    assert_equal(_pairs(_split(impl, "abcdefg hi", 3)), expected,
                 what="split_text('abcdefg hi', 3)")


def test_repeated_text_gets_true_offsets(impl):
    # Four identical pieces: a search for the chunk's text would put every chunk at 0.
    expected = [("ab ", 0), ("ab ", 3), ("ab ", 6), ("ab", 9)]
    assert_equal(_pairs(_split(impl, "ab ab ab ab", 3)), expected,
                 what="split_text('ab ab ab ab', 3): offsets of repeated text")


def test_chinese_sentences_then_characters(impl):
    # separators ("\n\n", "。", "，", ""): "。" occurs → "大模型很强。" (6) and
    # "检索增强生成可以减少幻觉。" (13 > 8). The latter has no "，", so it is cut into characters.
    # Merge (8): "大模型很强。" + "检" + "索" = 8, + "增" = 9 → emit; then 8 characters; then the
    # rest.
    text = "大模型很强。检索增强生成可以减少幻觉。"
    expected = [("大模型很强。检索", 0), ("增强生成可以减少", 8), ("幻觉。", 16)]
    assert_equal(_pairs(_split(impl, text, 8, separators=CHINESE)), expected,
                 what="split_text(Chinese, 8, separators=('\\n\\n', '。', '，', ''))")


def test_chinese_without_spaces_with_default_separators(impl):
    # No "\n\n", "\n" or " ": every character is a piece; chunks of 4 with 1 repeated.
    text = "检索增强生成减少幻觉"
    expected = [("检索增强", 0), ("强生成减", 3), ("减少幻觉", 6)]
    assert_equal(_pairs(_split(impl, text, 4, 1)), expected,
                 what="split_text('检索增强生成减少幻觉', 4, chunk_overlap=1)")


def test_chunk_size_in_tokens(impl):
    # count_tokens: one token per word, spaces free. Pieces "the ", "cat ", "sat ", "on ", "the ",
    # "mat" (1 token each). Size 3, overlap 1: "the cat sat " → keep "sat " (1 token);
    # "sat on the " → keep "the "; "the mat".
    text = "the cat sat on the mat"
    assert tokens("the cat sat ") == 3
    expected = [("the cat sat ", 0), ("sat on the ", 8), ("the mat", 15)]
    assert_equal(_pairs(_split(impl, text, 3, 1, length_function=impl.count_tokens)), expected,
                 what="split_text('the cat sat on the mat', 3, 1, length_function=count_tokens)")


def test_empty_text_gives_no_chunks(impl):
    assert_equal(_pairs(_split(impl, "", 5)), [], what="split_text('', 5)")


def test_whitespace_only_text_is_kept(impl):
    # Nothing is stripped: "\n\n\n" → "\n\n" (2) + "\n" (1) fit together in 3.
    assert_equal(_pairs(_split(impl, "\n\n\n", 3)), [("\n\n\n", 0)],
                 what="split_text('\\n\\n\\n', 3): whitespace is text too")


# ---------------------------------------------------------------- properties

alphabet = st.sampled_from(list("ab c\n。，你好") + ["\n\n", "hello ", "大模型"])
texts = st.lists(alphabet, max_size=24).map("".join)
separator_choices = st.sampled_from([("\n\n", "\n", " ", ""), CHINESE, ("",), (" ", "")])


@st.composite
def settings_for(draw):
    chunk_size = draw(st.integers(1, 12))
    chunk_overlap = draw(st.integers(0, chunk_size - 1))
    separators = draw(separator_choices)
    by_tokens = draw(st.booleans())
    return chunk_size, chunk_overlap, separators, by_tokens


def _run(impl, text, chunk_size, chunk_overlap, separators, by_tokens):
    length = impl.count_tokens if by_tokens else len
    chunks = _split(impl, text, chunk_size, chunk_overlap, separators=separators,
                    length_function=length)
    return chunks, (tokens if by_tokens else len)


@given(text=texts, options=settings_for())
@example(text="aaa bbb ccc", options=(8, 7, ("\n\n", "\n", " ", ""), False))
@example(text="ab ab ab ab", options=(5, 3, ("\n\n", "\n", " ", ""), False))
def test_no_chunk_exceeds_the_size_and_none_is_empty(impl, text, options):
    chunk_size = options[0]
    chunks, length = _run(impl, text, *options)
    for chunk in chunks:
        assert chunk.text, f"an empty chunk at {chunk.start} of {text!r}"
        assert length(chunk.text) <= chunk_size, (
            f"chunk {chunk.text!r} has length {length(chunk.text)} > chunk_size={chunk_size} "
            f"(options {options}); is the overlap kept even when the next piece no longer fits?")


@given(text=texts, options=settings_for())
@example(text="ab ab ab ab", options=(3, 0, ("\n\n", "\n", " ", ""), False))
def test_offsets_point_at_the_chunk_text(impl, text, options):
    chunks, _ = _run(impl, text, *options)
    for chunk in chunks:
        assert text[chunk.start:chunk.start + len(chunk.text)] == chunk.text, (
            f"chunk {chunk.text!r} claims start={chunk.start}, but the text there is "
            f"{text[chunk.start:chunk.start + len(chunk.text)]!r}")


@given(text=texts, options=settings_for())
@example(text="ab\n\ncd ef\n\ngh", options=(5, 0, ("\n\n", "\n", " ", ""), False))
def test_joining_chunks_minus_overlaps_gives_the_text_back(impl, text, options):
    chunk_overlap = options[1]
    chunks, length = _run(impl, text, *options)
    if not text:
        assert chunks == [], f"'' must give no chunks, got {chunks!r}"
        return
    assert chunks and chunks[0].start == 0, "the first chunk must start at offset 0"
    rebuilt = ""
    for before, after in itertools.pairwise(chunks):
        assert before.start < after.start <= before.start + len(before.text), (
            f"chunks {before.text!r}@{before.start} and {after.text!r}@{after.start} must be in "
            "order, each starting inside or right after the previous one (no gaps)")
        overlap = text[after.start:before.start + len(before.text)]
        assert length(overlap) <= chunk_overlap, (
            f"{overlap!r} is repeated between two chunks: longer than chunk_overlap="
            f"{chunk_overlap}")
        rebuilt += before.text[:after.start - before.start]
    rebuilt += chunks[-1].text
    assert rebuilt == text, (
        f"joining the chunks with the overlaps removed gives {rebuilt!r}, not the text {text!r}: "
        "are separators dropped?")


@given(text=st.lists(st.sampled_from(list("检索增强生成大模型幻觉")), max_size=30).map("".join),
       chunk_size=st.integers(1, 6))
def test_chinese_without_spaces_fills_every_chunk(impl, text, chunk_size):
    chunks = _split(impl, text, chunk_size)
    expected = [(text[i:i + chunk_size], i) for i in range(0, len(text), chunk_size)]
    assert_equal(_pairs(chunks), expected,
                 what=f"split_text({text!r}, {chunk_size}): text without spaces is cut into full "
                      "chunks of characters")


# ---------------------------------------------------------------- agreement with the reference


@given(text=texts, options=settings_for())
@example(text="ab\n\ncd ef\n\ngh", options=(5, 2, ("\n\n", "\n", " ", ""), False))
@example(text="hello hello 大模型。你好", options=(3, 1, CHINESE, True))
def test_matches_reference(impl, ref, text, options):
    chunks, _ = _run(impl, text, *options)
    chunk_size, chunk_overlap, separators, by_tokens = options
    expected = ref.split_text(text, chunk_size, chunk_overlap, separators=separators,
                              length_function=ref.count_tokens if by_tokens else len)
    assert_equal(_pairs(chunks), _pairs(expected),
                 what=f"split_text({text!r}, {chunk_size}, {chunk_overlap}, separators="
                      f"{separators!r}, length_function={'count_tokens' if by_tokens else 'len'})")


# ---------------------------------------------------------------- bad input


def test_chunk_size_boundary(impl):
    assert_equal(_pairs(_split(impl, "ab", 1)), [("a", 0), ("b", 1)], what="split_text('ab', 1)")
    with pytest.raises(ValueError):
        call(impl.split_text, "ab", 0)


def test_chunk_overlap_boundaries(impl):
    assert_equal(_pairs(_split(impl, "abc", 2, 1)), [("ab", 0), ("bc", 1)],
                 what="split_text('abc', 2, chunk_overlap=1): the largest valid overlap")
    assert_equal(_pairs(_split(impl, "abc", 2, 0)), [("ab", 0), ("c", 2)],
                 what="split_text('abc', 2, chunk_overlap=0)")
    with pytest.raises(ValueError):
        call(impl.split_text, "abc", 2, 2)
    with pytest.raises(ValueError):
        call(impl.split_text, "abc", 2, -1)


def test_separators_must_end_with_the_character_split(impl):
    assert_equal(_pairs(_split(impl, "a b", 1, separators=("",))), [("a", 0), (" ", 1), ("b", 2)],
                 what="split_text('a b', 1, separators=('',))")
    for separators in [(" ",), (), ("", " "), ("\n", "", "")]:
        with pytest.raises(ValueError):
            call(impl.split_text, "a b", 1, separators=separators)


def test_character_longer_than_the_size(impl):
    def double(text):
        return 2 * len(text)

    assert_equal(_pairs(_split(impl, "ab", 2, length_function=double)), [("a", 0), ("b", 1)],
                 what="split_text('ab', 2, length_function=2*len): each character just fits")
    with pytest.raises(ValueError):
        call(impl.split_text, "ab", 1, length_function=double)


def test_text_must_be_a_string(impl):
    with pytest.raises(TypeError):
        call(impl.split_text, b"bytes are not text", 5)
