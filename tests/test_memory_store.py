"""Grader for the `memory_store` kata: worked examples, properties, persistence, bad input.

Token counts and embeddings are the kata's given `count_tokens` and `embed`, so every expected
value below is worked out by hand: count_tokens = 4 + words of the content + 4 per tool call;
the words used here land in distinct embedding buckets, so cosine(a, b) = |shared words| /
sqrt(|words of a| · |words of b|) for texts without repeated words.
"""

import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kata.check import assert_equal, call

# ---------------------------------------------------------------- helpers


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def system(text):
    return {"role": "system", "content": text}


def tool_use(*call_ids):
    calls = [{"id": i, "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
             for i in call_ids]
    return {"role": "assistant", "content": None, "tool_calls": calls}


def tool_result(call_id, text):
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def tokens(message):
    """The documented count: 4 + words of the content + 4 per tool call."""
    words = len((message.get("content") or "").split())
    return 4 + words + 4 * len(message.get("tool_calls") or [])


def _window(impl, history, budget, **options):
    memory = call(impl.ShortTermMemory, budget)
    for message in history:
        call(memory.add, message)
    return call(memory.messages, **options)


def _show(messages):
    return [f"{m['role']}:{m.get('content')!r}" + (" +calls" if m.get("tool_calls") else "")
            for m in messages]


def _units(history):
    """The documented units: a message plus the tool messages answering its tool calls."""
    units = []
    for message in history:
        if message["role"] == "system":
            continue
        if message["role"] == "tool":
            if units and units[-1][0].get("tool_calls"):
                units[-1].append(message)
            continue
        units.append([message])
    return units


def _cosine(a, b):
    """Cosine of two texts' bags of words (distinct buckets, no repeated words)."""
    a, b = set(a.split()), set(b.split())
    return len(a & b) / math.sqrt(len(a) * len(b)) if a and b else 0.0


# Words whose zlib.crc32 buckets (mod 256) are all distinct.
VOCAB = ["red", "apple", "green", "car", "blue", "sky", "paris", "rome"]
texts = st.lists(st.sampled_from(VOCAB), unique=True, max_size=5).map(" ".join)
chat_words = st.lists(st.sampled_from(["alpha", "beta", "gamma"]), max_size=4).map(" ".join)


@st.composite
def conversations(draw, max_units=8):
    history = []
    for index in range(draw(st.integers(0, max_units))):
        kind = draw(st.sampled_from(["user", "assistant", "tool_use", "orphan", "system"]))
        if kind == "user":
            history.append(user(draw(chat_words)))
        elif kind == "assistant":
            history.append(assistant(draw(chat_words)))
        elif kind == "system":
            history.append(system(draw(chat_words)))
        elif kind == "orphan":
            history.append(tool_result(f"gone_{index}", draw(chat_words)))
        else:
            ids = [f"call_{index}_{n}" for n in range(draw(st.integers(1, 3)))]
            history.append(tool_use(*ids))
            history += [tool_result(i, draw(chat_words)) for i in ids]
    return history


# ---------------------------------------------------------------- short-term: worked examples


def test_window_keeps_the_longest_recent_suffix_that_fits(impl):
    history = [system("You are terse."), user("hello there"), assistant("hi"),
               user("what is the weather in Oslo")]
    # tokens: 7, 6, 5, 10. Budget 22 = 7 + 5 + 10 exactly (the budget is inclusive).
    assert_equal(_show(_window(impl, history, 22)), _show([history[0], history[2], history[3]]),
                 what="messages() with max_tokens=22")
    assert_equal(_show(_window(impl, history, 21)), _show([history[0], history[3]]),
                 what="messages() with max_tokens=21")
    assert_equal(_show(_window(impl, history, 100)), _show(history), what="messages() when all fit")


def test_tool_call_and_its_results_are_kept_or_dropped_together(impl):
    history = [user("check two cities"), tool_use("c1", "c2"), tool_result("c1", "sunny"),
               tool_result("c2", "rainy"), assistant("Oslo is sunny, Bergen rainy")]
    # tokens: 7, 4 + 8 = 12, 5, 5, 9. The call with its two results is one unit of 22.
    assert_equal(_show(_window(impl, history, 31)), _show(history[1:]),
                 what="messages() with max_tokens=31 (9 + 22)")
    assert_equal(_show(_window(impl, history, 30)), _show(history[4:]),
                 what="messages() with max_tokens=30: the tool call unit (22) no longer fits, and "
                      "its results must not be kept without it")


def test_tool_result_without_its_call_is_never_returned(impl):
    history = [tool_result("lost", "stale result"), user("hi")]
    assert_equal(_show(_window(impl, history, 100)), _show([history[1]]),
                 what="messages() when the history starts with a tool result")


def test_system_messages_are_always_kept_first(impl):
    history = [user("first question"), system("Answer in French."), assistant("D'accord."),
               user("hello")]
    # tokens: 6, 7, 5, 5. The system message moves first; 7 + 5 + 5 = 17.
    assert_equal(_show(_window(impl, history, 17)), _show([history[1], history[2], history[3]]),
                 what="messages() with max_tokens=17")


def test_window_stops_at_the_first_unit_that_does_not_fit(impl):
    history = [user("ok"), user("one two three four five six seven eight"), user("thanks")]
    # tokens: 5, 12, 5. The middle one does not fit in 15, so nothing older may be kept either.
    assert_equal(_show(_window(impl, history, 15)), _show([history[2]]),
                 what="messages() with max_tokens=15 (no gaps in the conversation)")


def test_messages_max_tokens_argument_overrides_the_default(impl):
    history = [user("hello there"), assistant("hi")]  # 6, 5
    assert_equal(_show(_window(impl, history, 100, max_tokens=5)), _show([history[1]]),
                 what="messages(max_tokens=5) on a memory built with max_tokens=100")


def test_system_messages_that_fill_the_budget_exactly_are_accepted(impl):
    # 10 system tokens and max_tokens=10: valid (total <= max_tokens); no other message fits.
    history = [system("one two three four five six"), user("hi")]
    assert_equal(_show(_window(impl, history, 10)), _show([history[0]]),
                 what="messages() when the system messages take exactly max_tokens=10")


def test_system_messages_over_the_budget_raise_value_error(impl):
    with pytest.raises(ValueError) as raised:
        _window(impl, [system("one two three four five six"), user("hi")], 9)
    assert "10" in str(raised.value) and "9" in str(raised.value), (
        f"the ValueError should give the system messages' 10 tokens and max_tokens=9: "
        f"{raised.value}")


# ---------------------------------------------------------------- short-term: properties


@given(history=conversations(), budget=st.integers(0, 60))
def test_window_never_exceeds_the_budget(impl, history, budget):
    system_cost = sum(tokens(m) for m in history if m["role"] == "system")
    if system_cost > budget:
        with pytest.raises(ValueError):
            _window(impl, history, budget)
        return
    window = _window(impl, history, budget)
    used = sum(tokens(m) for m in window)
    assert used <= budget, f"{used} tokens > max_tokens={budget}: {_show(window)}"


@given(history=conversations(), budget=st.integers(0, 60))
def test_window_is_the_system_messages_then_whole_units_in_order(impl, history, budget):
    system_messages = [m for m in history if m["role"] == "system"]
    if sum(tokens(m) for m in system_messages) > budget:
        return
    window = _window(impl, history, budget)
    units = _units(history)
    suffixes = [[m for unit in units[start:] for m in unit] for start in range(len(units) + 1)]
    rest = window[len(system_messages):]
    assert_equal(_show(window[:len(system_messages)]), _show(system_messages),
                 what="the first messages (every system message, in order)")
    assert any(_show(rest) == _show(suffix) for suffix in suffixes), (
        f"after the system messages, expected a suffix of whole units of the conversation (a "
        f"tool call with all its results, no orphan tool results, history order); got "
        f"{_show(rest)} from {_show(history)}")
    assert not rest or rest[0]["role"] != "tool", "the window may not start with a tool result"


@given(history=conversations(), budget=st.integers(0, 60))
def test_window_is_the_longest_suffix_that_fits(impl, history, budget):
    system_cost = sum(tokens(m) for m in history if m["role"] == "system")
    if system_cost > budget:
        return
    window = _window(impl, history, budget)
    units = _units(history)
    rest = [m for m in window if m["role"] != "system"]
    starts = [j for j in range(len(units) + 1) if sum(map(len, units[j:])) == len(rest)]
    assert starts, f"not a suffix of whole units: {_show(window)} from {_show(history)}"
    start = starts[0]
    if start > 0:
        with_older = system_cost + sum(tokens(m) for unit in units[start - 1:] for m in unit)
        assert with_older > budget, (
            f"the window stops early: the next older unit still fits ({with_older} tokens <= "
            f"{budget}): {_show(window)} from {_show(history)}")
    if units and system_cost + sum(tokens(m) for m in units[-1]) <= budget:
        assert start < len(units), f"the newest unit fits, so it must be kept: {_show(window)}"


# ---------------------------------------------------------------- long-term: worked examples


def test_cosine_worked_examples(impl):
    assert call(impl.cosine, [3.0, 4.0], [6.0, 8.0]) == pytest.approx(1.0), "parallel vectors: 1"
    assert call(impl.cosine, [1.0, 0.0], [0.0, 2.0]) == 0.0, "orthogonal vectors: 0"
    assert call(impl.cosine, [1.0, 1.0], [1.0, 0.0]) == pytest.approx(1 / math.sqrt(2)), "45°"
    zero = call(impl.cosine, [0.0, 0.0], [1.0, 2.0])
    assert zero == 0.0, f"cosine with the zero vector is 0.0 (never NaN or an error), got {zero}"


def test_search_ranks_by_cosine_worked_example(impl):
    memory = call(impl.LongTermMemory)
    ids = [call(memory.add, "red apple", {"kind": "fruit"}), call(memory.add, "green apple"),
           call(memory.add, "red car")]
    assert ids == [0, 1, 2], f"ids are 0, 1, 2 in insertion order, got {ids}"
    results = call(memory.search, "red apple", 3)
    # cosines: 2/(√2·√2) = 1, then 1/(√2·√2) = 0.5 twice (a tie: insertion order)
    assert [r["id"] for r in results] == [0, 1, 2], f"ranking: {results}"
    assert [r["score"] for r in results] == pytest.approx([1.0, 0.5, 0.5]), f"scores: {results}"
    assert [r["text"] for r in results] == ["red apple", "green apple", "red car"], results
    assert results[0]["metadata"] == {"kind": "fruit"}, f"metadata of id 0: {results[0]}"
    assert [r["id"] for r in call(memory.search, "red apple", 1)] == [0], "k=1 keeps the best"
    assert call(memory.search, "red apple", 0) == [], "k=0 returns nothing"


def test_search_min_score_leaves_out_lower_scores(impl):
    memory = call(impl.LongTermMemory)
    for text in ["red apple", "green apple", "blue sky"]:
        call(memory.add, text)
    results = call(memory.search, "apple", 3, min_score=0.6)  # 1/√2 ≈ 0.707, 0.707, 0
    assert [r["id"] for r in results] == [0, 1], f"min_score=0.6 keeps scores >= 0.6: {results}"


def test_zero_vector_scores_zero_not_nan(impl):
    memory = call(impl.LongTermMemory)
    call(memory.add, "red apple")
    call(memory.add, "!!!")  # no words: the zero vector
    results = call(memory.search, "red", 2)
    assert [r["id"] for r in results] == [0, 1], f"ranking for 'red': {results}"
    assert results[1]["score"] == 0.0, f"a zero vector scores 0.0 (never NaN): {results[1]}"
    results = call(memory.search, "???", 2)
    assert [(r["id"], r["score"]) for r in results] == [(0, 0.0), (1, 0.0)], (
        f"an empty query scores 0.0 everywhere, ties in insertion order: {results}")


def test_ties_are_broken_by_insertion_order(impl):
    memory = call(impl.LongTermMemory, dedupe_threshold=2.0)  # above 1: never dedupe
    ids = [call(memory.add, "blue sky", {"n": n}) for n in range(4)]
    assert ids == [0, 1, 2, 3], f"with deduplication off every add gets a new id: {ids}"
    results = call(memory.search, "sky", 3)
    assert [r["id"] for r in results] == [0, 1, 2], f"equal scores in insertion order: {results}"


def test_near_duplicate_updates_the_existing_entry(impl):
    memory = call(impl.LongTermMemory)
    first = call(memory.add, "the red apple", {"v": 1})
    again = call(memory.add, "The RED apple!", {"v": 2})  # same words: cosine 1 >= 0.95
    other = call(memory.add, "red car")  # cosine 1/√6 ≈ 0.41: a new entry
    assert (first, again, other) == (0, 0, 1), (
        f"a near-duplicate returns the existing id: got ids {first}, {again}, {other}")
    results = call(memory.search, "apple", 5)
    assert [(r["id"], r["text"], r["metadata"]) for r in results[:1]] == [
        (0, "The RED apple!", {"v": 2})], f"the duplicate replaces text and metadata: {results}"
    assert len(results) == 2, f"two entries in all: {results}"


def test_near_duplicate_updates_the_oldest_most_similar_entry(impl):
    memory = call(impl.LongTermMemory, dedupe_threshold=0.6)
    call(memory.add, "red apple")
    call(memory.add, "green apple")  # cosine 0.5 < 0.6: new
    merged = call(memory.add, "apple")  # 1/√2 ≈ 0.707 with both: the older one (id 0)
    assert merged == 0, f"'apple' is equally close to ids 0 and 1; it updates the oldest: {merged}"


def test_forget_removes_for_good_and_ids_are_not_reused(impl):
    memory = call(impl.LongTermMemory)
    call(memory.add, "red apple")
    call(memory.add, "blue sky")
    assert call(memory.forget, 1) is True, "forget returns True when the entry existed"
    assert call(memory.forget, 1) is False, "forget returns False the second time"
    assert call(memory.forget, 42) is False, "forget returns False for an unknown id"
    assert [r["id"] for r in call(memory.search, "blue sky", 5)] == [0], "forgotten id 1 came back"
    assert call(memory.add, "blue sky") == 2, "a new entry gets a new id, never a forgotten one"


def test_save_then_load_round_trip(impl, tmp_path):
    memory = call(impl.LongTermMemory)
    for text in ["red apple", "green apple", "red car"]:
        call(memory.add, text, {"text": text})
    call(memory.forget, 2)
    path = tmp_path / "memory.json"
    call(memory.save, path)
    loaded = call(impl.LongTermMemory)
    call(loaded.load, path)
    assert call(loaded.search, "red apple", 5) == call(memory.search, "red apple", 5), (
        "search after load must equal search before save")
    assert call(loaded.add, "blue sky") == 3, (
        "after load, new ids continue after every id ever issued (2 was forgotten, so 3)")


def test_crash_mid_save_leaves_the_old_file_intact(impl, tmp_path):
    memory = call(impl.LongTermMemory)
    call(memory.add, "red apple", {"source": "chat"})
    path = tmp_path / "memory.json"
    call(memory.save, path)
    before = path.read_bytes()
    call(memory.add, "blue sky", {"seen": {"a set", "is not JSON"}})
    with pytest.raises(TypeError):
        call(memory.save, path)  # json raises TypeError on the set (documented: it propagates)
    assert path.read_bytes() == before, (
        "a failed save changed the saved file: write to a temporary file and os.replace it over "
        "the old one only once it is complete")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memory.json"], (
        f"a failed save left files behind: {sorted(p.name for p in tmp_path.iterdir())}")
    loaded = call(impl.LongTermMemory)
    call(loaded.load, path)
    assert [r["text"] for r in call(loaded.search, "red", 5)] == ["red apple"]


