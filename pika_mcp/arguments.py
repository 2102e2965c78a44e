"""Tool arguments: the flat schema a model reads, and the validation that runs before any network call."""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from pika_mcp.catalog import Endpoint
from pika_mcp.errors import InputError
from pika_mcp.models import PikaInput
from pika_mcp.settings import MAX_WAIT_SECONDS

QUOTE_CHARS = 80  # the most of a caller's value or field name that a message quotes
MAX_PROBLEMS = 10  # the most problems a refusal lists

CALL_OPTIONS: dict[str, dict[str, Any]] = {
    "wait_seconds": {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_WAIT_SECONDS,
        "description": "Most seconds to wait (default 45).",
    },
    "force_new": {
        "type": "boolean",
        "default": False,
        "description": "Pay again for a call repeated within 10 min.",
    },
}
NULL = {"type": "null"}


@dataclass(frozen=True)
class Call:
    """A validated generation call: the input model plus the call options."""

    request: PikaInput
    wait_seconds: int | None
    force_new: bool

    def body(self) -> dict[str, Any]:
        """What fal receives: every field with a value or a declared default, never a null."""
        return self.request.model_dump(mode="json", exclude_none=True)


def input_schema(endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint's fields at the top level plus wait_seconds and force_new; no $ref, no titles.

    An optional field that has no default, or whose default is free text, also takes null, meaning "left
    out": OpenAI's strict mode makes every property required, and a strict model must not have to invent
    a seed or a negative prompt. A field with a default from a list or a range keeps its plain type: a
    strict model can send that default.
    """
    schema = lean(endpoint.input_model.model_json_schema())
    schema.pop("description", None)  # a model's docstring is for us; the tool's description is the model's
    properties = schema["properties"] | copy.deepcopy(CALL_OPTIONS)
    optional = set(properties) - set(schema.get("required", ()))
    schema["properties"] = {
        name: nullable(prop) if name in optional and ("default" not in prop or _free_text(prop)) else prop
        for name, prop in properties.items()
    }
    schema["additionalProperties"] = False
    return schema


@functools.cache
def _takes_null(endpoint: Endpoint) -> frozenset[str]:
    """The fields whose schema takes null: a null there means left out (never sent to fal as null)."""
    return frozenset(name for name, prop in input_schema(endpoint)["properties"].items() if NULL in prop.get("anyOf", ()))


def _free_text(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "string" and "enum" not in prop


def nullable(prop: dict[str, Any]) -> dict[str, Any]:
    """The property, also taking null: `anyOf` with one type per branch (a list of types is less portable)."""
    if NULL in prop.get("anyOf", ()):
        return prop
    outer = {k: v for k, v in prop.items() if k in ("description", "default")}
    return {"anyOf": [{k: v for k, v in prop.items() if k not in outer}, NULL]} | outer


def plain(prop: dict[str, Any]) -> dict[str, Any]:
    """A property without its null branch: the one type that a command-line option takes."""
    branches: list[dict[str, Any]] = [b for b in prop.get("anyOf", ()) if b != NULL]
    if len(branches) != 1:
        return prop
    return branches[0] | {k: v for k, v in prop.items() if k != "anyOf"}


def lean(schema: dict[str, Any], *, output: bool = False) -> dict[str, Any]:
    """Inline $refs and drop titles. Every `anyOf` keeps one `type` per branch, the portable spelling (a
    list of types is legal JSON Schema, but some clients' schema dialects reject it).

    Inputs: an optional field without a default reads `{"anyOf": [type, null], "description": …}`, with
    no `"default": null` (left out and null mean the same). Outputs (`output=True`) list the `null` branch
    first: clients check every result, and a null value then passes on the first branch.
    """
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            node = {**defs[node["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}
        out = {k: walk(v) for k, v in node.items() if k != "title"}
        branches = out.get("anyOf")
        if output and isinstance(branches, list):
            out["anyOf"] = sorted(branches, key=lambda branch: branch != {"type": "null"})  # stable: the rest keep their order
        elif isinstance(branches, list) and NULL in branches and out.get("default", 0) is None:
            del out["default"]
            out = nullable(plain(out))  # Pydantic puts the description in the branch; it moves outside
        return out

    lean_schema: dict[str, Any] = walk(schema)
    return lean_schema


def parse(endpoint: Endpoint, arguments: dict[str, Any]) -> Call:
    """Validate a call's arguments; raise InputError naming every wrong field and what is allowed."""
    nullable_fields = _takes_null(endpoint)
    args = {name: value for name, value in arguments.items() if value is not None or name not in nullable_fields}
    options = {name: args.pop(name) for name in list(args) if name in CALL_OPTIONS}
    wait = options.get("wait_seconds")
    if wait is not None and (type(wait) is not int or not 0 <= wait <= MAX_WAIT_SECONDS):
        raise InputError(
            _lead(endpoint) + f"wait_seconds: must be a whole number from 0 to {MAX_WAIT_SECONDS} (got {quote(wait)}).",
            field="wait_seconds",
        )
    force_new = options.get("force_new", False)
    if force_new is None:
        force_new = False
    if type(force_new) is not bool:
        raise InputError(_lead(endpoint) + f"force_new: must be true or false (got {quote(force_new)}).", field="force_new")
    try:
        request = endpoint.input_model.model_validate(args)
    except ValidationError as exc:
        raise InputError(explain(endpoint, exc), field=_first_field(exc)) from None
    return Call(request=request, wait_seconds=wait, force_new=force_new)


def explain(endpoint: Endpoint, exc: ValidationError) -> str:
    """One sentence per problem, naming the field and what is allowed."""
    allowed = sorted(endpoint.input_model.model_fields) + sorted(CALL_OPTIONS)
    lines = []
    errors = exc.errors(include_url=False)
    for error in errors[:MAX_PROBLEMS]:
        field = clip(".".join(str(part) for part in error["loc"]) or "arguments")
        if error["type"] == "extra_forbidden":
            lines.append(f"{field}: unknown argument. {endpoint.tool} accepts: {', '.join(allowed)}.")
        elif error["type"] == "missing":
            lines.append(f"{field}: required.")
        elif not error["loc"]:
            lines.append(f"{_message(error)}.")
        else:
            lines.append(f"{field}: {_problem(error)}.")
    if len(errors) > MAX_PROBLEMS:
        lines.append(f"({len(errors) - MAX_PROBLEMS} more problems not shown.)")
    return _lead(endpoint) + " ".join(lines)


def quote(value: Any) -> str:
    """A caller's value as a message shows it: its repr, cut short; never raises (an int past 4300 digits has no repr)."""
    try:
        return clip(repr(value))
    except ValueError:
        return f"<{type(value).__name__} too large to show>"


def clip(text: str) -> str:
    """At most QUOTE_CHARS of a caller's text: a message never grows with the size of hostile input."""
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 3] + "..."


def _lead(endpoint: Endpoint) -> str:
    return f"Invalid arguments for {endpoint.tool}; nothing was sent to fal. "


def _message(error: Any) -> str:
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ").replace("Input should be", "must be")


WANTS = {"int_type": "a whole number", "int_parsing": "a whole number", "float_type": "a number",
         "float_parsing": "a number", "bool_type": "true or false", "string_type": "text (a string)"}  # fmt: skip


def _problem(error: Any) -> str:
    """Pydantic's error as a sentence about the field: what is wanted, the limit, and what came, without its jargon."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if isinstance(value, str) and _numeric(value) and kind in ("literal_error", "int_type", "float_type"):
        wanted = f"the number {ctx['expected']}" if kind == "literal_error" else WANTS[kind]
        return f"must be {wanted}, not the string {_json(value)}"
    if kind == "too_short":
        return f"must have at least {_count(ctx['min_length'], 'item')}, got {ctx.get('actual_length', '?')}"
    if kind == "too_long":
        return f"must have at most {_count(ctx['max_length'], 'item')}, got {ctx.get('actual_length', '?')}"
    if kind == "string_too_long":
        return f"must be at most {_count(ctx['max_length'], 'character')}, got {len(value) if isinstance(value, str) else '?'}"
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else f"must be at least {_count(ctx['min_length'], 'character')}"
    if kind in WANTS:
        return f"must be {WANTS[kind]} (got {quote(value)})"
    if kind == "list_type":
        return f"must be a list, e.g. [{_json(value)}]" if isinstance(value, str) else f"must be a list (got {quote(value)})"
    message = _message(error)
    return message if kind == "value_error" and " got " in message else f"{message} (got {quote(value)})"


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _json(text: str) -> str:
    return json.dumps(clip(text))


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _first_field(exc: ValidationError) -> str | None:
    errors = exc.errors(include_url=False)
    return str(errors[0]["loc"][0]) if errors and errors[0]["loc"] else None
