"""ReAct agent: the tool-calling loop over OpenAI chat messages, with retries and a step limit.

Task:
    Make the interview guide's `ToolCallingAgent.execute` (§4.1-4.2) a real ReAct loop. `run`
    sends the conversation to the model; when the reply asks for tools, every call is executed
    and answered with a `tool` message carrying its `tool_call_id`, and the model is asked
    again; a reply without tool calls is the final answer; `max_steps` model calls end the loop
    with a clear outcome. `execute_tool_call` makes one call safe: a malformed or failing call
    becomes an error observation the model can read (never a crash), a transient failure is
    retried with exponential backoff on the (fake) clock, and a call that already succeeded in
    this run is answered from its record instead of running its tool again.

Rules:
    Plain Python (json allowed). No langchain / langgraph / openai / autogen. Wait only with
    `self.clock.sleep` (the tests use a fake clock; never time.sleep).

Formats (OpenAI chat completions function calling):
    tool call     {"id": "call_1", "type": "function",
                   "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}
    assistant     {"role": "assistant", "content": None, "tool_calls": [<tool call>, ...]}
                  or a final answer {"role": "assistant", "content": "It is sunny."}
    tool message  {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"}
    error         a tool message whose content is the JSON object {"error": "<what went wrong>"}

    The model is any callable messages → assistant message; tests use `ScriptedModel`:

        >>> model = ScriptedModel([
        ...     {"role": "assistant", "content": None,
        ...      "tool_calls": [tool_call("call_1", "get_weather", {"city": "Paris"})]},
        ...     {"role": "assistant", "content": "It is sunny in Paris."}])
        >>> agent = ReActAgent(model, {"get_weather": lambda city: "sunny, 21C"})
        >>> result = agent.run("Weather in Paris?")
        >>> [m["role"] for m in result.messages]
        ['user', 'assistant', 'tool', 'assistant']
        >>> result.messages[2]
        {'role': 'tool', 'tool_call_id': 'call_1', 'content': 'sunny, 21C'}
        >>> result.status, result.answer, result.steps
        ('answered', 'It is sunny in Paris.', 2)

Reference:
    Yao et al. 2023, "ReAct: Synergizing Reasoning and Acting in Language Models"; OpenAI API
    guide "Function calling" (every tool call is answered by a tool message with its id before
    the next request); exponential backoff as in AWS "Exponential Backoff and Jitter" (here
    without jitter, so the tests are exact).

Notable choices:
    - A call is identified by its tool name and its decoded arguments (key order ignored); only
      successes are recorded, so a call that failed may be tried again by the model.
    - Tool calls of the last allowed step are still executed and answered, so the transcript
      stays valid for the chat API even when the step limit ends the run.

Grade: nox -s react_agent
"""

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class TransientError(Exception):
    """A failure worth retrying: a timeout, a rate limit, a 503."""


@dataclass
class FakeClock:
    """Time that passes only when someone sleeps; `sleeps` lists every wait in seconds."""
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class ScriptedModel:
    """A fake chat model: returns `replies` (assistant messages) in order, one per call, and
    records a deep copy of each call's messages in `calls`. One call too many raises
    AssertionError."""
    replies: list[dict]
    calls: list[list[dict]] = field(default_factory=list)

    def __call__(self, messages: list[dict]) -> dict:
        assert len(self.calls) < len(self.replies), "the model was called more often than scripted"
        self.calls.append(copy.deepcopy(messages))
        return copy.deepcopy(self.replies[len(self.calls) - 1])


def tool_call(call_id: str, name: str, arguments: dict | str) -> dict:
    """A tool call as the API returns it; a dict of arguments is JSON-encoded."""
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool_message(tool_call_id: str, content: str) -> dict:
    return {"role": "tool", "tool_call_id": tool_call_id, "content": content}


def error_message(tool_call_id: str, error: str) -> dict:
    return tool_message(tool_call_id, json.dumps({"error": error}))


@dataclass
class AgentResult:
    status: str  # "answered" or "max_steps"
    answer: str | None  # the final answer's content ("" if None); None when max_steps ended it
    messages: list[dict]  # the full transcript, starting with the system message if any
    steps: int  # model calls made