def test_k_zero_returns_no_result(impl):
    memory = call(impl.LongTermMemory)
    call(memory.add, "red apple")
    assert call(memory.search, "red", 0) == [], "search(query, k=0) returns [] (k >= 0 is valid)"


def test_negative_k_raises_value_error(impl):
    memory = call(impl.LongTermMemory)
    with pytest.raises(ValueError):
        call(memory.search, "red", -1)


# ---------------------------------------------------------------- long-term: properties


@given(entries=st.lists(texts, max_size=8), query=texts, k=st.integers(0, 9),
       min_score=st.sampled_from([None, 0.0, 0.2345, 0.4567, 0.789]))
def test_search_equals_a_brute_force_ranking(impl, entries, query, k, min_score):
    memory = call(impl.LongTermMemory, dedupe_threshold=2.0)
    for index, text in enumerate(entries):
        call(memory.add, text, {"index": index})
    scored = [(_cosine(query, text), index) for index, text in enumerate(entries)]
    if min_score is not None:
        scored = [(s, i) for s, i in scored if s >= min_score]
    expected = sorted(scored, key=lambda pair: (-pair[0], pair[1]))[:k]
    results = call(memory.search, query, k, min_score=min_score)
    assert [r["id"] for r in results] == [i for _, i in expected], (
        f"search({query!r}, k={k}, min_score={min_score}) over {entries}: expected ids "
        f"{[i for _, i in expected]} (score high to low, ties oldest first), got "
        f"{[(r['id'], r['score']) for r in results]}")
    assert [r["score"] for r in results] == pytest.approx([s for s, _ in expected]), results
    assert all(r["text"] == entries[r["id"]] and r["metadata"] == {"index": r["id"]}
               for r in results), f"text/metadata do not belong to the ids: {results}"


