"""Grader for the `react_agent` kata: transcripts of the ReAct loop, error observations,
retries on a fake clock, no repeated successes, the step limit.

Every test scripts the model's replies and counts what the tools saw, so the expected
transcript is written out by hand from the documented loop.
"""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_equal, call


def user(text):
    return {"role": "user", "content": text}


def final(text):
    return {"role": "assistant", "content": text}


def asks(impl, *calls):
    return {"role": "assistant", "content": None, "tool_calls": list(calls)}


def tool(call_id, content):
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def _error(message, call_id):
    assert message.get("role") == "tool" and message.get("tool_call_id") == call_id, (
        f"expected a tool message answering {call_id!r}, got {message!r}")
    try:
        content = json.loads(message["content"])
    except (TypeError, ValueError):
        content = None
    is_error = isinstance(content, dict) and isinstance(content.get("error"), str)
    assert is_error and content["error"], (
        f"an error observation is a tool message whose content is {{\"error\": \"...\"}}, got "
        f"{message['content']!r}")
    return content["error"]


class Flaky:
    """A tool that raises TransientError `failures` times, then returns `result`."""

    def __init__(self, impl, failures, result="ok"):
        self.error, self.failures, self.result = impl.TransientError, failures, result
        self.calls = []

    def __call__(self, **arguments):
        self.calls.append(arguments)
        if len(self.calls) <= self.failures:
            raise self.error("503 service unavailable")
        return self.result


def _agent(impl, replies, tools, **options):
    model = impl.ScriptedModel(list(replies))
    clock = impl.FakeClock()
    agent = call(impl.ReActAgent, model, tools, clock=clock, **options)
    return agent, model, clock


def _run(agent, text="go"):
    result = call(agent.run, text)
    assert result.status in ("answered", "max_steps"), (
        f"status must be answered or max_steps: {result}")
    return result


# ---------------------------------------------------------------- worked examples


def test_one_tool_call_then_answer(impl):
    seen = []

    def get_weather(city):
        seen.append(city)
        return "sunny, 21C"

    call_1 = impl.tool_call("call_1", "get_weather", {"city": "Paris"})
    replies = [asks(impl, call_1), final("It is sunny in Paris.")]
    agent, model, _ = _agent(impl, replies, {"get_weather": get_weather}, system_prompt="Be brief.")
    result = _run(agent, "Weather in Paris?")
    expected = [{"role": "system", "content": "Be brief."}, user("Weather in Paris?"),
                asks(impl, call_1), tool("call_1", "sunny, 21C"), final("It is sunny in Paris.")]
    assert_equal(result.messages, expected, what="the transcript of run('Weather in Paris?')")
    assert_equal((result.status, result.answer, result.steps), ("answered", "It is sunny in Paris.",
                                                                2), what="status, answer, steps")
    assert_equal(model.calls, [expected[:2], expected[:4]],
                 what="what the model saw at each step (the transcript so far)")
    assert seen == ["Paris"], f"the tool must run once with city='Paris', ran with {seen}"


def test_several_calls_in_one_turn_are_answered_in_order(impl):
    calls = [impl.tool_call("a", "add", {"x": 1, "y": 2}),
             impl.tool_call("b", "add", {"x": 10, "y": 5}),
             impl.tool_call("c", "info", {})]
    tools = {"add": lambda x, y: x + y, "info": lambda: {"units": "metric"}}
    agent, _, _ = _agent(impl, [asks(impl, *calls), final("3 and 15")], tools)
    result = _run(agent)
    assert_equal(result.messages[2:5], [tool("a", "3"), tool("b", "15"),
                                        tool("c", '{"units": "metric"}')],
                 what="one tool message per call, right after the assistant message, in order "
                      "(non-str results json.dumps-ed)")
    assert result.answer == "3 and 15" and result.steps == 2, f"{result}"