class ReActAgent:
    """Reason + act: ask the model, run the tools it asks for, feed back the observations."""

    def __init__(self, model: Callable[[list[dict]], dict], tools: dict[str, Callable[..., Any]],
                 *, system_prompt: str | None = None, max_steps: int = 5, max_retries: int = 2,
                 base_delay: float = 0.5, clock: FakeClock | None = None) -> None:
        """
        Args:
            model: messages → assistant message (e.g. `ScriptedModel`).
            tools: tool name → function called with the decoded arguments as keywords; it
                returns the result (a str is sent verbatim, anything else json.dumps-ed) or
                raises (TransientError: retry; any other exception: report).
            system_prompt: when given, the transcript starts with this system message.
            max_steps: the most model calls in one run, >= 1.
            max_retries: retries after a TransientError (so at most max_retries + 1 attempts
                of one call), >= 0.
            base_delay: seconds before the first retry, >= 0; retry i (from 1) waits
                base_delay · 2^(i-1).
            clock: has `sleep(seconds)`; a new FakeClock when None.

        Raises:
            ValueError: max_steps < 1, max_retries < 0 or base_delay < 0.
        """
        if max_steps < 1 or max_retries < 0 or base_delay < 0:
            raise ValueError(f"max_steps={max_steps} must be >= 1, max_retries={max_retries} >= 0 "
                             f"and base_delay={base_delay} >= 0")
        self.model, self.tools, self.system_prompt = model, tools, system_prompt
        self.max_steps, self.max_retries, self.base_delay = max_steps, max_retries, base_delay
        self.clock = FakeClock() if clock is None else clock
        self.succeeded: dict[tuple[str, str], str] = {}  # (name, canonical arguments) → content

    def execute_tool_call(self, call: dict) -> dict:
        """Answer one tool call with a tool message (tool_call_id = call["id"]); never raises.

        `call` has the keys "id" and "function" ({"name", "arguments"}); their values come from
        the model and may be anything.

        In order:
        1. An unknown tool name, or `arguments` that are not JSON or not a JSON object → error
           message (the unknown-tool error names the tool); the tool does not run.
        2. The same name and arguments (compared as json.dumps(arguments, sort_keys=True))
           already succeeded in this run → the recorded content again, without running the tool.
        3. Run the tool. TransientError → wait base_delay · 2^(i-1) on the clock and try again,
           up to max_retries retries; still failing → error message that says how many attempts
           were made. Any other exception → error message naming the exception's type and
           text ("lookup raised KeyError: 'x'"), no retry.
        4. Success → tool message with the result (a str verbatim, else json.dumps(result)),
           recorded for step 2.
        """
        # BEGIN SOLUTION
        call_id, name = call["id"], call["function"]["name"]
        if not isinstance(name, str) or name not in self.tools:
            return error_message(call_id, f"unknown tool {name!r}; available: "
                                          f"{', '.join(self.tools) or 'none'}")
        try:
            arguments = json.loads(call["function"]["arguments"])
        except (TypeError, ValueError) as error:
            return error_message(call_id, f"arguments of {name} are not valid JSON: {error}")
        if not isinstance(arguments, dict):
            return error_message(call_id, f"arguments of {name} must be a JSON object")
        key = (name, json.dumps(arguments, sort_keys=True))
        if key in self.succeeded:
            return tool_message(call_id, self.succeeded[key])
        for attempt in range(self.max_retries + 1):
            try:
                result = self.tools[name](**arguments)
                content = result if isinstance(result, str) else json.dumps(result)
            except TransientError as error:
                if attempt == self.max_retries:
                    return error_message(call_id, f"{name} failed after {attempt + 1} attempts: "
                                                  f"TransientError: {error}")
                self.clock.sleep(self.base_delay * 2 ** attempt)
            except Exception as error:  # the model reads it and can change its call
                return error_message(call_id, f"{name} raised {type(error).__name__}: {error}")
            else:
                self.succeeded[key] = content
                return tool_message(call_id, content)
        raise AssertionError("unreachable")
        # END SOLUTION

    def run(self, user_message: str) -> AgentResult:
        """Run the ReAct loop for one user message.

        The transcript starts as [system message (if system_prompt)] + [{"role": "user",
        "content": user_message}] and the record of succeeded calls starts empty. Each step
        calls the model with the transcript so far and appends its reply (as returned). A reply
        with a non-empty "tool_calls" list gets one `execute_tool_call` answer per call, in
        order, appended right after it; then the next step. A reply without tool calls ends the
        run: AgentResult("answered", its content or "", transcript, steps). After max_steps
        model calls without a final answer: AgentResult("max_steps", None, transcript,
        max_steps), with the last step's tool calls answered too.
        """
        # BEGIN SOLUTION
        self.succeeded = {}
        messages = [] if self.system_prompt is None else [
            {"role": "system", "content": self.system_prompt}]
        messages.append({"role": "user", "content": user_message})
        for step in range(1, self.max_steps + 1):
            reply = self.model(messages)
            messages.append(reply)
            calls = reply.get("tool_calls") or []
            if not calls:
                return AgentResult("answered", reply.get("content") or "", messages, step)
            for call in calls:
                messages.append(self.execute_tool_call(call))
        return AgentResult("max_steps", None, messages, self.max_steps)
        # END SOLUTION