@given(entries=st.lists(texts, max_size=8), threshold=st.sampled_from([0.37, 0.61, 0.95]))
def test_add_merges_exactly_the_near_duplicates(impl, entries, threshold):
    memory = call(impl.LongTermMemory, dedupe_threshold=threshold)
    stored = {}  # id -> text, in insertion order
    for text in entries:
        best = max(stored, key=lambda i: (_cosine(text, stored[i]), -i), default=None)
        merge = best is not None and _cosine(text, stored[best]) >= threshold
        expected = best if merge else len(stored)
        got = call(memory.add, text)
        assert got == expected, (
            f"add({text!r}) with dedupe_threshold={threshold} over {stored}: expected id "
            f"{expected} ({'update the most similar, oldest on ties' if merge else 'new entry'}), "
            f"got {got}")
        stored[got] = text


operations = st.lists(st.one_of(st.tuples(st.just("add"), texts),
                                st.tuples(st.just("forget"), st.integers(0, 8)),
                                st.tuples(st.just("reload"), st.just(None))), max_size=10)


@settings(max_examples=40)  # each example writes and fsyncs a file
@given(ops=operations, queries=st.lists(texts, min_size=1, max_size=3))
def test_save_then_load_gives_identical_search_results(impl, ops, queries):
    memory = call(impl.LongTermMemory)
    for op, value in ops:
        if op == "add":
            call(memory.add, value, {"text": value})
        elif op == "forget":
            call(memory.forget, value)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "memory.json"
        call(memory.save, path)
        loaded = call(impl.LongTermMemory)
        call(loaded.load, str(path))
    for query in queries:
        assert call(loaded.search, query, 10) == call(memory.search, query, 10), (
            f"search({query!r}) differs after save/load (operations {ops})")
    assert call(loaded.add, "paris rome") == call(memory.add, "paris rome"), (
        "the next id after load differs from the original's")


