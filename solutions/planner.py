"""Plan-and-execute agent: a plan as a DAG, batches in dependency order, failures, re-planning.

Task:
    Write the planning half of an agent (interview guide §4.1, planning). The model writes a
    plan as JSON; `parse_plan` checks it; `topological_batches` orders its steps into batches
    of independent steps (and names a cycle if there is one); `execute_plan` runs the batches,
    feeding each step the outputs of the steps it depends on, and when a step fails it skips
    everything downstream and reports it; `PlanAndExecute.run` asks the model for a new plan
    of the remaining work, with the finished outputs kept, until the work is done or the
    re-planning budget is spent.

Rules:
    Plain Python (json, collections allowed). No networkx / graphlib (write the topological
    sort), langchain / langgraph.

Formats:
    plan JSON   {"steps": [{"id": "s1", "action": "search", "input": "capital of France",
                            "depends_on": []},
                           {"id": "s2", "action": "search", "input": "population of {s1}",
                            "depends_on": ["s1"]}]}
    A step's input may name the output of a step it depends on as {id}. Tools are functions
    input str → output str. The model is any callable messages → reply text (OpenAI chat
    messages); tests use a script of replies:

        >>> model = ScriptedModel(['{"steps": [{"id": "s1", "action": "search", '
        ...                        '"input": "capital of France"}, {"id": "s2", "action": '
        ...                        '"search", "input": "population of {s1}", "depends_on": '
        ...                        '["s1"]}]}'])
        >>> tools = {"search": {"capital of France": "Paris",
        ...                     "population of Paris": "2.1 million"}.__getitem__}
        >>> result = PlanAndExecute(model, tools).run("How many people live in France's capital?")
        >>> result.status, result.outputs
        ('completed', {'s1': 'Paris', 's2': '2.1 million'})

Reference:
    Wang et al. 2023, "Plan-and-Solve Prompting"; LangChain's plan-and-execute and LLMCompiler
    (Kim et al. 2024: a DAG of tasks run in parallel batches); Kahn 1962 for the topological
    sort.

Notable choices:
    - Batches are levels: a step runs in batch 1 + (the latest batch of its dependencies); in a
      batch, steps keep plan order. A real executor would run each batch concurrently.
    - A failure never stops independent branches; only the failed step's dependents (direct
      and indirect) are skipped.
    - A re-plan may reuse finished work: its steps may depend on ids done in earlier rounds.

Grade: nox -s planner
"""

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

PLANNER_PROMPT = ("Break the task into steps. Reply with JSON only: {\"steps\": [{\"id\": \"s1\", "
                  "\"action\": \"<tool>\", \"input\": \"<text; {id} inserts the output of a step "
                  "it depends on>\", \"depends_on\": [\"<id>\", ...]}]}. Tools: {tools}.")
REPLAN_PROMPT = ("The plan did not complete. Report: {report}. Reply with a JSON plan for the "
                 "remaining work only. New step ids must differ from the done ones; steps may "
                 "depend on done ones.")


@dataclass(frozen=True)
class Step:
    id: str
    action: str  # the tool to call
    input: str  # may contain {id} for each id in depends_on
    depends_on: tuple[str, ...] = ()


class CycleError(ValueError):
    """The plan's dependencies form a cycle; `cycle` lists it closed, e.g. ["a", "b", "a"]:
    a depends on b, b depends on a."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(f"the plan has a dependency cycle: {' -> '.join(cycle)}; break it")


@dataclass
class PlanResult:
    batches: list[list[str]]  # step ids by batch, as executed
    outputs: dict[str, str]  # id → output of each step that succeeded, in execution order
    errors: dict[str, str]  # id → "<ExceptionType>: <message>" of each step that failed
    skipped: list[str]  # ids not run because a dependency failed or was skipped, in order


@dataclass
class RunResult:
    status: str  # "completed" (the last round had no failure) or "failed"
    outputs: dict[str, str]  # every step done in any round, in order of completion
    rounds: int  # plans executed or rejected (1 + re-plans used)
    messages: list[dict] = field(default_factory=list)  # the conversation with the model


@dataclass
class ScriptedModel:
    """A fake model: returns `replies` in order and records a copy of each call's messages."""
    replies: list[str]
    calls: list[list[dict]] = field(default_factory=list)

    def __call__(self, messages: list[dict]) -> str:
        assert len(self.calls) < len(self.replies), "the model was called more often than scripted"
        self.calls.append([dict(message) for message in messages])
        return self.replies[len(self.calls) - 1]


