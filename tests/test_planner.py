"""Grader for the `planner` kata: plan parsing, batches in dependency order, cycles, failures
that skip their dependents, and the re-planning transcript.

The model is a script of JSON plans and the tools are lookup tables that count their calls, so
every batch, output and message below is worked out by hand from the documented rules.
"""

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_equal, call


def plan(*steps):
    return json.dumps({"steps": [{"id": i, "action": a, "input": x, "depends_on": list(d)}
                                 for i, a, x, d in steps]})


def _steps(impl, *rows):
    return [impl.Step(i, a, x, tuple(d)) for i, a, x, d in rows]


class Table:
    """A tool answering from a table; a missing input raises LookupError. Counts its calls."""

    def __init__(self, table):
        self.table, self.calls = table, []

    def __call__(self, text):
        self.calls.append(text)
        if text not in self.table:
            raise LookupError(f"no data for {text}")
        return self.table[text]


WORLD = {"capital of France": "Paris", "weather in Paris": "sunny",
         "area of Paris": "105 km2", "mayor of Paris": "Anne Hidalgo"}

# s1 → Paris; s2 asks for a population nobody knows (fails); s3 and s4 depend on it (skipped);
# s5 depends only on s1 and succeeds.
FAILING = [("s1", "search", "capital of France", []),
           ("s2", "search", "population of {s1}", ["s1"]),
           ("s3", "search", "density from {s2}", ["s2"]),
           ("s4", "search", "summary of {s3} and {s1}", ["s3", "s1"]),
           ("s5", "search", "weather in {s1}", ["s1"])]


# ---------------------------------------------------------------- worked examples


def test_parse_plan(impl):
    reply = json.dumps({"steps": [
        {"id": "s1", "action": "search", "input": "capital of France", "note": "ignored"},
        {"id": "s2", "action": "search", "input": "population of {s1}", "depends_on": ["s1"]}]})
    assert_equal(call(impl.parse_plan, reply),
                 [impl.Step("s1", "search", "capital of France", ()),
                  impl.Step("s2", "search", "population of {s1}", ("s1",))],
                 what="parse_plan: depends_on defaults to (), extra keys are ignored")
    assert_equal(call(impl.parse_plan, plan(("s9", "search", "x {s1}", ["s1"])), done={"s1"}),
                 [impl.Step("s9", "search", "x {s1}", ("s1",))],
                 what="a re-plan may depend on a step done in an earlier round")


def test_batches_are_levels_in_plan_order(impl):
    # a, e: no dependencies → batch 0; b, c need a → 1; d needs b and c → 2; f needs a and d → 3.
    steps = _steps(impl, ("d", "t", "", ["b", "c"]), ("b", "t", "", ["a"]), ("a", "t", "", []),
                   ("f", "t", "", ["a", "d"]), ("c", "t", "", ["a"]), ("e", "t", "", []))
    assert_equal(call(impl.topological_batches, steps), [["a", "e"], ["b", "c"], ["d"], ["f"]],
                 what="topological_batches of a diamond plus a long edge, listed out of order")


def test_dependencies_outside_the_plan_count_as_done(impl):
    steps = _steps(impl, ("x", "t", "", ["old"]), ("y", "t", "", ["x", "old"]))
    assert_equal(call(impl.topological_batches, steps), [["x"], ["y"]],
                 what="a dependency on an earlier round's step does not delay a step")


def _assert_cycle(cycle, steps):
    deps = {s.id: s.depends_on for s in steps}
    assert isinstance(cycle, list) and len(cycle) >= 2 and cycle[0] == cycle[-1], (
        f"CycleError.cycle must be closed, [a, ..., a], got {cycle!r}")
    assert len(set(cycle[:-1])) == len(cycle) - 1, f"a cycle visits each step once: {cycle}"
    for here, there in itertools.pairwise(cycle):
        assert there in deps.get(here, ()), (
            f"in cycle {cycle}, {here!r} must depend on {there!r}, but depends on "
            f"{list(deps.get(here, ()))}")