@settings(max_examples=40)  # each example writes and fsyncs files
@given(ops=operations)
def test_forgotten_entries_never_come_back(impl, ops):
    memory = call(impl.LongTermMemory)
    issued, forgotten = set(), set()
    with tempfile.TemporaryDirectory() as folder:
        for op, value in ops:
            if op == "add":
                entry_id = call(memory.add, value)
                assert entry_id not in forgotten, f"add({value!r}) reused forgotten id {entry_id}"
                issued.add(entry_id)
            elif op == "forget":
                if call(memory.forget, value):
                    forgotten.add(value)
            else:
                call(memory.save, Path(folder) / "memory.json")
                memory = call(impl.LongTermMemory)
                call(memory.load, Path(folder) / "memory.json")
            seen = {r["id"] for r in call(memory.search, "red apple green", 100)}
            assert not seen & forgotten, f"forgotten ids {seen & forgotten} came back ({ops})"
            assert seen == issued - forgotten, (
                f"search with a large k should return every live entry {issued - forgotten}, "
                f"got {seen}")


# ---------------------------------------------------------------- working memory


def test_snapshot_is_unaffected_by_later_changes(impl):
    working = call(impl.WorkingMemory)
    working.set("plan", ["search", "summarise"])
    working.set("step", 1)
    snapshot = call(working.snapshot)
    working.get("plan").append("answer")
    working.set("step", 2)
    assert snapshot == {"plan": ["search", "summarise"], "step": 1}, (
        f"the snapshot changed after the state did (copy nested values too): {snapshot}")


