"""Grader for the `multi_agent` kata: the protocol, speaker order, critique, votes, transcripts.

Agents are scripted, so each expected transcript is written out by hand from the documented
rules: who speaks (round-robin after the previous speaker, a critique sends the work back), what
each agent sees, and when a strict majority of voters agrees.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_equal, call


def say(kind, content, recipient="all", reply_to=None):
    reply = {"recipient": recipient, "kind": kind, "content": content}
    if reply_to is not None:
        reply["reply_to"] = reply_to
    return reply


def _chat(impl, roles_and_scripts, **options):
    agents, scripted = [], {}
    for name, role, replies in roles_and_scripts:
        scripted[name] = impl.ScriptedAgent(list(replies))
        agents.append(impl.Agent(name, role, scripted[name]))
    return call(impl.GroupChat, agents, **options), scripted


def _rows(transcript):
    return [(m.id, m.sender, m.recipient, m.kind, m.content, m.reply_to) for m in transcript]


def _run(chat, task="task"):
    result = call(chat.run, task)
    assert result.status in ("consensus", "max_turns"), f"status: {result.status!r}"
    return result


# ---------------------------------------------------------------- worked examples


def test_round_robin_debate_reaches_a_majority(impl):
    # 3 voters: a majority is 2. a: "4"; b: "5" (1 each); c votes "4" → 2 of 3.
    chat, _ = _chat(impl, [("a", "solver", [say("proposal", "4")]),
                           ("b", "solver", [say("proposal", "5")]),
                           ("c", "solver", [say("vote", "4")])])
    result = _run(chat, "2 + 2?")
    assert_equal(_rows(result.transcript),
                 [(0, "user", "all", "task", "2 + 2?", None),
                  (1, "a", "all", "proposal", "4", None),
                  (2, "b", "all", "proposal", "5", None), (3, "c", "all", "vote", "4", None)],
                 what="the transcript of a three-agent debate")
    assert_equal((result.status, result.answer, result.turns), ("consensus", "4", 3),
                 what="status, answer, turns")


def test_critic_sends_work_back(impl):
    # w proposes (1); k critiques it (2) → w's stance is withdrawn and w speaks next (3), not e;
    # then round-robin goes on after w: k (a vote, but critics do not vote), then e agrees.
    chat, agents = _chat(impl, [
        ("w", "writer", [say("proposal", "draft v1"), say("proposal", "draft v2")]),
        ("k", "critic", [say("critique", "too long", "w", reply_to=1), say("vote", "draft v2")]),
        ("e", "editor", [say("vote", "draft v2")])], max_turns=8)
    result = _run(chat)
    assert_equal([m.sender for m in result.transcript], ["user", "w", "k", "w", "k", "e"],
                 what="speakers: the critique hands the turn back to the writer")
    assert_equal((result.status, result.answer, result.turns), ("consensus", "draft v2", 5),
                 what="w and e (2 of 2 voters) hold 'draft v2'; k's vote does not count")
    assert_equal([m.id for m in agents["w"].inboxes[1]], [0, 1, 2],
                 what="w's inbox on its second turn: the task, its proposal, the critique to it")


def test_critique_withdraws_the_stance(impl):
    # Voters a, b, c; critic k; order a, k, b, c. a proposes "x" (1); k critiques it (2), so a
    # speaks next but breaks the protocol (3): its stance stays withdrawn. k votes "x" (4, not
    # counted); b votes "x" (5): 1 of 3 — a's "x" no longer counts; c votes "x" (6): 2 of 3.
    chat, _ = _chat(impl, [("a", "solver", [say("proposal", "x"), say("proposal", "x", "a")]),
                           ("k", "critic", [say("critique", "unsupported", "a", reply_to=1),
                                            say("vote", "x")]),
                           ("b", "solver", [say("vote", "x")]),
                           ("c", "solver", [say("vote", "x")])])
    result = _run(chat)
    assert_equal([(m.sender, m.kind) for m in result.transcript[1:]],
                 [("a", "proposal"), ("k", "critique"), ("coordinator", "error"), ("k", "vote"),
                  ("b", "vote"), ("c", "vote")], what="the transcript")
    assert_equal((result.status, result.answer, result.turns), ("consensus", "x", 6),
                 what="consensus only when c joins b: a's criticised proposal was withdrawn")


def test_critique_on_the_last_turn(impl):
    # a: "x" (1), b: "y" (2), k criticises a's "x" (3) and the limit is reached: only b's "y"
    # is a stance.
    chat, _ = _chat(impl, [("a", "solver", [say("proposal", "x")]),
                           ("b", "solver", [say("proposal", "y")]),
                           ("k", "critic", [say("critique", "no", "a", reply_to=1)])], max_turns=3)
    result = _run(chat)
    assert_equal((result.status, result.answer, result.turns), ("max_turns", "y", 3),
                 what="the plurality at the limit leaves out the withdrawn proposal")


def test_inbox_holds_only_what_the_agent_may_see(impl):
    chat, agents = _chat(impl, [("a", "solver", [say("proposal", "p", "b"), say("vote", "p")]),
                                ("b", "solver", [say("proposal", "q", "c")]),
                                ("c", "solver", [say("proposal", "r", "a")])], max_turns=4)
    _run(chat)
    assert_equal([[m.id for m in inbox] for inbox in agents["c"].inboxes], [[0, 2]],
                 what="c sees the task and b's message to c, not a's message to b")
    assert_equal([[m.id for m in inbox] for inbox in agents["a"].inboxes], [[0], [0, 1, 3]],
                 what="a sees the task, then its own message and c's message to a")


def test_protocol_errors_cost_the_turn(impl):
    chat, _agents = _chat(impl, [
        ("a", "solver", [say("proposal", "x", "zed"), say("vote", "nobody proposed this"),
                         say("critique", "mine", reply_to=3)]),
        ("b", "solver", [say("shout", "x"), say("proposal", "x", reply_to=99),
                         say("critique", "bad", "a", reply_to=0)])], max_turns=6)
    result = _run(chat)
    assert_equal([(m.sender, m.recipient, m.kind) for m in result.transcript[1:]],
                 [("coordinator", name, "error") for name in "ababab"],
                 what="unknown recipient, unknown kind, vote for no proposal, reply_to a missing "
                      "message, critique of a non-proposal: each answered by an error message")
    assert_equal((result.status, result.answer, result.turns), ("max_turns", None, 6),
                 what="six failed turns: no stance")
    assert all(m.content for m in result.transcript[1:]), "an error message says what was wrong"


def test_self_critique_and_self_address_are_errors(impl):
    chat, _ = _chat(impl, [("a", "solver", [say("proposal", "x"),
                                            say("critique", "hmm", reply_to=1)]),
                           ("b", "solver", [say("vote", "x", "b")])], max_turns=3)
    result = _run(chat)
    assert_equal([m.kind for m in result.transcript], ["task", "proposal", "error", "error"],
                 what="b writing to itself and a critiquing its own proposal break the protocol")


def test_selector_picks_speakers_with_round_robin_fallback(impl):
    picks = iter(["b", "nobody", "a"])
    seen = []

    def selector(transcript, names):
        seen.append(([m.id for m in transcript], list(names)))
        return next(picks)

    chat, _ = _chat(impl, [("a", "solver", [say("vote", "1")]),
                           ("b", "solver", [say("proposal", "1")]),
                           ("c", "solver", [say("proposal", "2")])],
                    mode="selector", selector=selector, max_turns=3)
    result = _run(chat)
    assert_equal([m.sender for m in result.transcript[1:]], ["b", "c", "a"],
                 what="selector picks b; 'nobody' falls back to the agent after b (c); then a")
    assert_equal((result.status, result.answer), ("consensus", "1"), what="a and b agree on 1")
    assert_equal(seen[0], ([0], ["a", "b", "c"]), what="the selector gets transcript and names")


def test_majority_is_of_all_voters(impl):
    # 4 voters: 2 for "x" is not a majority; the third makes it.
    chat, _ = _chat(impl, [(n, "solver", [say("vote" if n != "a" else "proposal", "x")])
                           for n in "abcd"])
    result = _run(chat)
    assert_equal((result.status, result.turns), ("consensus", 3), what="3 of 4 voters")


def test_tie_at_the_limit_goes_to_the_first_stance(impl):
    chat, _ = _chat(impl, [("a", "solver", [say("proposal", "later"), say("proposal", "y")]),
                           ("b", "solver", [say("proposal", "z")])], max_turns=3)
    result = _run(chat)
    # a: "later" (1) then "y" (3); b: "z" (2). Tie y-z; "z" became a stance before "y".
    assert_equal((result.status, result.answer), ("max_turns", "z"),
                 what="plurality tie between 'y' (held since 3) and 'z' (held since 2)")
    # A critic's proposal is no stance: c proposes "y" (1), a "x" (2), b "y" (3). Tie x-y; the
    # first *voter* stance with "x" is 2, with "y" is 3, so "x" wins.
    chat, _ = _chat(impl, [("c", "critic", [say("proposal", "y")]),
                           ("a", "solver", [say("proposal", "x")]),
                           ("b", "solver", [say("proposal", "y")])], max_turns=3)
    result = _run(chat)
    assert_equal((result.status, result.answer), ("max_turns", "x"),
                 what="tie x-y: the critic's earlier 'y' (id 1) does not count, x (2) beats y (3)")


# ---------------------------------------------------------------- properties

pool = st.sampled_from([say("proposal", "x"), say("proposal", "y"), say("vote", "x"),
                        say("vote", "y"), say("critique", "no", "all", 1),
                        say("critique", "no", "all", 2), say("proposal", "x", "a"),
                        say("vote", "x", "nobody"), say("proposal", "y", reply_to=0)])
teams = st.lists(st.tuples(st.sampled_from(["solver", "critic"]), st.lists(pool, min_size=8,
                                                                           max_size=8)),
                 min_size=1, max_size=4).filter(lambda t: any(r != "critic" for r, _ in t))


def _team(impl, team):
    return [(name, role, replies) for name, (role, replies) in zip("abcd", team)]


@given(team=teams, max_turns=st.integers(1, 8))
def test_transcript_is_well_formed(impl, team, max_turns):
    chat, _ = _chat(impl, _team(impl, team), max_turns=max_turns)
    result = _run(chat)
    transcript = result.transcript
    assert [m.id for m in transcript] == list(range(len(transcript))), "ids are 0, 1, 2, ..."
    assert len(transcript) == result.turns + 1 and result.turns <= max_turns, (
        f"one message per turn: {len(transcript)} messages, {result.turns} turns")
    for m in transcript[1:]:
        assert m.reply_to is None or 0 <= m.reply_to < m.id, f"{m} replies to a later message"
        assert m.kind in ("proposal", "vote", "critique", "error"), f"kind of {m}"
    voters = [name for name, (role, _) in zip("abcd", team) if role != "critic"]
    held = list(call(impl.stances, transcript, voters).values())
    if result.status == "consensus":
        assert held.count(result.answer) * 2 > len(voters), (
            f"consensus on {result.answer!r} needs more than half of {voters}: {held}")
    else:
        assert result.turns == max_turns, "without consensus the run goes to max_turns"
        assert all(held.count(o) * 2 <= len(voters) for o in held), (
            f"the run stopped at the limit although {held} is a majority of {voters}")


# ---------------------------------------------------------------- agreement with the reference


@given(team=teams, max_turns=st.integers(1, 8), selector=st.booleans())
def test_run_matches_reference(impl, ref, team, max_turns, selector):
    def pick(transcript, names):
        return names[(len(transcript) * 7) % (len(names) + 1)] \
            if (len(transcript) * 7) % (len(names) + 1) < len(names) else "nobody"

    options = {"max_turns": max_turns, "mode": "selector" if selector else "round_robin",
                   "selector": pick if selector else None}
    chat, _ = _chat(impl, _team(impl, team), **options)
    result = _run(chat)
    agents = [ref.Agent(name, role, ref.ScriptedAgent(list(replies)))
              for name, role, replies in _team(ref, team)]
    expected = ref.GroupChat(agents, **options).run("task")

    def shape(transcript):  # error texts are free
        return [row[:4] + (None if row[3] == "error" else row[4], row[5])
                for row in _rows(transcript)]

    assert_equal(shape(result.transcript), shape(expected.transcript),
                 what=f"the transcript with {options}")
    assert_equal((result.status, result.answer, result.turns),
                 (expected.status, expected.answer, expected.turns), what="status, answer, turns")


# ---------------------------------------------------------------- bad input


def test_check_message_and_constructor(impl):
    transcript = [impl.Message(0, "user", "all", "task", "t"),
                  impl.Message(1, "a", "all", "proposal", "x")]
    ok = call(impl.check_message, say("critique", "c", "a", reply_to=1), "b", transcript,
              ["a", "b"])
    assert_equal(ok, impl.Message(2, "b", "a", "critique", "c", 1), what="a valid critique")
    for reply in [None, {"recipient": "all", "kind": "vote"}, say("vote", "x", reply_to=True),
                  say("vote", "x", reply_to=2), say("vote", "x", reply_to=-1),
                  say("critique", "c", reply_to=0)]:
        with pytest.raises(impl.ProtocolError):
            call(impl.check_message, reply, "b", transcript, ["a", "b"])
    assert issubclass(impl.ProtocolError, ValueError)
    with pytest.raises(ValueError):
        call(impl.GroupChat, [impl.Agent("k", "critic", impl.ScriptedAgent([]))])
    for options in [{"max_turns": 0}, {"mode": "selector"}, {"mode": "random"}]:
        with pytest.raises(ValueError):
            call(impl.GroupChat, [impl.Agent("a", "solver", impl.ScriptedAgent([]))], **options)
    with pytest.raises(ValueError):
        call(impl.GroupChat, [impl.Agent("all", "solver", impl.ScriptedAgent([]))])