def test_bad_calls_become_error_observations(impl):
    runs = []

    def lookup(key):
        runs.append(key)
        raise KeyError(key)

    calls = [impl.tool_call("c1", "search_web", {"q": "x"}),          # unknown tool
             impl.tool_call("c2", "lookup", '{"key": "a"'),            # not JSON
             impl.tool_call("c3", "lookup", '["a"]'),                  # not an object
             impl.tool_call("c4", "lookup", {"key": "a"}),             # the tool raises
             impl.tool_call("c5", "lookup", {"wrong": 1})]             # bad arguments
    agent, _, clock = _agent(impl, [asks(impl, *calls), final("sorry")], {"lookup": lookup})
    result = _run(agent)
    errors = [_error(message, f"c{i}") for i, message in enumerate(result.messages[2:7], start=1)]
    assert "search_web" in errors[0], f"the unknown-tool error must name the tool: {errors[0]!r}"
    assert "KeyError" in errors[3], f"the error must name the exception type: {errors[3]!r}"
    assert runs == ["a"], f"the tool runs only for the valid call c4 (and is not retried): {runs}"
    assert clock.sleeps == [], f"ordinary exceptions are not retried, slept {clock.sleeps}"
    assert (result.status, result.answer) == ("answered", "sorry"), f"the loop goes on: {result}"


def test_transient_errors_are_retried_with_backoff(impl):
    flaky = Flaky(impl, failures=2, result="page 1")
    replies = [asks(impl, impl.tool_call("c1", "fetch", {"url": "u"})), final("done")]
    agent, _, clock = _agent(impl, replies, {"fetch": flaky}, max_retries=2, base_delay=0.5)
    result = _run(agent)
    assert_equal(result.messages[2], tool("c1", "page 1"), what="the observation after 2 retries")
    assert_equal(clock.sleeps, [0.5, 1.0], what="waits before retry 1 and 2: base_delay · 2^(i-1)")
    assert len(flaky.calls) == 3, f"2 failures + 1 success = 3 attempts, made {len(flaky.calls)}"


def test_retries_run_out(impl):
    flaky = Flaky(impl, failures=10)
    replies = [asks(impl, impl.tool_call("c1", "fetch", {"url": "u"})), final("gave up")]
    agent, _, clock = _agent(impl, replies, {"fetch": flaky}, max_retries=3, base_delay=0.25)
    result = _run(agent)
    text = _error(result.messages[2], "c1")
    assert "4" in text, f"the error must say how many attempts were made (4): {text!r}"
    assert_equal(clock.sleeps, [0.25, 0.5, 1.0], what="three retries, no wait after the last")
    assert len(flaky.calls) == 4, f"max_retries=3 → 4 attempts, made {len(flaky.calls)}"


def test_no_retries_when_max_retries_is_zero(impl):
    flaky = Flaky(impl, failures=1)
    replies = [asks(impl, impl.tool_call("c1", "fetch", {})), final("x")]
    agent, _, clock = _agent(impl, replies, {"fetch": flaky}, max_retries=0)
    _error(_run(agent).messages[2], "c1")
    assert len(flaky.calls) == 1 and clock.sleeps == [], (
        f"max_retries=0: one attempt, no wait; made {len(flaky.calls)}, slept {clock.sleeps}")


def test_a_succeeded_call_is_never_repeated(impl):
    sent = []

    def send_email(to, body):
        sent.append((to, body))
        return f"sent #{len(sent)}"

    first = impl.tool_call("c1", "send_email", '{"to": "bob", "body": "hi"}')
    again = impl.tool_call("c2", "send_email", '{"body": "hi", "to": "bob"}')  # same, reordered
    other = impl.tool_call("c3", "send_email", {"to": "ann", "body": "hi"})
    replies = [asks(impl, first), asks(impl, again, other), final("done")]
    agent, _, _ = _agent(impl, replies, {"send_email": send_email})
    result = _run(agent)
    assert sent == [("bob", "hi"), ("ann", "hi")], (
        f"the repeated call to bob must not send a second email: sent {sent}")
    assert_equal([m for m in result.messages if m["role"] == "tool"],
                 [tool("c1", "sent #1"), tool("c2", "sent #1"), tool("c3", "sent #2")],
                 what="a repeated call is answered with the recorded result, under its own id")