def test_clear_forgets_the_state_but_not_earlier_snapshots(impl):
    working = call(impl.WorkingMemory)
    working.set("goal", {"city": "Oslo"})
    snapshot = call(working.snapshot)
    call(working.clear)
    assert call(working.snapshot) == {}, "after clear() the state is empty"
    assert working.get("goal") is None, "after clear() get() finds nothing"
    assert snapshot == {"goal": {"city": "Oslo"}}, f"clear() changed a snapshot: {snapshot}"


# ---------------------------------------------------------------- agent memory


def _agent(impl, short_max=14, **options):
    short = call(impl.ShortTermMemory, short_max)
    for message in [user("hi"), assistant("hello"), user("where is my red car")]:  # 5, 5, 9
        call(short.add, message)
    long = call(impl.LongTermMemory)
    for text in ["red car parked downtown", "blue sky", "green apple"]:
        call(long.add, text)
    return call(impl.AgentMemory, "Be brief.", short, long, **options)  # system: 6 tokens


def _memory(text):
    return {"role": "system", "content": f"Relevant memory: {text}"}


def test_build_context_worked_example(impl):
    agent = _agent(impl)
    context = call(agent.build_context, "where is my red car", 40)
    # system 6; turns capped at short_term.max_tokens=14: "hello" 5 + "where..." 9; 40-6-14 = 20
    # left for memories ranked 2/√20, 0, 0: "red car parked downtown" 10, "blue sky" 8, then
    # "green apple" (8) no longer fits in 2.
    expected = [system("Be brief."), _memory("red car parked downtown"), _memory("blue sky"),
                assistant("hello"), user("where is my red car")]
    assert_equal(_show(context), _show(expected), what="build_context(query, budget=40)")


