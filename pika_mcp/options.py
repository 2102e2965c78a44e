"""A tool's fields as command-line options: the parser behind `pika-mcp generate TOOL --help`, and the arguments
read back from it (paths typed by a person resolved from the working directory)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote, urlparse

from pika_mcp.catalog import ENDPOINTS, Endpoint
from pika_mcp.errors import FileRefused

REMOTE = ("https://", "http://", "data:")  # media references that are not a file on this machine
MEDIA_HELP = "A local file (a path; a relative one is read from the working directory) or an https URL."


def tool_parser(endpoint: Endpoint) -> argparse.ArgumentParser:
    """The tool's fields as options, typed from its input schema: ints, choices, lists, booleans."""
    from pika_mcp.arguments import input_schema, plain

    schema = input_schema(endpoint)
    p = argparse.ArgumentParser(
        prog=f"pika-mcp generate {endpoint.tool}",
        description=f"{endpoint.title}. {endpoint.description}",
        epilog="Lists take the option once per item, or one JSON array. Local files may be relative paths.",
    )
    p.add_argument("-v", "--verbose", action="store_true", dest="_verbose", help="also print log lines on stderr")
    required = set(schema.get("required", ()))
    for name, prop in ((name, plain(prop)) for name, prop in schema["properties"].items()):
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        help_text = _help(name, prop, name in required)
        kind = prop.get("type")
        if kind == "boolean":
            p.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
            continue
        options: dict[str, Any] = {"dest": name, "help": help_text, "required": name in required}
        if kind == "array":
            options |= {"action": "append", "type": _value(prop.get("items", {})), "metavar": "VALUE"}
        else:
            options["type"] = _value(prop)
            if "enum" in prop:
                options["choices"] = prop["enum"]
                options["metavar"] = "{" + ",".join(map(str, prop["enum"])) + "}"
        p.add_argument(*flags, **options)
    return p


def _help(name: str, prop: dict[str, Any], required: bool) -> str:
    """Every field's help: its description (a media field says what the command line takes), its form, and its default.
    argparse formats help with %, so a literal % is doubled."""
    from pika_mcp.models import MEDIA_FIELDS

    if name in MEDIA_FIELDS:
        size = _range(prop.get("minItems"), prop.get("maxItems"), "file") if prop.get("type") == "array" else ""
        parts = [MEDIA_HELP + (f" Give {size.replace('items', 'files')}." if size else "")]
    else:
        parts = [prop.get("description", "").strip(), _form(prop)]
    if required:
        parts.append("Required.")
    elif "default" in prop:
        parts.append(f"Default: {_shown_default(prop['default'])}.")
    return " ".join(p for p in parts if p).replace("%", "%%")


def _form(prop: dict[str, Any]) -> str:
    """What a value looks like, from the schema: text and its length, a number and its range, a list and its size."""
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items", {})
        size = _range(prop.get("minItems"), prop.get("maxItems"), "item")
        each = f", each {_form(items)[0].lower()}{_form(items)[1:-1]}" if items.get("type") == "object" else ""
        return f"A list{' of ' + size if size else ''}{each}."
    if "enum" in prop:
        return f"One of {', '.join(map(str, prop['enum']))}."
    if kind == "string":
        length = _range(prop.get("minLength"), prop.get("maxLength"), "character")
        return f"Text, {length}." if length else "Text."
    if kind in ("integer", "number"):
        word = "A whole number" if kind == "integer" else "A number"
        low, high = prop.get("minimum"), prop.get("maximum")
        if low is not None and high is not None:
            return f"{word} from {low} to {high}."
        return f"{word}{f' from {low}' if low is not None else ''}{f' up to {high}' if high is not None else ''}."
    if kind == "object":
        return "A JSON object" + (f" with {', '.join(prop['properties'])}" if prop.get("properties") else "") + "."
    if kind == "boolean":
        return ""
    return ""


def _range(low: int | None, high: int | None, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low} to {high} {unit}s" if low != high else f"exactly {low} {unit}s"
    if high is not None:
        return f"at most {high} {unit}s"
    if low is not None and low > 1:
        return f"at least {low} {unit}s"
    return ""


def _shown_default(value: Any) -> str:
    if value is True or value is False:
        return "on" if value else "off"
    if value == "":
        return 'empty ("")'
    return str(value)


def _value(prop: dict[str, Any]) -> Any:
    kind = prop.get("type")
    if kind == "integer":
        return int
    if kind == "number":
        return float
    if kind == "object":
        return _json_object
    return str


def _json_object(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not JSON: {text!r}") from None


def _local(value: Any, option: str, cwd: Path) -> Any:
    """A file typed on the command line, as an absolute path: relative ones are read from `cwd`. A missing one is
    refused here, once, as missing (the server would refuse it too, in words meant for a model)."""
    if not isinstance(value, str) or value.startswith(REMOTE):
        return value
    text = unquote(urlparse(value).path) if value.startswith("file://") else value
    path = Path(text).expanduser()
    path = path if path.is_absolute() else cwd / path
    if not path.exists():
        raise FileRefused(f"{option}: no such file: {path}", field=option)
    return str(path)


def arguments_of(namespace: argparse.Namespace, cwd: Path | None = None) -> dict[str, Any]:
    """The tool call's arguments from the parsed options; local files made absolute (see `_local`)."""
    from pika_mcp.models import MEDIA_FIELDS

    cwd = cwd or Path.cwd()
    args: dict[str, Any] = {}
    for name, value in vars(namespace).items():
        if value is None or name.startswith("_"):
            continue
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str) and value[0].lstrip().startswith("["):
            value = _json_object(value[0])  # one JSON array instead of repeated flags
        if name in MEDIA_FIELDS:
            value = [_local(v, f"--{name}", cwd) for v in value] if isinstance(value, list) else _local(value, f"--{name}", cwd)
        args[name] = value
    return args


def chosen_files(arguments: dict[str, Any]) -> frozenset[Path]:
    """The files among a call's media arguments, resolved: the person chose them, so the folder rules do not apply."""
    from pika_mcp.models import media_refs

    chosen = set()
    for ref in media_refs(arguments):
        if isinstance(ref, str) and not ref.startswith(REMOTE):
            try:
                chosen.add(Path(ref).resolve(strict=True))
            except (OSError, RuntimeError):
                continue  # gone since: the server says so
    return frozenset(chosen)


def list_tools(out: TextIO) -> None:
    print("usage: pika-mcp generate TOOL [--FIELD VALUE ...]   (pika-mcp generate TOOL --help for its fields)\n", file=out)
    for e in ENDPOINTS:
        print(f"  {e.tool:<30} {e.title}: {e.price.describe()}", file=out)
