"""Grader for the `bpe_tokenizer` kata: worked examples, properties, then a naive oracle."""

import re
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_equal, call

A, B, C, D = ord("a"), ord("b"), ord("c"), ord("d")  # 97, 98, 99, 100

# Few distinct characters, so pairs repeat and merges (also of merged tokens) get learned;
# "é", "€" and "🙂" are 2, 3 and 4 UTF-8 bytes.
corpora = st.text(alphabet=st.sampled_from([*"aaabbc ", "é", "€", "🙂"]), max_size=40)
vocab_sizes = st.integers(256, 256 + 24)


# ---------------------------------------------------------------- the spec, written naively


def _merge(ids, pair, new_id):
    """Replace the occurrences of `pair` left to right, without overlap."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _naive_train(text, vocab_size):
    """Recount every adjacent pair after each merge; ties go to the smallest pair of ids."""
    ids, merges = list(text.encode("utf-8")), []
    while len(merges) < vocab_size - 256 and len(ids) > 1:
        counts = Counter(zip(ids, ids[1:]))
        most = max(counts.values())
        pair = min(p for p, count in counts.items() if count == most)
        ids = _merge(ids, pair, 256 + len(merges))
        merges.append(pair)
    return merges


def _naive_encode(text, merges):
    ids = list(text.encode("utf-8"))
    for rank, pair in enumerate(merges):
        ids = _merge(ids, pair, 256 + rank)
    return ids


# ---------------------------------------------------------------- worked examples


def test_wikipedia_aaabdaaabac_example(impl):
    # Wikipedia's "Byte pair encoding" example, counted by hand (a=97 b=98 c=99 d=100):
    #   a a a b d a a a b a c: (a,a) x4 (overlaps count), (a,b) x2, others x1 -> (a,a) = 256 "Z"
    #   Z a b d Z a b a c:     (Z,a) x2 and (a,b) x2 tie -> smaller ids (97,98) = 257 "Y"
    #   Z Y d Z Y a c:         (Z,Y) x2 -> (256,257) = 258 "X"
    #   X d X a c
    merges = call(impl.train_bpe, "aaabdaaabac", 259)
    assert_equal(merges, [(A, A), (A, B), (256, 257)], what="merges learned from 'aaabdaaabac'")
    ids = call(impl.encode, "aaabdaaabac", merges)
    assert_equal(ids, [258, D, 258, A, C], what="encode('aaabdaaabac') with those merges")
    assert_equal(call(impl.decode, ids, merges), "aaabdaaabac", what="decode of that encoding")


def test_ties_go_to_the_smallest_pair_of_ids(impl):
    # "zyxw": (z,y) (y,x) (x,w) each once. Smallest ids: (x,w)=(120,119) -> 256, the last pair,
    # not the first one seen. Then z y 256: (121,256) < (122,121) -> 257. Then (122,257) -> 258.
    merges = call(impl.train_bpe, "zyxw", 259)
    assert_equal(merges, [(120, 119), (121, 256), (122, 257)],
                 what="merges from 'zyxw' (every pair ties at count 1)")


def test_overlapping_occurrences_all_count_in_training(impl):
    # "aaabcbc": (a,a) x2 (positions 0-1 and 1-2), (b,c) x2, (a,b) x1, (c,b) x1: a tie, so the
    # smaller pair (97,97) wins. Counting "aaa" as one (a,a) pair would pick (b,c) instead.
    merges = call(impl.train_bpe, "aaabcbc", 257)
    assert_equal(merges, [(A, A)], what="first merge of 'aaabcbc' ('aaa' holds two (a,a) pairs)")


def test_adjacent_occurrences_update_each_others_neighbour_pairs(impl):
    # "ababba" = a b a b b a: (a,b) x2, (b,a) x2, (b,b) x1 -> tie, (97,98) = 256 "X".
    #   X X b a: the second X's left neighbour is the first X (not the b merged away), so the
    #            pairs are (X,X), (X,b), (b,a) once each: (b,a) drops from 2 to 1 and (X,a)
    #            never survives. Smallest of the tie: (98,97) = 257 "Y".
    #   X X Y:   (X,X), (X,Y) once each -> (256,256) = 258 "Z"; then Z Y -> (258,257) = 259.
    merges = call(impl.train_bpe, "ababba", 260)
    assert_equal(merges, [(A, B), (B, A), (256, 256), (258, 257)],
                 what="merges from 'ababba' (counts after merging adjacent occurrences)")
    # "aaaaa": (a,a) x4 -> X X a; (X,X) and (X,a) once each -> (256,97) = 257; X 257 -> 258.
    merges = call(impl.train_bpe, "aaaaa", 259)
    assert_equal(merges, [(A, A), (256, A), (256, 257)], what="merges from 'aaaaa'")
    # "abababab": (a,b) x4, (b,a) x3 -> X X X X; (X,X) x3 (overlapping) -> 257: 257 257 -> 258.
    merges = call(impl.train_bpe, "abababab", 259)
    assert_equal(merges, [(A, B), (256, 256), (257, 257)], what="merges from 'abababab'")


def test_runs_merge_left_to_right_without_overlap(impl):
    assert_equal(call(impl.encode, "aaa", [(A, A)]), [256, A], what="encode('aaa'), merge (a,a)")
    assert_equal(call(impl.encode, "aaaaa", [(A, A)]), [256, 256, A],
                 what="encode('aaaaa'), merge (a,a)")
    # Training on "aaa": (a,a) -> 256 leaves [256, a]; then (256, a) -> 257.
    assert_equal(call(impl.train_bpe, "aaa", 258), [(A, A), (256, A)],
                 what="merges from 'aaa'")


def test_merges_apply_in_rank_order_not_input_frequency(impl):
    # "abcbc" has (b,c) twice and (a,b) once, but (a,b) has rank 0:
    #   rank order:      a b c b c -> 256 c b c -> 256 c 257
    #   frequency order: a b c b c -> a 257 257 (then (a,b) no longer occurs)
    merges = [(A, B), (B, C)]
    assert_equal(call(impl.encode, "abcbc", merges), [256, C, 257],
                 what="encode('abcbc') with merges [(a,b), (b,c)]")


def test_multibyte_characters_are_utf8_bytes(impl):
    text = "é€🙂"
    expected = [0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x99, 0x82]  # UTF-8, by the table
    assert_equal(call(impl.encode, text, []), expected, what=f"encode({text!r}) without merges")
    assert_equal(call(impl.decode, expected, []), text, what="decode of those UTF-8 bytes")
    merges = [(0xC3, 0xA9)]  # 256 = "é"
    assert_equal(call(impl.decode, [256, ord("t")], merges), "ét",
                 what="decode([256, 't']) where 256 = the bytes of 'é'")


def test_decode_replaces_invalid_utf8(impl):
    assert_equal(call(impl.decode, [0xFF], []), "\ufffd", what="decode([0xFF]) (never valid)")
    assert_equal(call(impl.decode, [ord("h"), 0xC3, ord("i")], []), "h\ufffdi",
                 what="decode of 'h', the first byte of 'é' alone, 'i'")


def test_empty_and_tiny_texts(impl):
    assert_equal(call(impl.train_bpe, "", 300), [], what="train_bpe('', 300)")
    assert_equal(call(impl.train_bpe, "a", 300), [], what="train_bpe('a', 300): no pair exists")
    assert_equal(call(impl.train_bpe, "ab", 300), [(A, B)],
                 what="train_bpe('ab', 300): stops once the text is one token")
    assert_equal(call(impl.train_bpe, "abab", 256), [], what="train_bpe('abab', 256)")
    assert_equal(call(impl.encode, "", [(A, B)]), [], what="encode('')")
    assert_equal(call(impl.decode, [], [(A, B)]), "", what="decode([])")


# ---------------------------------------------------------------- properties


@given(text=st.text(), corpus=corpora, vocab_size=vocab_sizes)
def test_decode_inverts_encode(impl, text, corpus, vocab_size):
    merges = call(impl.train_bpe, corpus, vocab_size)
    for sample in (text, corpus, corpus + text):
        ids = call(impl.encode, sample, merges)
        assert_equal(call(impl.decode, ids, merges), sample,
                     what=f"decode(encode({sample!r})) with {len(merges)} merges")


@given(text=st.text(max_size=30), corpus=corpora, vocab_size=vocab_sizes)
def test_training_and_encoding_are_deterministic(impl, text, corpus, vocab_size):
    merges = call(impl.train_bpe, corpus, vocab_size)
    assert_equal(call(impl.train_bpe, corpus, vocab_size), merges,
                 what=f"a second train_bpe({corpus!r}, {vocab_size})")
    ids = call(impl.encode, text, merges)
    assert_equal(call(impl.encode, text, list(merges)), ids, what=f"a second encode({text!r})")


@given(corpus=corpora, vocab_size=vocab_sizes)
def test_merge_count_is_vocab_size_minus_256_unless_one_token_is_left(impl, corpus, vocab_size):
    merges = call(impl.train_bpe, corpus, vocab_size)
    if len(merges) < vocab_size - 256:
        ids = call(impl.encode, corpus, merges)
        assert len(ids) <= 1, (
            f"train_bpe({corpus!r}, {vocab_size}) stopped after {len(merges)} merges, but the "
            f"text is still {len(ids)} tokens: keep merging until vocab_size - 256 merges")
    else:
        assert len(merges) == vocab_size - 256, (
            f"train_bpe({corpus!r}, {vocab_size}) learned {len(merges)} merges; a vocabulary "
            f"of {vocab_size} holds 256 bytes + {vocab_size - 256} merges")


@given(corpus=corpora, vocab_size=vocab_sizes)
def test_merges_only_use_earlier_tokens(impl, corpus, vocab_size):
    merges = call(impl.train_bpe, corpus, vocab_size)
    for rank, (left, right) in enumerate(merges):
        assert 0 <= left < 256 + rank and 0 <= right < 256 + rank, (
            f"merge {rank} = {(left, right)} uses an id that does not exist yet (ids before it "
            f"run from 0 to {255 + rank})")
    assert len(set(merges)) == len(merges), f"a pair is merged twice: {merges}"


@given(corpus=corpora, vocab_size=vocab_sizes)
def test_every_merge_shortens_the_training_text(impl, corpus, vocab_size):
    merges = call(impl.train_bpe, corpus, vocab_size)
    lengths = [len(call(impl.encode, corpus, merges[:k])) for k in range(len(merges) + 1)]
    assert lengths[0] == len(corpus.encode("utf-8")), "with no merges the ids are the bytes"
    assert all(b < a for a, b in zip(lengths, lengths[1:])), (
        f"encoded lengths of {corpus!r} with the first k merges, k = 0..{len(merges)}: {lengths}; "
        "each learned pair occurs in the training text, so each merge must shorten it")


@given(corpus=corpora, vocab_size=vocab_sizes, data=st.data())
def test_a_smaller_vocab_learns_a_prefix_of_the_merges(impl, corpus, vocab_size, data):
    merges = call(impl.train_bpe, corpus, vocab_size)
    smaller = data.draw(st.integers(256, vocab_size), label="smaller")
    assert_equal(call(impl.train_bpe, corpus, smaller), merges[: smaller - 256],
                 what=f"train_bpe({corpus!r}, {smaller}) vs the first merges of vocab {vocab_size}")


# ---------------------------------------------------------------- oracle: the spec, naively


@given(corpus=corpora, vocab_size=vocab_sizes)
def test_training_matches_recounting_after_every_merge(impl, corpus, vocab_size):
    expected = _naive_train(corpus, vocab_size)
    assert_equal(call(impl.train_bpe, corpus, vocab_size), expected,
                 what=f"train_bpe({corpus!r}, {vocab_size})")


@given(text=corpora, corpus=corpora, vocab_size=vocab_sizes)
def test_encoding_matches_merges_applied_one_rank_at_a_time(impl, text, corpus, vocab_size):
    merges = _naive_train(corpus, vocab_size)
    assert_equal(call(impl.encode, text, merges), _naive_encode(text, merges),
                 what=f"encode({text!r}) with merges learned from {corpus!r}")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("vocab_size", [255, 0, -3])
def test_vocab_size_below_256_raises_value_error(impl, vocab_size):
    with pytest.raises(ValueError) as raised:
        call(impl.train_bpe, "abc", vocab_size)
    assert re.search(rf"(?<!\d){vocab_size}(?!\d)", str(raised.value)), (
        f"the ValueError should name vocab_size={vocab_size}; it said: {str(raised.value)!r}")


def test_smallest_vocab_and_last_id_are_accepted(impl):
    assert_equal(call(impl.train_bpe, "abab", 256), [], what="train_bpe('abab', 256): no merges")
    assert_equal(call(impl.train_bpe, "abab", 257), [(A, B)], what="train_bpe('abab', 257)")
    assert_equal(call(impl.decode, [256], [(A, B)]), "ab",
                 what="decode([256]) with one merge (256 = 255 + len(merges) is the last id)")


@pytest.mark.parametrize("token", [257, -1])
def test_decode_of_unknown_id_raises_value_error(impl, token):
    with pytest.raises(ValueError) as raised:
        call(impl.decode, [A, token], [(A, B)])  # the vocabulary is ids 0..256
    assert re.search(rf"(?<![\d-]){token}(?!\d)", str(raised.value)), (
        f"the ValueError should name the id {token}; it said: {str(raised.value)!r}")