def parse_plan(reply: str, done: Collection[str] = ()) -> list[Step]:
    """The steps of a plan written by the model, in plan order.

    `reply` must be a JSON object {"steps": [...]} with at least one step; each step an object
    with str "id", "action" and "input" and an optional "depends_on" list of str (default []).
    Extra keys are ignored.

    Args:
        done: ids finished in earlier rounds; steps may depend on them but not reuse them.

    Raises:
        ValueError: not JSON or not that shape; an empty step list; a duplicate id or an id in
            `done`; a dependency that is neither a step of the plan nor in `done`. (Cycles are
            found by `topological_batches`.)
    """
    # BEGIN SOLUTION
    try:
        plan = json.loads(reply)
    except (TypeError, ValueError) as error:
        raise ValueError(f"the plan is not JSON ({error}); reply with "
                         "{\"steps\": [...]}") from None
    if not isinstance(plan, dict) or not isinstance(plan.get("steps"), list) or not plan["steps"]:
        raise ValueError("the plan must be a JSON object with a non-empty \"steps\" list")
    steps = []
    for raw in plan["steps"]:
        depends_on = raw.get("depends_on", []) if isinstance(raw, dict) else None
        if (not isinstance(raw, dict)
                or not all(isinstance(raw.get(key), str) for key in ("id", "action", "input"))
                or not isinstance(depends_on, list)
                or not all(isinstance(dep, str) for dep in depends_on)):
            raise ValueError(f"step {raw!r} needs str id, action, input and a list depends_on")
        steps.append(Step(raw["id"], raw["action"], raw["input"], tuple(depends_on)))
    ids = [step.id for step in steps]
    for step in steps:
        if ids.count(step.id) > 1 or step.id in done:
            raise ValueError(f"step id {step.id!r} is used twice (or was done already)")
        for dep in step.depends_on:
            if dep not in ids and dep not in done:
                raise ValueError(f"step {step.id!r} depends on unknown step {dep!r}")
    return steps
    # END SOLUTION


def topological_batches(steps: list[Step]) -> list[list[str]]:
    """Step ids grouped into batches that can run together, in dependency order.

    A step's batch is 0 if it depends on no step of `steps` (dependencies outside `steps` are
    done already), else 1 + the largest batch of its dependencies. Batches are listed from 0 up,
    steps in each batch in plan order.

    Raises:
        CycleError: the dependencies among `steps` form a cycle (a step depending on itself
            included); `cycle` is one such cycle, closed: [a, b, ..., a], each id depending on
            the next.
    """
    # BEGIN SOLUTION
    by_id = {step.id: step for step in steps}
    level: dict[str, int] = {}
    path: list[str] = []  # the steps being resolved, each depending on the next

    def resolve(step_id: str) -> int:
        if step_id in level:
            return level[step_id]
        if step_id in path:
            raise CycleError(path[path.index(step_id):] + [step_id])
        path.append(step_id)
        deps = [dep for dep in by_id[step_id].depends_on if dep in by_id]
        level[step_id] = 1 + max((resolve(dep) for dep in deps), default=-1)
        path.pop()
        return level[step_id]

    for step in steps:
        resolve(step.id)
    batches = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for step in steps:
        batches[level[step.id]].append(step.id)
    return batches
    # END SOLUTION