def test_same_arguments_to_another_tool_is_another_call(impl):
    # A call is identified by tool name AND arguments: {"city": "Paris"} sent to two tools is
    # two calls, and each tool runs once.
    tools = {"get_weather": lambda city: f"sunny in {city}",
             "get_time": lambda city: f"12:00 in {city}"}
    replies = [asks(impl, impl.tool_call("c1", "get_weather", {"city": "Paris"}),
                    impl.tool_call("c2", "get_time", {"city": "Paris"})), final("ok")]
    agent, _, _ = _agent(impl, replies, tools)
    result = _run(agent)
    assert_equal([m for m in result.messages if m["role"] == "tool"],
                 [tool("c1", "sunny in Paris"), tool("c2", "12:00 in Paris")],
                 what="the same arguments to a different tool are not answered from the record")


def test_a_failed_call_may_be_tried_again(impl):
    attempts = []

    def book(room):
        attempts.append(room)
        if len(attempts) == 1:
            raise ValueError("room busy")
        return "booked"

    replies = [asks(impl, impl.tool_call("c1", "book", {"room": "A"})),
               asks(impl, impl.tool_call("c2", "book", {"room": "A"})), final("ok")]
    agent, _, _ = _agent(impl, replies, {"book": book})
    result = _run(agent)
    _error(result.messages[2], "c1")
    assert_equal(result.messages[4], tool("c2", "booked"),
                 what="only successes are recorded: the model's second try runs the tool")


def test_successes_are_forgotten_between_runs(impl):
    counter = []
    tools = {"tick": lambda: counter.append(1) or len(counter)}
    replies = [asks(impl, impl.tool_call("c1", "tick", {})), final("a"),
               asks(impl, impl.tool_call("c1", "tick", {})), final("b")]
    agent, _, _ = _agent(impl, replies, tools)
    _run(agent)
    second = _run(agent)
    assert_equal(second.messages[2], tool("c1", "2"),
                 what="a new run starts with an empty record: the tool runs again")
    assert second.messages[0] == user("go"), "a new run starts a new transcript"


def test_step_limit_ends_the_run(impl):
    replies = [asks(impl, impl.tool_call(f"c{i}", "ping", {"n": i})) for i in range(1, 4)]
    agent, model, _ = _agent(impl, replies, {"ping": lambda n: f"pong {n}"}, max_steps=3)
    result = _run(agent)
    assert_equal((result.status, result.answer, result.steps), ("max_steps", None, 3),
                 what="three model calls, no final answer")
    assert len(model.calls) == 3, (
        f"max_steps=3 allows exactly 3 model calls, made {len(model.calls)}")
    assert_equal(result.messages[-2:], [replies[2], tool("c3", "pong 3")],
                 what="the last step's tool call is still answered (the transcript stays valid)")


def test_final_answer_on_the_last_allowed_step(impl):
    agent, _, _ = _agent(impl, [final("42")], {}, max_steps=1)
    result = _run(agent)
    assert_equal((result.status, result.answer, result.steps), ("answered", "42", 1),
                 what="max_steps=1 with an immediate answer")
    agent, _, _ = _agent(impl, [{"role": "assistant", "content": None, "tool_calls": []}], {})
    result = _run(agent)
    assert (result.status, result.answer) == ("answered", ""), (
        f"an empty tool_calls list is a final answer, None content becomes '': {result}")


# ---------------------------------------------------------------- properties

call_pool = st.sampled_from([
    ("add", '{"x": 1, "y": 2}'), ("add", '{"y": 2, "x": 1}'), ("add", '{"x": 1}'),
    ("flaky", '{"k": 1}'), ("flaky", '{"k": 2}'), ("boom", "{}"), ("nope", "{}"),
    ("add", "not json"), ("add", "[1, 2]"),
])
scripts = st.lists(st.one_of(st.lists(call_pool, min_size=1, max_size=3),
                             st.sampled_from(["done", ""])), min_size=1, max_size=6)


def _tools(module, failures):
    counts = {}

    def flaky(k):
        counts[k] = counts.get(k, 0) + 1
        if counts[k] <= failures:
            raise module.TransientError(f"try {counts[k]}")
        return {"k": k, "after": counts[k]}

    def boom():
        raise RuntimeError("boom")

    return {"add": lambda x, y: x + y, "flaky": flaky, "boom": boom}


