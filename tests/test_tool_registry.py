"""Grader for the `tool_registry` kata: worked examples, error answers, properties, bad input."""

import json
import typing
from typing import Literal, Optional

import jsonschema
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kata.check import assert_equal, call

# ---------------------------------------------------------------- helpers


def _registry(impl, *functions, **options):
    registry = call(impl.ToolRegistry)
    for function in functions:
        call(registry.register, function, **options)
    return registry


def _tool_call(name, arguments, call_id="call_1"):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _assert_tool_message(message, call_id):
    assert isinstance(message, dict), f"dispatch must return a tool message (dict): {message!r}"
    assert message.get("role") == "tool", f"a tool message has role 'tool', got {message!r}"
    assert message.get("tool_call_id") == call_id, (
        f"tool_call_id must echo the call's id {call_id!r}, got {message.get('tool_call_id')!r}: "
        "the API pairs each result with its call by this id")
    assert isinstance(message.get("content"), str), (
        f"content must be a string, got {type(message.get('content')).__name__}")


def _error_text(message):
    """The error text of an error tool message, or None when the content is not an error."""
    try:
        content = json.loads(message["content"])
    except ValueError:
        return None
    if isinstance(content, dict) and isinstance(content.get("error"), str) and content["error"]:
        return content["error"]
    return None


def _assert_error(message, call_id, why):
    _assert_tool_message(message, call_id)
    assert _error_text(message) is not None, (
        f"{why}: expected an error tool message whose content is the JSON object "
        f"{{\"error\": \"...\"}}, got content {message['content']!r}")


