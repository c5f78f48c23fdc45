"""Tool registry: JSON Schemas from type hints, validated dispatch of OpenAI tool calls.

Task:
    Write the tool-calling core of an agent. `json_schema` turns one type hint into a JSON
    Schema; `ToolRegistry.register` (also a decorator) builds a function's parameters schema from
    its signature and docstring; `schemas` lists the tools for the chat API; `dispatch` answers
    one tool call with a tool message and `dispatch_all` answers an assistant message's parallel
    tool calls. The model's tool calls are untrusted input: an unknown tool, arguments that are
    not JSON, arguments that break the schema, or an exception inside the tool all come back as
    an error tool message the model can read and retry from, never as a raised exception, and
    the tool never runs on arguments that failed validation.

Rules:
    Do not let a library build the schemas (pydantic, langchain, openai helpers). Validate
    arguments with `jsonschema` (a hand-written check must know that a JSON `true` is not an
    integer, although Python's `isinstance(True, int)` is True).

Formats (OpenAI chat completions function calling):
    schema        {"type": "function", "function": {"name": str, "description": str,
                   "parameters": <JSON Schema of an object>}}
    tool call     {"id": "call_1", "type": "function",
                   "function": {"name": "add", "arguments": "{\"a\": 1, \"b\": 2}"}}
                   (`arguments` is a JSON *string* written by the model)
    assistant     {"role": "assistant", "content": None, "tool_calls": [<tool call>, ...]}
    tool message  {"role": "tool", "tool_call_id": "call_1", "content": "3"}

Reference:
    OpenAI API guide "Function calling" (tools, tool_calls, role "tool" messages); JSON Schema
    Draft 2020-12, checked and validated with `jsonschema.Draft202012Validator`.
    Version line: jsonschema 4.x (Draft 2020-12) and the schemas pydantic 2.x writes for
    the same hints; `nox -s oracles` checks both (pydantic 2.13).

Notable choices:
    - `Optional[X]` / `X | None` become `{"anyOf": [<X>, {"type": "null"}]}`. OpenAI's strict
      mode would instead write `"type": [..., "null"]` and list every property as required.
    - Every parameters schema sets `"additionalProperties": false`: an argument the function does
      not take is an error the model should hear about, not a silent drop.
    - Validation follows JSON Schema semantics as `jsonschema` implements them (so 1.0 counts as
      an integer there); tests only rely on cases every JSON Schema validator agrees on.

Grade: nox -s tool_registry
"""

import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema

NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # what the OpenAI API accepts as a function name


def parse_docstring(func: Callable) -> tuple[str, dict[str, str]]:
    """(summary, {parameter name: description}) from a Google-style docstring.

    The summary is the first paragraph joined into one line ("" without a docstring); the
    descriptions come from the `Args:` section, continuation lines joined with spaces.
    """
    doc = inspect.getdoc(func) or ""
    summary = " ".join(doc.split("\n\n")[0].split())
    descriptions: dict[str, str] = {}
    lines = doc.splitlines()
    if "Args:" not in [line.strip() for line in lines]:
        return summary, descriptions
    start = [line.strip() for line in lines].index("Args:") + 1
    indent, current = None, None
    for line in lines[start:]:
        if line.strip() and not line.startswith(" "):
            break  # the next section ("Returns:", ...)
        depth = len(line) - len(line.lstrip())
        match = re.match(r"\s*(\w+)(?:\s*\([^)]*\))?:\s*(.*)", line)
        if match and (indent is None or depth == indent):
            indent, current = depth, match[1]
            descriptions[current] = match[2].strip()
        elif current and line.strip():
            descriptions[current] = f"{descriptions[current]} {line.strip()}".strip()
    return summary, descriptions


def tool_message(tool_call_id: str, content: str) -> dict:
    """The message that answers tool call `tool_call_id`."""
    return {"role": "tool", "tool_call_id": tool_call_id, "content": content}


def error_message(tool_call_id: str, error: str) -> dict:
    """An error answer: a tool message whose content is the JSON object {"error": error}."""
    return tool_message(tool_call_id, json.dumps({"error": error}))


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict  # JSON Schema of the arguments object
    function: Callable