def _replies(script):
    """The script's assistant messages, padded with final answers so the model never runs out."""
    replies, number = [], 0
    for entry in [*script, *["end"] * 6]:
        if isinstance(entry, str):
            replies.append({"role": "assistant", "content": entry})
            continue
        calls = []
        for name, arguments in entry:
            number += 1
            calls.append({"id": f"call_{number}", "type": "function",
                          "function": {"name": name, "arguments": arguments}})
        replies.append({"role": "assistant", "content": None, "tool_calls": calls})
    return replies


@given(script=scripts, max_steps=st.integers(1, 6), failures=st.integers(0, 3))
def test_every_tool_call_is_answered_right_after_it(impl, script, max_steps, failures):
    agent, model, _ = _agent(impl, _replies(script), _tools(impl, failures), max_steps=max_steps)
    result = _run(agent)
    messages = result.messages
    assert len(model.calls) == result.steps <= max_steps, (
        f"{len(model.calls)} model calls, steps={result.steps}, max_steps={max_steps}")
    index = 1
    while index < len(messages):
        message = messages[index]
        assert message["role"] == "assistant", f"expected an assistant message at {index}"
        ids = [c["id"] for c in message.get("tool_calls") or []]
        answers = [m.get("tool_call_id") for m in messages[index + 1:index + 1 + len(ids)]]
        assert answers == ids, f"tool calls {ids} must be answered next, in order; got {answers}"
        index += 1 + len(ids)


@given(script=scripts, max_steps=st.integers(1, 6), failures=st.integers(0, 3),
       max_retries=st.integers(0, 3), base_delay=st.sampled_from([0.0, 0.5, 2.0]))
def test_run_matches_reference(impl, ref, script, max_steps, failures, max_retries, base_delay):
    options = {"max_steps": max_steps, "max_retries": max_retries, "base_delay": base_delay,
                   "system_prompt": "sys"}
    agent, _model, clock = _agent(impl, _replies(script), _tools(impl, failures), **options)
    result = _run(agent)
    ref_clock = ref.FakeClock()
    expected = ref.ReActAgent(ref.ScriptedModel(_replies(script)), _tools(ref, failures),
                              clock=ref_clock, **options).run("go")

    def shape(messages):  # error texts are free; that a message is an error is not
        shaped = []
        for m in messages:
            if m["role"] == "tool":
                try:
                    content = json.loads(m["content"])
                except ValueError:
                    content = None
                if isinstance(content, dict) and "error" in content:
                    m = {**m, "content": "<error>"}
            shaped.append(m)
        return shaped

    assert_equal(shape(result.messages), shape(expected.messages),
                 what=f"the transcript for script {script} with {options}, {failures} failures")
    assert_equal((result.status, result.answer, result.steps, clock.sleeps),
                 (expected.status, expected.answer, expected.steps, ref_clock.sleeps),
                 what="status, answer, steps and the clock's waits")


# ---------------------------------------------------------------- bad input


def test_unhashable_or_missing_names_are_errors(impl):
    calls = [{"id": "c1", "type": "function", "function": {"name": ["add"], "arguments": "{}"}},
             {"id": "c2", "type": "function", "function": {"name": "add", "arguments": None}}]
    agent, _, _ = _agent(impl, [asks(impl, *calls), final("x")], {"add": lambda: 0})
    result = _run(agent)
    _error(result.messages[2], "c1")
    _error(result.messages[3], "c2")


def test_constructor_limits(impl):
    agent, _, _ = _agent(impl, [final("x")], {}, max_steps=1, max_retries=0, base_delay=0.0)
    assert _run(agent).answer == "x", "max_steps=1, max_retries=0, base_delay=0 are valid"
    for options in [{"max_steps": 0}, {"max_retries": -1}, {"base_delay": -0.1}]:
        with pytest.raises(ValueError):
            call(impl.ReActAgent, impl.ScriptedModel([]), {}, **options)