def execute_plan(steps: list[Step], tools: dict[str, Callable[[str], str]],
                 outputs: dict[str, str] | None = None) -> PlanResult:
    """Run the plan batch by batch.

    For each step, in batch order: if a dependency failed or was skipped, the step is skipped.
    Otherwise its input has each "{dep}", for dep in depends_on, replaced by that dependency's
    output (from this plan or from `outputs`, the results of earlier rounds), and
    tools[action](input) is called: its return value (str(...) of it) is the step's output; an
    exception is the step's failure, recorded as f"{type(error).__name__}: {error}"; an action
    with no tool fails as KeyError(action). Nothing is retried and nothing raises.

    Raises:
        CycleError: from topological_batches, before any step runs.
        ValueError: a dependency that is neither a step nor in `outputs`.
    """
    # BEGIN SOLUTION
    known = dict(outputs or {})
    by_id = {step.id: step for step in steps}
    for step in steps:
        for dep in step.depends_on:
            if dep not in by_id and dep not in known:
                raise ValueError(f"step {step.id!r} depends on {dep!r}, which is neither a step "
                                 "nor a finished output")
    batches = topological_batches(steps)
    result = PlanResult(batches, {}, {}, [])
    for batch in batches:
        for step_id in batch:
            step = by_id[step_id]
            if any(dep in result.errors or dep in result.skipped for dep in step.depends_on):
                result.skipped.append(step_id)
                continue
            text = step.input
            for dep in step.depends_on:
                text = text.replace("{" + dep + "}", known[dep])
            try:
                if step.action not in tools:
                    raise KeyError(step.action)
                output = str(tools[step.action](text))
            except Exception as error:
                result.errors[step_id] = f"{type(error).__name__}: {error}"
            else:
                result.outputs[step_id] = known[step_id] = output
    return result
    # END SOLUTION


class PlanAndExecute:
    def __init__(self, model: Callable[[list[dict]], str], tools: dict[str, Callable[[str], str]],
                 max_replans: int = 1) -> None:
        if max_replans < 0:
            raise ValueError(f"max_replans={max_replans} must be >= 0")
        self.model, self.tools, self.max_replans = model, tools, max_replans

    def run(self, task: str) -> RunResult:
        """Plan, execute, and re-plan what is left after a failure.

        messages = [{"role": "system", "content": PLANNER_PROMPT with {tools} replaced by the
        tool names joined by ", " in dict order (str.replace: the prompt holds JSON braces)},
        {"role": "user", "content": task}]. Each round: call the
        model, append its reply as {"role": "assistant", "content": reply}, then parse_plan
        (done = the ids finished so far) and execute_plan (outputs = the outputs so far); add
        the round's outputs to the run's. The run is "completed" after a round with no failed
        or skipped step. Otherwise, while fewer than max_replans re-plans were made, append
        {"role": "user", "content": REPLAN_PROMPT with {report} replaced by json.dumps(report,
        ensure_ascii=False)} and go again, where report = {"done": the outputs so far,
        "failed": the round's errors, "skipped": the round's skipped ids}, or, when the plan was
        rejected (parse_plan's ValueError or a CycleError), {"done": ..., "plan_error":
        str(error)}. With no re-plans left the run has "failed".
        """
        # BEGIN SOLUTION
        system = PLANNER_PROMPT.replace("{tools}", ", ".join(self.tools))
        messages = [{"role": "system", "content": system}, {"role": "user", "content": task}]
        outputs: dict[str, str] = {}
        rounds = 0
        while True:
            rounds += 1
            reply = self.model(messages)
            messages.append({"role": "assistant", "content": reply})
            try:
                steps = parse_plan(reply, done=outputs)
                result = execute_plan(steps, self.tools, outputs)
            except ValueError as error:  # CycleError included
                report = {"done": dict(outputs), "plan_error": str(error)}
            else:
                outputs.update(result.outputs)
                if not result.errors and not result.skipped:
                    return RunResult("completed", outputs, rounds, messages)
                report = {"done": dict(outputs), "failed": result.errors,
                          "skipped": result.skipped}
            if rounds > self.max_replans:
                return RunResult("failed", outputs, rounds, messages)
            content = REPLAN_PROMPT.replace("{report}", json.dumps(report, ensure_ascii=False))
            messages.append({"role": "user", "content": content})
        # END SOLUTION