def test_build_context_skips_a_memory_that_does_not_fit(impl):
    agent = _agent(impl)
    context = call(agent.build_context, "where is my red car", 29)
    # 29 - 6 - 14 = 9 left: the best memory (10) is skipped, "blue sky" (8) fits
    expected = [system("Be brief."), _memory("blue sky"), assistant("hello"),
                user("where is my red car")]
    assert_equal(_show(context), _show(expected), what="build_context(query, budget=29)")


def test_build_context_respects_k_and_min_score(impl):
    agent = _agent(impl, k=1, min_score=0.1)
    context = call(agent.build_context, "where is my red car", 100)
    expected = [system("Be brief."), _memory("red car parked downtown"), assistant("hello"),
                user("where is my red car")]
    assert_equal(_show(context), _show(expected), what="build_context with k=1, min_score=0.1")


def test_build_context_with_a_budget_of_exactly_the_system_prompt(impl):
    agent = _agent(impl)  # system: 6 tokens
    context = call(agent.build_context, "red", 6)
    assert_equal(_show(context), _show([system("Be brief.")]),
                 what="build_context with budget 6 = the system message's tokens")


def test_build_context_system_prompt_over_budget_raises_value_error(impl):
    agent = _agent(impl)
    with pytest.raises(ValueError) as raised:
        call(agent.build_context, "red", 5)
    assert "6" in str(raised.value) and "5" in str(raised.value), (
        f"the ValueError should give the system message's 6 tokens and the budget 5: "
        f"{raised.value}")


@given(history=conversations(), stored=st.lists(texts, max_size=5), query=texts,
       short_max=st.integers(0, 40), budget=st.integers(0, 80))
def test_context_never_exceeds_the_budget(impl, history, stored, query, short_max, budget):
    history = [m for m in history if m["role"] != "system"]
    short = call(impl.ShortTermMemory, short_max)
    for message in history:
        call(short.add, message)
    long = call(impl.LongTermMemory)
    for text in stored:
        call(long.add, text)
    agent = call(impl.AgentMemory, "Be brief.", short, long)
    if budget < 6:
        with pytest.raises(ValueError):
            call(agent.build_context, query, budget)
        return
    context = call(agent.build_context, query, budget)
    used = sum(tokens(m) for m in context)
    assert used <= budget, f"{used} tokens > budget {budget}: {_show(context)}"
    assert context[0] == system("Be brief."), f"the system prompt comes first: {_show(context)}"
    window = call(short.messages, min(short_max, budget - 6))
    assert _show(context[len(context) - len(window):]) == _show(window), (
        f"the context must end with short_term.messages(min(max_tokens, budget - system)): the "
        f"recent turns take priority over memories; got {_show(context)}")