def test_cycle_is_named(impl):
    steps = _steps(impl, ("start", "t", "", []), ("a", "t", "", ["start", "c"]),
                   ("b", "t", "", ["a"]), ("c", "t", "", ["b"]))
    with pytest.raises(impl.CycleError) as caught:
        call(impl.topological_batches, steps)
    _assert_cycle(caught.value.cycle, steps)
    assert set(caught.value.cycle) == {"a", "b", "c"}, f"the only cycle is a-c-b: {caught.value}"
    assert isinstance(caught.value, ValueError), "CycleError is a ValueError"
    selfish = _steps(impl, ("x", "t", "", ["x"]))
    with pytest.raises(impl.CycleError) as caught:
        call(impl.topological_batches, selfish)
    assert caught.value.cycle == ["x", "x"], (
        f"a self-dependency is the cycle [x, x]: {caught.value}")


def test_failure_skips_dependents_only(impl):
    search = Table(WORLD)
    result = call(impl.execute_plan, _steps(impl, *FAILING), {"search": search})
    assert_equal(result.batches, [["s1"], ["s2", "s5"], ["s3"], ["s4"]], what="batches")
    assert_equal(result.outputs, {"s1": "Paris", "s5": "sunny"}, what="outputs")
    assert_equal(result.errors, {"s2": "LookupError: no data for population of Paris"},
                 what="errors: f'{type(error).__name__}: {error}'")
    assert_equal(result.skipped, ["s3", "s4"], what="s3 depends on s2, s4 on s3: both skipped")
    assert search.calls == ["capital of France", "population of Paris", "weather in Paris"], (
        f"{{s1}} is replaced by s1's output; skipped steps never call a tool: {search.calls}")


def test_unknown_action_and_earlier_outputs(impl):
    steps = _steps(impl, ("p", "calculator", "2+2", []), ("q", "count", "{old}!", ["old"]),
                   ("r", "count", "{p} {q} {old}", ["q"]))
    tools = {"count": lambda text: len(text)}  # returns an int: the output is str(...) of it
    result = call(impl.execute_plan, steps, tools, {"old": "abc"})
    assert_equal(result.errors, {"p": "KeyError: 'calculator'"},
                 what="an action without a tool fails as KeyError(action)")
    assert_equal(result.outputs, {"q": "4", "r": "11"},
                 what="outputs: len('abc!') = 4; then r depends on q only, so its input is "
                      "'{p} 4 {old}' (only declared dependencies are filled in): 11 characters")


def test_run_completes_in_one_round(impl):
    search = Table(WORLD)
    reply = plan(("s1", "search", "capital of France", []),
                 ("s2", "search", "mayor of {s1}", ["s1"]))
    model = impl.ScriptedModel([reply])
    result = call(call(impl.PlanAndExecute, model, {"search": search, "calc": len}).run,
                  "Who runs the capital?")
    system = impl.PLANNER_PROMPT.replace("{tools}", "search, calc")
    assert_equal(result.messages, [{"role": "system", "content": system},
                                   {"role": "user", "content": "Who runs the capital?"},
                                   {"role": "assistant", "content": reply}],
                 what="the transcript of a one-round run")
    assert_equal((result.status, result.outputs, result.rounds),
                 ("completed", {"s1": "Paris", "s2": "Anne Hidalgo"}, 1), what="the result")


def test_replan_reuses_finished_work(impl):
    search, wiki = Table(WORLD), Table({"population of Paris": "2.1 million"})
    first = plan(*FAILING)
    second = plan(("s6", "wiki", "population of {s1}", ["s1"]),
                  ("s7", "search", "area of {s1}", ["s1"]))
    model = impl.ScriptedModel([first, second])
    result = call(call(impl.PlanAndExecute, model, {"search": search, "wiki": wiki}).run, "task")
    report = {"done": {"s1": "Paris", "s5": "sunny"},
              "failed": {"s2": "LookupError: no data for population of Paris"},
              "skipped": ["s3", "s4"]}
    replan = impl.REPLAN_PROMPT.replace("{report}", json.dumps(report, ensure_ascii=False))
    assert_equal(result.messages[3:], [{"role": "user", "content": replan},
                                       {"role": "assistant", "content": second}],
                 what="after the failed round: the report, then the model's new plan")
    assert_equal(model.calls[1], result.messages[:4], what="what the model saw when re-planning")
    assert_equal((result.status, result.rounds), ("completed", 2), what="status and rounds")
    assert_equal(result.outputs, {"s1": "Paris", "s5": "sunny", "s6": "2.1 million",
                                  "s7": "105 km2"}, what="outputs of both rounds")
    assert search.calls.count("capital of France") == 1, "s1 is reused, not run again"