def _same_json(a, b):
    """Equal and of the same JSON types all the way down (True is not 1, 1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    return a == b


def _plan_tool(runs):
    def plan_trip(text: str, count: int, ratio: float, flag: bool, tags: list[str],
                  unit: Literal["celsius", "fahrenheit"], limit: Optional[int] = None,
                  grid: list[list[int]] | None = None) -> str:
        """Plan a trip."""
        runs.append(dict(text=text, count=count, ratio=ratio, flag=flag, tags=tags, unit=unit,
                         limit=limit, grid=grid))
        return "planned"

    return plan_trip


# The parameters schema of plan_trip, written out from the documented mapping.
PLAN_SCHEMA = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "count": {"type": "integer"},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
        "grid": {"anyOf": [{"type": "array",
                            "items": {"type": "array", "items": {"type": "integer"}}},
                           {"type": "null"}], "default": None},
    },
    "required": ["text", "count", "ratio", "flag", "tags", "unit"],
    "additionalProperties": False,
}
PLAN_DEFAULTS = {"limit": None, "grid": None}

small_ints = st.integers(-(2**53), 2**53)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
valid_plan_arguments = st.fixed_dictionaries(
    {"text": st.text(max_size=8), "count": small_ints, "ratio": finite_floats,
     "flag": st.booleans(), "tags": st.lists(st.text(max_size=4), max_size=3),
     "unit": st.sampled_from(["celsius", "fahrenheit"])},
    optional={"limit": st.none() | small_ints,
              "grid": st.none() | st.lists(st.lists(small_ints, max_size=3), max_size=3)})
json_values = st.recursive(
    st.none() | st.booleans() | small_ints | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6)
near_plan_arguments = st.dictionaries(
    st.sampled_from([*PLAN_SCHEMA["properties"], "extra"]), json_values, max_size=9)
argument_strings = st.one_of(
    st.text(),
    json_values.map(json.dumps),
    near_plan_arguments.map(json.dumps),
    st.tuples(valid_plan_arguments, near_plan_arguments).map(
        lambda pair: json.dumps({**pair[0], **pair[1]})),
)


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius",
                days: int = 1) -> str:
    """Get the weather forecast
    for a city.

    Uses the forecast service.

    Args:
        city: The city name,
            for example Paris.
        unit: Temperature unit.

    Returns:
        The forecast as text.
    """
    return f"{days} day(s) of sun in {city} ({unit})"


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


# ---------------------------------------------------------------- worked examples


@pytest.mark.parametrize("hint, expected", [
    (str, {"type": "string"}),
    (int, {"type": "integer"}),
    (float, {"type": "number"}),
    (bool, {"type": "boolean"}),
    (type(None), {"type": "null"}),
    (list[int], {"type": "array", "items": {"type": "integer"}}),
    (Literal["celsius", "fahrenheit"], {"type": "string", "enum": ["celsius", "fahrenheit"]}),
    (Literal[1, 2, 3], {"type": "integer", "enum": [1, 2, 3]}),
    (Optional[str], {"anyOf": [{"type": "string"}, {"type": "null"}]}),
    (list[bool] | None, {"anyOf": [{"type": "array", "items": {"type": "boolean"}},
                                   {"type": "null"}]}),
    (int | str, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
], ids=["str", "int", "float", "bool", "none", "list", "literal_str", "literal_int", "optional",
        "optional_list", "union"])
def test_json_schema_of_each_supported_hint(impl, hint, expected):
    assert_equal(call(impl.json_schema, hint), expected, what=f"json_schema({hint!r})")


def test_register_builds_the_openai_schema_worked_example(impl):
    registry = _registry(impl, get_weather)
    expected = [{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather forecast for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "The city name, for example Paris."},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"],
                             "description": "Temperature unit.", "default": "celsius"},
                    "days": {"type": "integer", "default": 1},
                },
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }]
    assert_equal(call(registry.schemas), expected, what="schemas() for get_weather")


def test_register_name_and_description_override_the_function(impl):
    registry = _registry(impl, add, name="sum-2", description="Sum two numbers.")
    (schema,) = call(registry.schemas)
    assert schema["function"]["name"] == "sum-2", f"name=... must name the tool: {schema}"
    assert schema["function"]["description"] == "Sum two numbers.", (
        f"description=... must replace the docstring summary: {schema}")
    message = call(registry.dispatch, _tool_call("sum-2", '{"a": 2, "b": 3}'))
    assert message["content"] == "5", f"the tool is dispatched by its registered name: {message}"


def test_register_works_as_bare_and_configured_decorator(impl):
    registry = call(impl.ToolRegistry)

    def lookup(term: str) -> str:
        """Look a term up."""
        return term.upper()

    decorated = call(registry.register, lookup)
    assert decorated is lookup, "register(func) must return func unchanged (so it can decorate)"
    decorator = call(registry.register, name="define", description="Define a word.")
    assert call(decorator, lookup) is lookup, "register(name=...)(func) must return func unchanged"
    names = [schema["function"]["name"] for schema in call(registry.schemas)]
    assert names == ["lookup", "define"], f"schemas() lists tools in registration order: {names}"


def test_schemas_are_valid_json_schema_and_json_serialisable(impl):
    def everything(text: str, count: int, ratio: float, flag: bool, tags: list[str],
                   unit: Literal["a", "b"], maybe: Optional[list[int]] = None,
                   either: int | str = 0) -> None:
        """Take everything."""

    registry = _registry(impl, everything, get_weather, add)
    for schema in call(registry.schemas):
        json.dumps(schema)  # the request body must be JSON
        parameters = schema["function"]["parameters"]
        jsonschema.Draft202012Validator.check_schema(parameters)
        assert parameters["type"] == "object", f"parameters must be an object schema: {parameters}"


def test_dispatch_answers_with_the_result(impl):
    registry = _registry(impl, add, get_weather)
    message = call(registry.dispatch, _tool_call("add", '{"a": 2, "b": 40}', "call_abc"))
    assert_equal(message, {"role": "tool", "tool_call_id": "call_abc", "content": "42"},
                 what="the answer to add(a=2, b=40)")
    message = call(registry.dispatch, _tool_call("get_weather", '{"city": "Oslo", "days": 3}'))
    assert_equal(message["content"], "3 day(s) of sun in Oslo (celsius)",
                 what="a str result (sent verbatim, defaults applied)")


def test_dispatch_json_encodes_non_string_results(impl):
    def stats(values: list[float]) -> dict:
        """Summary statistics."""
        return {"count": len(values), "total": sum(values), "empty": not values}

    registry = _registry(impl, stats)
    message = call(registry.dispatch, _tool_call("stats", '{"values": [1.5, 2.5]}'))
    _assert_tool_message(message, "call_1")
    assert json.loads(message["content"]) == {"count": 2, "total": 4.0, "empty": False}, (
        f"a non-str result is sent as json.dumps(result), got {message['content']!r}")


def test_optional_parameter_accepts_null_and_its_default(impl):
    runs = []
    registry = _registry(impl, _plan_tool(runs))
    base = {"text": "t", "count": 1, "ratio": 0.5, "flag": True, "tags": [], "unit": "celsius"}
    call(registry.dispatch, _tool_call("plan_trip", json.dumps({**base, "limit": None})))
    call(registry.dispatch, _tool_call("plan_trip", json.dumps({**base, "limit": 7})))
    call(registry.dispatch, _tool_call("plan_trip", json.dumps(base)))
    assert [run["limit"] for run in runs] == [None, 7, None], (
        f"Optional[int] must accept null and an integer, and be optional; limits seen: "
        f"{[run['limit'] for run in runs]}")


# ---------------------------------------------------------------- error answers


ERROR_CASES = {
    "invalid_json": "{'city': 'Paris'}",
    "empty_string": "",
    "not_an_object": "[\"Paris\"]",
    "missing_required": '{"unit": "celsius"}',
    "wrong_type": '{"city": 42}',
    "null_for_required_string": '{"city": null}',
    "bool_for_integer": '{"city": "Paris", "days": true}',
    "string_for_integer": '{"city": "Paris", "days": "3"}',
    "not_in_enum": '{"city": "Paris", "unit": "kelvin"}',
    "unexpected_property": '{"city": "Paris", "country": "FR"}',
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_bad_arguments_get_an_error_message_and_the_tool_never_runs(impl, case):
    runs = []

    def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius",
                    days: int = 1) -> str:
        """Get the weather."""
        runs.append((city, unit, days))
        return "sunny"

    registry = _registry(impl, get_weather)
    message = call(registry.dispatch, _tool_call("get_weather", ERROR_CASES[case], "call_7"))
    _assert_error(message, "call_7", f"arguments {ERROR_CASES[case]!r} ({case})")
    assert runs == [], (f"the tool ran with {runs} although its arguments {ERROR_CASES[case]!r} "
                        "are invalid: validate before calling it")


MALFORMED_ARGUMENTS = {
    "invalid_json": "{host: 'example.org'}",
    "truncated": '{"host": "example.org"',
    "empty_string": "",
    "json_null": "null",
    "json_array": "[]",
    "json_string": '"{}"',
    "json_number": "0",
    "not_a_string": None,
}


@pytest.mark.parametrize("case", list(MALFORMED_ARGUMENTS))
def test_malformed_arguments_never_run_a_tool_on_its_defaults(impl, case):
    # Every parameter has a default, so {} would be valid: falling back to {} (or treating
    # null, "" or [] as "no arguments") would run the tool on arguments the model never sent.
    runs = []

    def ping(host: str = "localhost", count: int = 1) -> str:
        """Ping a host."""
        runs.append((host, count))
        return "pong"

    registry = _registry(impl, ping)
    arguments = MALFORMED_ARGUMENTS[case]
    message = call(registry.dispatch, _tool_call("ping", arguments, "call_3"))
    _assert_error(message, "call_3", f"arguments {arguments!r} ({case})")
    assert runs == [], (f"ping ran with {runs} although its arguments {arguments!r} are not a "
                        "JSON object: answer with an error, never fall back to the defaults")


def test_unknown_tool_gets_an_error_naming_it(impl):
    registry = _registry(impl, get_weather)
    message = call(registry.dispatch, _tool_call("get_wether", '{"city": "Paris"}', "call_9"))
    _assert_error(message, "call_9", "an unknown tool")
    assert "get_wether" in _error_text(message), (
        f"the error should name the unknown tool 'get_wether': {_error_text(message)!r}")


def test_exception_inside_the_tool_becomes_an_error_message(impl):
    def find_city(name: str) -> str:
        """Find a city."""
        raise LookupError(f"no city called {name}")

    registry = _registry(impl, find_city)
    message = call(registry.dispatch, _tool_call("find_city", '{"name": "Atlantis"}', "call_3"))
    _assert_error(message, "call_3", "a tool that raised LookupError")
    text = _error_text(message)
    assert "LookupError" in text and "no city called Atlantis" in text, (
        f"the error should name the exception's type and message: {text!r}")


def test_result_json_cannot_encode_becomes_an_error_message(impl):
    def tags() -> set:
        """Tags as a set."""
        return {"a"}

    registry = _registry(impl, tags)
    message = call(registry.dispatch, _tool_call("tags", "{}"))
    _assert_error(message, "call_1", "a result json.dumps cannot encode (a set)")


def test_dispatch_all_answers_parallel_calls_in_order(impl):
    registry = _registry(impl, get_weather, add)
    assistant = {"role": "assistant", "content": None, "tool_calls": [
        _tool_call("get_weather", '{"city": "Rome"}', "call_w1"),
        _tool_call("add", '{"a": 1, "b": 1}', "call_a"),
        _tool_call("get_weather", '{"city": "Lima", "days": 2}', "call_w2"),
        _tool_call("nope", "{}", "call_x"),
    ]}
    messages = call(registry.dispatch_all, assistant)
    ids = [m.get("tool_call_id") for m in messages]
    assert ids == ["call_w1", "call_a", "call_w2", "call_x"], (
        f"one answer per call, in the calls' order: {messages}")
    assert [m["content"] for m in messages[:3]] == [
        "1 day(s) of sun in Rome (celsius)", "2", "2 day(s) of sun in Lima (celsius)"], messages
    _assert_error(messages[3], "call_x", "an unknown tool among parallel calls")


@pytest.mark.parametrize("assistant", [{"role": "assistant", "content": "Hi"},
                                       {"role": "assistant", "content": "Hi", "tool_calls": None},
                                       {"role": "assistant", "content": None, "tool_calls": []}],
                         ids=["no_key", "none", "empty"])
def test_dispatch_all_without_tool_calls_answers_nothing(impl, assistant):
    registry = _registry(impl, add)
    assert_equal(call(registry.dispatch_all, assistant), [], what="dispatch_all without tool calls")


# ---------------------------------------------------------------- properties


@given(arguments=valid_plan_arguments)
def test_arguments_satisfying_the_schema_reach_the_tool_exactly(impl, arguments):
    runs = []
    registry = _registry(impl, _plan_tool(runs))
    message = call(registry.dispatch, _tool_call("plan_trip", json.dumps(arguments)))
    _assert_tool_message(message, "call_1")
    assert runs, f"valid arguments {arguments!r} did not run the tool: {message['content']!r}"
    expected = {**PLAN_DEFAULTS, **arguments}
    assert _same_json(runs[0], expected), (
        f"the tool received {runs[0]!r}, expected exactly {expected!r} (same values and JSON "
        "types; omitted optional parameters take the function's defaults)")
    assert message["content"] == "planned", f"the tool's result: {message['content']!r}"


@given(arguments=argument_strings, call_id=st.text(max_size=12))
def test_arbitrary_argument_strings_never_raise_and_never_run_invalid(impl, arguments, call_id):
    runs = []
    registry = _registry(impl, _plan_tool(runs))
    message = call(registry.dispatch, _tool_call("plan_trip", arguments, call_id))
    _assert_tool_message(message, call_id)
    try:
        decoded = json.loads(arguments)
    except ValueError:
        decoded = None
    valid = isinstance(decoded, dict) and jsonschema.Draft202012Validator(PLAN_SCHEMA).is_valid(
        decoded)
    if not valid:
        assert runs == [], f"the tool ran on invalid arguments {arguments!r}: {runs}"
        _assert_error(message, call_id, f"invalid arguments {arguments!r}")


@given(call_ids=st.lists(st.text(max_size=8), min_size=1, max_size=5, unique=True),
       names=st.lists(st.sampled_from(["add", "get_weather", "missing"]), min_size=5,
                      max_size=5))
def test_results_keep_the_call_ids_in_order(impl, call_ids, names):
    registry = _registry(impl, add, get_weather)
    arguments = {"add": '{"a": 1, "b": 2}', "get_weather": '{"city": "Nice"}', "missing": "{}"}
    calls = [_tool_call(name, arguments[name], call_id) for call_id, name in zip(call_ids, names)]
    messages = call(registry.dispatch_all, {"role": "assistant", "tool_calls": calls})
    assert [m.get("tool_call_id") for m in messages] == call_ids, (
        f"answers must keep the calls' ids in the calls' order: sent {call_ids}, got "
        f"{[m.get('tool_call_id') for m in messages]}")


def _hints():
    base = st.sampled_from([
        (str, {"type": "string"}), (int, {"type": "integer"}), (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (Literal["x", "y"], {"type": "string", "enum": ["x", "y"]}),
        (Literal[True], {"type": "boolean", "enum": [True]}),
    ])

    def wrap(inner):
        as_list = inner.map(lambda p: (list[p[0]], {"type": "array", "items": p[1]}))
        optional = inner.filter(lambda p: "anyOf" not in p[1]).flatmap(
            lambda p: st.sampled_from([typing.Optional[p[0]], p[0] | None]).map(
                lambda hint: (hint, {"anyOf": [p[1], {"type": "null"}]})))
        return as_list | optional

    return st.recursive(base, wrap, max_leaves=4)


@given(pair=_hints())
def test_json_schema_of_nested_hints_follows_the_mapping(impl, pair):
    hint, expected = pair
    assert_equal(call(impl.json_schema, hint), expected, what=f"json_schema({hint!r})")


# ---------------------------------------------------------------- bad input


@example(name="a" * 64)  # the longest valid name (65 characters raise, below)
@example(name="x")  # the shortest
@given(name=st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True))
def test_every_name_matching_the_pattern_is_accepted(impl, name):
    registry = _registry(impl, add, name=name)
    assert [s["function"]["name"] for s in call(registry.schemas)] == [name]


@pytest.mark.parametrize("name", ["get weather", "a" * 65, "get_weather\n", "dotted.name",
                                  "wetter_für_morgen", "semi;colon"],
                         ids=["space", "too_long", "trailing_newline", "dot", "non_ascii",
                              "semicolon"])
def test_invalid_name_raises_value_error_naming_it(impl, name):
    registry = call(impl.ToolRegistry)
    with pytest.raises(ValueError) as raised:
        call(registry.register, add, name=name)
    assert name.strip() in str(raised.value), (
        f"the ValueError should name the rejected name {name!r}; it said: {str(raised.value)!r}")
    assert call(registry.schemas) == [], "a rejected tool must not be registered"


def test_lambda_without_a_name_raises_value_error(impl):
    registry = call(impl.ToolRegistry)
    with pytest.raises(ValueError):  # its __name__ is "<lambda>"
        call(registry.register, lambda: "hi")
    assert call(registry.schemas) == [], "a rejected tool must not be registered"


def test_duplicate_name_raises_and_keeps_the_first_tool(impl):
    registry = _registry(impl, add)

    def other(a: int, b: int) -> int:
        """Subtract."""
        return a - b

    with pytest.raises(ValueError) as raised:
        call(registry.register, other, name="add")
    assert "add" in str(raised.value), (
        f"the ValueError should name the taken name 'add'; it said: {str(raised.value)!r}")
    message = call(registry.dispatch, _tool_call("add", '{"a": 5, "b": 3}'))
    assert message["content"] == "8", (
        f"registering a second 'add' must raise and keep the first tool; add(5, 3) gave "
        f"{message['content']!r}")


def _no_hint(city, days: int = 1) -> str:
    return city


def _var_args(*cities: str) -> str:
    return ""


def _var_kwargs(**options: str) -> str:
    return ""


def _dict_hint(options: dict) -> str:
    return ""


def _bare_list(items: list) -> str:
    return ""


def _mixed_literal(mode: Literal["a", 1]) -> str:
    return ""


@pytest.mark.parametrize("function, parameter",
                         [(_no_hint, "city"), (_var_args, "cities"), (_var_kwargs, "options"),
                          (_dict_hint, "options"), (_bare_list, "items"),
                          (_mixed_literal, "mode")],
                         ids=["no_hint", "var_args", "var_kwargs", "dict", "bare_list",
                              "mixed_literal"])
def test_unsupported_parameters_raise_value_error_naming_them(impl, function, parameter):
    registry = call(impl.ToolRegistry)
    with pytest.raises(ValueError) as raised:
        call(registry.register, function, name="tool")
    assert parameter in str(raised.value), (
        f"the ValueError should name the parameter {parameter!r}; it said: {str(raised.value)!r}")
    assert call(registry.schemas) == [], "a rejected tool must not be registered"


@pytest.mark.parametrize("hint", [dict, list, typing.Any], ids=["dict", "bare_list", "any"])
def test_json_schema_of_an_unsupported_hint_raises_value_error(impl, hint):
    with pytest.raises(ValueError):
        call(impl.json_schema, hint)


def test_string_annotations_are_resolved(impl):
    # What every function in a module with `from __future__ import annotations` looks like.
    def convert(amount: "float", currency: "Literal['EUR', 'USD']" = "EUR") -> "str":
        """Convert an amount."""
        return f"{amount} {currency}"

    registry = _registry(impl, convert)
    (schema,) = call(registry.schemas)
    assert_equal(schema["function"]["parameters"]["properties"],
                 {"amount": {"type": "number"},
                  "currency": {"type": "string", "enum": ["EUR", "USD"], "default": "EUR"}},
                 what="properties of a function whose hints are strings (resolve them as "
                      "typing.get_type_hints does)")