def json_schema(hint: Any) -> dict:
    """The JSON Schema of one parameter's type hint.

    Mapping: str → {"type": "string"}, int → {"type": "integer"}, float → {"type": "number"},
    bool → {"type": "boolean"}, None / NoneType → {"type": "null"},
    list[X] → {"type": "array", "items": <X>},
    Literal[v1, v2, ...] (values of one type: str, int or bool) → {"type": <that type's JSON
    type>, "enum": [v1, v2, ...]}, Union[A, B, ...] / A | B → {"anyOf": [<A>, <B>, ...]} (so
    Optional[X] → {"anyOf": [<X>, {"type": "null"}]}).

    Raises:
        ValueError: any other hint (dict, a bare list, a class, Any, a Literal of mixed types);
            the message names the hint and the supported ones.
    """
    # TODO: implement this (about 15 lines in the reference).
    raise NotImplementedError(
        "json_schema: not written yet. Stuck? nox -s hint -- tool_registry"
    )


class ToolRegistry:
    """Tools by name, their schemas for the chat API, and dispatch of the model's tool calls."""

    def __init__(self) -> None:
        self.tools: dict[str, Tool] = {}  # in registration order

    def register(self, func: Callable | None = None, *, name: str | None = None,
                 description: str | None = None):
        """Register `func` as a tool; returns `func` unchanged, so it works as a decorator.

        `@registry.register`, `@registry.register(name="search")` and
        `registry.register(func, name=...)` all work. The parameters schema is
        {"type": "object", "properties": {...}, "required": [...], "additionalProperties": false}:
        one property per parameter, in signature order, with `json_schema(type hint)` plus a
        "description" from `parse_docstring` (when the Args section has one) and a "default" for
        a parameter with a default value. `required` lists, in signature order, the parameters
        without a default. The tool's description is `description`, else the docstring's summary.

        Args:
            func: the function; every parameter needs a supported type hint (see `json_schema`).
                Hints written as strings (`from __future__ import annotations`) are resolved
                as `typing.get_type_hints` does. None returns a decorator.
            name: the tool's name (default `func.__name__`); must match NAME_PATTERN.
            description: what the model is told the tool does.

        Raises:
            ValueError: a name that does not match NAME_PATTERN or is already registered (the
                message names it); a parameter without a type hint, with an unsupported hint, or
                that is *args, **kwargs or positional-only (the message names the parameter).
                Nothing is registered when it raises.
        """
        # TODO: implement this (about 34 lines in the reference).
        raise NotImplementedError(
            "register: not written yet. Stuck? nox -s hint -- tool_registry"
        )

    def schemas(self) -> list[dict]:
        """[{"type": "function", "function": {"name", "description", "parameters"}}, ...] in
        registration order: the `tools` argument of a chat completions request."""
        # TODO: implement this (about 3 lines in the reference).
        raise NotImplementedError(
            "schemas: not written yet. Stuck? nox -s hint -- tool_registry"
        )

    def dispatch(self, tool_call: dict) -> dict:
        """Run one tool call and answer it with a tool message; never raises for bad input.

        In order: an unknown tool name, `arguments` that are not JSON or not a JSON object, and
        arguments that fail the tool's parameters schema (a missing required argument, a wrong
        type, an unexpected argument) are answered with `error_message` without running the
        tool. Otherwise the tool runs with the decoded arguments as keyword arguments; an
        exception inside it is answered with `error_message` whose text names the exception's
        type and message (e.g. `{"error": "get_weather raised LookupError: no city called
        Atlantis"}`). A result is answered with `tool_message`: a str verbatim, anything else as
        `json.dumps(result)` (a result json.dumps cannot encode is an error message too).

        Args:
            tool_call: {"id": str, "type": "function", "function": {"name": str,
                "arguments": JSON string}} as the API returns it; `id` and the `function` keys
                are present, their values come from the model.

        Returns:
            {"role": "tool", "tool_call_id": tool_call["id"], "content": str}; an error's content
            is the JSON object {"error": "<what went wrong and how to fix it>"}, and the error
            for an unknown tool names the tool that was asked for.
        """
        # TODO: implement this (about 23 lines in the reference).
        raise NotImplementedError(
            "dispatch: not written yet. Stuck? nox -s hint -- tool_registry"
        )

    def dispatch_all(self, assistant_message: dict) -> list[dict]:
        """The tool messages answering every call in `assistant_message["tool_calls"]`, in the
        order of the calls (one per call, also when a tool is called twice); [] when the message
        has no tool calls."""
        # TODO: implement this (about 1 line in the reference).
        raise NotImplementedError(
            "dispatch_all: not written yet. Stuck? nox -s hint -- tool_registry"
        )