def test_rejected_plan_is_reported_and_replanned(impl):
    cyclic = plan(("a", "search", "x", ["b"]), ("b", "search", "y", ["a"]))
    fixed = plan(("a", "search", "capital of France", []))
    model = impl.ScriptedModel([cyclic, fixed])
    result = call(call(impl.PlanAndExecute, model, {"search": Table(WORLD)}, max_replans=2).run,
                  "t")
    feedback = result.messages[3]["content"]
    report = json.loads(feedback[feedback.index("{"):feedback.rindex("}") + 1])
    assert report["done"] == {} and "a" in report.get("plan_error", ""), (
        f"a rejected plan is reported as {{\"done\": ..., \"plan_error\": str(error)}} naming "
        f"the cycle: {report}")
    assert sorted(report) == ["done", "plan_error"], (
        f"a rejected plan ran nothing: its report has only done and plan_error, got {report}")
    assert_equal((result.status, result.rounds, result.outputs),
                 ("completed", 2, {"a": "Paris"}), what="the fixed plan completes in round 2")


def test_run_gives_up_when_replans_are_spent(impl):
    broken = plan(("s1", "search", "nothing known", []))
    model = impl.ScriptedModel([broken, "not json", broken])
    result = call(call(impl.PlanAndExecute, model, {"search": Table(WORLD)}, max_replans=2).run,
                  "t")
    assert_equal((result.status, result.rounds, len(model.calls)), ("failed", 3, 3),
                 what="1 round + 2 re-plans, then failed")
    assert result.messages[-1]["role"] == "assistant", "no report follows the last round"
    model = impl.ScriptedModel([broken])
    result = call(call(impl.PlanAndExecute, model, {"search": Table(WORLD)}, max_replans=0).run,
                  "t")
    assert_equal((result.status, result.rounds), ("failed", 1), what="max_replans=0")


# ---------------------------------------------------------------- properties

ids = ["a", "b", "c", "d", "e", "f"]


@st.composite
def dags(draw):
    """Steps in a drawn order whose dependencies point to steps drawn earlier (so no cycle)."""
    order = draw(st.permutations(ids))[:draw(st.integers(1, 6))]
    rows = []
    for index, step_id in enumerate(order):
        deps = draw(st.lists(st.sampled_from(order[:index]), unique=True, max_size=3)) \
            if index else []
        rows.append((step_id, "t", "", deps))
    return draw(st.permutations(rows))


graphs = st.lists(st.tuples(st.sampled_from(ids), st.lists(st.sampled_from(ids), unique=True,
                                                           max_size=3)),
                  min_size=1, max_size=6, unique_by=lambda row: row[0])


@given(rows=dags())
def test_batches_respect_dependencies_and_are_earliest(impl, rows):
    steps = _steps(impl, *rows)
    batches = call(impl.topological_batches, steps)
    where = {step_id: index for index, batch in enumerate(batches) for step_id in batch}
    assert sorted(where) == sorted(s.id for s in steps) and sum(map(len, batches)) == len(steps), (
        f"every step in exactly one batch: {batches}")
    order = [s.id for s in steps]
    for step in steps:
        expected = 1 + max((where[d] for d in step.depends_on), default=-1)
        assert where[step.id] == expected, (
            f"{step.id} depends on {list(step.depends_on)} → batch {expected}, got {batches}")
    for batch in batches:
        assert batch == sorted(batch, key=order.index), f"plan order inside a batch: {batch}"


@given(rows=graphs)
def test_cycles_are_found_and_genuine(impl, rows):
    steps = [impl.Step(i, "t", "", tuple(d for d in deps if d in {r[0] for r in rows}))
             for i, deps in rows]
    try:
        batches = call(impl.topological_batches, steps)
    except impl.CycleError as error:
        _assert_cycle(error.cycle, steps)
        return
    where = {s: i for i, batch in enumerate(batches) for s in batch}
    for step in steps:
        assert all(where[d] < where[step.id] for d in step.depends_on), (
            f"no CycleError, so every dependency must come in an earlier batch: {batches}")


