"""tool_registry vs pydantic (JSON Schemas of type hints) and jsonschema (which arguments a
Draft 2020-12 validator accepts for a pydantic-built parameters schema)."""

import json
import typing
from typing import Literal, Optional

import pytest

HINTS = [str, int, float, bool, type(None), list[int], list[str], list[list[float]],
         Literal["celsius", "fahrenheit"], Literal[1, 2, 3], Literal[True],
         Optional[int], int | None, str | int, Optional[list[str]], list[int | None],
         typing.Union[int, str, None]]
ARGUMENTS = [1, -3, 2.5, 1.0, True, False, None, "x", "", [], [1, 2], ["a"], [1, None],
             [[1.5]], "celsius", "kelvin", 3, 4]


def _strip_titles(schema):
    """pydantic adds "title" keys; the kata's schemas have none."""
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def test_json_schema_of_each_hint_matches_pydantic(ref, oracle):
    pytest.importorskip("pydantic")
    from pydantic import TypeAdapter

    oracle.uses("pydantic")
    for hint in HINTS:
        expected = _strip_titles(TypeAdapter(hint).json_schema())
        if "const" in expected:  # pydantic writes a one-value Literal as const: the same set
            expected["enum"] = [expected.pop("const")]
        oracle.equal(ref.json_schema(hint), expected, what=f"json_schema({hint!r})")


def test_dispatch_accepts_what_jsonschema_accepts(ref, oracle):
    pytest.importorskip("pydantic")
    import jsonschema
    from pydantic import create_model

    oracle.uses("jsonschema", "pydantic")
    for index, hint in enumerate(HINTS):
        def tool(value, other=0):
            return "ran"

        tool.__name__ = f"tool_{index}"
        tool.__annotations__ = {"value": hint, "other": int}
        registry = ref.ToolRegistry()
        registry.register(tool)
        # The parameters schema as pydantic builds it for the same signature.
        model = create_model(tool.__name__, value=(hint, ...), other=(int, 0))
        schema = dict(model.model_json_schema(), additionalProperties=False)
        validator = jsonschema.Draft202012Validator(schema)
        for argument in ARGUMENTS:
            arguments = {"value": argument}
            call = {"id": "call_1", "type": "function",
                    "function": {"name": tool.__name__, "arguments": json.dumps(arguments)}}
            ran = registry.dispatch(call)["content"] == "ran"
            oracle.equal(ran, validator.is_valid(arguments),
                         what=f"dispatch of {arguments} to a tool taking {hint!r}")