@given(rows=dags(), failing=st.sets(st.sampled_from(ids)))
def test_skipped_exactly_when_upstream_failed(impl, rows, failing):
    def tool(text):
        raise RuntimeError("down")

    steps = [impl.Step(i, "bad" if i in failing else "ok", i, tuple(d)) for i, _, _, d in rows]
    result = call(impl.execute_plan, steps, {"ok": str.upper, "bad": tool})
    deps = {s.id: s.depends_on for s in steps}
    for step in steps:
        blocked = any(d in result.errors or d in result.skipped for d in deps[step.id])
        assert (step.id in result.skipped) == blocked, (
            f"{step.id} must be skipped exactly when a dependency failed or was skipped: "
            f"errors {result.errors}, skipped {result.skipped}")
        states = [step.id in result.outputs, step.id in result.errors, step.id in result.skipped]
        assert sum(states) == 1, f"{step.id} must be exactly one of done, failed, skipped"


# ---------------------------------------------------------------- agreement with the reference


@given(rows=dags(), failing=st.sets(st.sampled_from(ids)),
       replies=st.lists(st.sampled_from(["first", "cycle", "junk", "fix"]), min_size=1,
                        max_size=4), max_replans=st.integers(0, 3))
def test_run_matches_reference(impl, ref, rows, failing, replies, max_replans):
    def fails(text):
        raise RuntimeError(f"cannot do {text}")

    first = plan(*[(i, "bad" if i in failing else "ok", i + "{" + i + "}", d) for i, _, _, d in
                   rows])
    texts = {"first": first, "cycle": plan(("x", "ok", "x", ["y"]), ("y", "ok", "y", ["x"])),
             "junk": "[]", "fix": plan(("z", "ok", "z", []))}
    script = [texts[name] for name in replies] + [texts["fix"]] * 4
    tools = {"ok": str.upper, "bad": fails}
    model = impl.ScriptedModel(list(script))
    result = call(call(impl.PlanAndExecute, model, tools, max_replans=max_replans).run, "task")
    expected = ref.PlanAndExecute(ref.ScriptedModel(list(script)), tools,
                                  max_replans=max_replans).run("task")

    def shape(messages):  # plan_error texts are free
        out = []
        for m in messages:
            if m["role"] == "user" and '"plan_error"' in m["content"]:
                m = {"role": "user", "content": "<plan error report>"}
            out.append(m)
        return out

    assert_equal((result.status, result.outputs, result.rounds),
                 (expected.status, expected.outputs, expected.rounds),
                 what=f"run with replies {replies}, max_replans={max_replans}")
    assert_equal(shape(result.messages), shape(expected.messages), what="the transcript")


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("reply", [
    "not json", "[]", '{"steps": []}', '{"plan": []}',
    '{"steps": [{"id": "a", "action": "t"}]}',
    '{"steps": [{"id": 1, "action": "t", "input": ""}]}',
    '{"steps": [{"id": "a", "action": "t", "input": "", "depends_on": "b"}]}',
    '{"steps": [{"id": "a", "action": "t", "input": ""}, {"id": "a", "action": "t", "input": ""}]}',
    '{"steps": [{"id": "a", "action": "t", "input": "", "depends_on": ["nope"]}]}',
    '{"steps": [{"id": "old", "action": "t", "input": ""}]}',
])
def test_parse_plan_rejects(impl, reply):
    assert call(impl.parse_plan, plan(("a", "t", "", ["old"])), done={"old"}), "valid with done"
    with pytest.raises(ValueError):
        call(impl.parse_plan, reply, done={"old"})


def test_execute_plan_needs_every_dependency(impl):
    steps = _steps(impl, ("a", "t", "{b}", ["b"]))
    assert call(impl.execute_plan, steps, {"t": str}, {"b": "x"}).outputs == {"a": "x"}
    with pytest.raises(ValueError):
        call(impl.execute_plan, steps, {"t": str})
    with pytest.raises(ValueError):
        call(impl.PlanAndExecute, impl.ScriptedModel([]), {}, max_replans=-1)
