"""Hostile input, fuzzed with hypothesis over every listed tool: refused by name, nothing sent, the server keeps serving.

Every example calls every tool the server lists once, with arguments built from wrong types, odd and huge
unicode, NUL bytes, NaN and infinities (the client sends those as null), integers past 64 bits, 200-level
nesting, unknown fields and hostile job ids. Each generation call also carries one argument that makes it
invalid for sure (an unknown field or a wrong type), so fal must receive no submit at all. Each result must be
a CallToolResult; an error must be short, name what was wrong, and hold no Python traceback. After each
example a valid listing and a valid generation still work on the same session.

Arguments are drawn by @given, never inside the async test: a draw that gives up raises hypothesis's StopTest,
a BaseException that would take down anyio's test runner. So the strategies are built from the schemas we
expect, and a test checks that the server lists exactly those.

The suite runs a fixed, derandomized profile; PIKA_MCP_FUZZ_EXAMPLES raises the number of examples for soaks.
Values too big for the loop (~10 MB data: URIs, integers past Python's 4300-digit limit) have their own tests.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st
from mcp import Client
from mcp_types import CallToolResult

from pika_mcp.arguments import input_schema, plain
from pika_mcp.catalog import ENDPOINTS
from pika_mcp.job import Job
from pika_mcp.ledger import Ledger
from pika_mcp.models import MEDIA_FIELDS
from pika_mcp.server import build_server
from pika_mcp.settings import Settings
from tests.conftest import Fal

pytestmark = pytest.mark.anyio

EXAMPLES = int(os.environ.get("PIKA_MCP_FUZZ_EXAMPLES", "60"))
FUZZ = fuzz_settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_ERROR_CHARS = 5000  # room for one quoted local path of up to 4096 characters (PATH_MAX)
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"\n]*\", line \d+")
PROBLEM_WORDS = ("job", "path", "file", "folder", "exist")  # what refusals of job ids and local files talk about
TEN_MB = 10 * 1024 * 1024

GENERATION_SCHEMAS = {e.tool: input_schema(e) for e in ENDPOINTS}
JOB_TOOL_FIELDS: dict[str, dict[str, str]] = {  # the job tools: argument name -> JSON type
    "pika_get_job": {"job_id": "string"},
    "pika_wait_for_job": {"job_id": "string", "timeout_seconds": "integer"},
    "pika_cancel_job": {"job_id": "string"},
    "pika_list_jobs": {"status": "string", "limit": "integer"},
    "pika_upload_file": {"path": "string"},
}
FIELDS: dict[str, dict[str, str]] = {
    **{
        tool: {name: plain(spec)["type"] for name, spec in schema["properties"].items()}
        for tool, schema in GENERATION_SCHEMAS.items()
    },
    **JOB_TOOL_FIELDS,
}

# A finished job in the ledger before the server starts, so near misses of real ids are known up front.
REAL_LOCAL_ID = "local-6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
REAL_REQUEST_ID = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
NEAR_MISSES = [
    m
    for real in (REAL_LOCAL_ID, REAL_REQUEST_ID)
    for m in (real + "\x00", f" {real}", real.upper(), real[:-1], real + "%", f"local-{real}", real.replace("-", "_"), real + "/")
]

# -- strategies ----------------------------------------------------------------------------------------

WEIRD_CHARS = "\x00\u200f\u202e\u2066\u200b\u0301\u0336\ufeff\ufffd\U0001f3ac\U0001f4a9\u4e2d\ufdfd\n\t\\\"'%${}"
HOSTILE_STRINGS = [
    "", " ", "../../etc/passwd", "..\\..\\windows\\win.ini", "' OR 1=1 --", '"; DROP TABLE jobs; --', "%00", "\x00",
    "%", "_", "*", "?", "null", "None", "NaN", "undefined", "${FAL_KEY}", "$(id)", "{{job_id}}", "local-", "local-\x00",
    "local-../../x", "local-%", "local-" + "0" * 36, "LOCAL-00000000-0000-4000-8000-000000000000", " local-x ",
    "local-" + "9" * 3000, "x" * 10_000, "\u202egpj.exe", "\U0001f3ac" * 300, "/etc/passwd", "/dev/zero", "/proc/self/environ",
    "file:///etc/passwd", "file://%00", "file:///a%00b", "/a\x00b.png", "C:\\Windows\\win.ini", "\\\\server\\share\\x.png",
    "https://169.254.169.254/latest/meta-data/", "http://127.0.0.1:1/", "javascript:alert(1)", "pika://jobs/x",
    "data:", "data:,", "data:image/png;base64,!!!!", "data:text/plain,hello", *NEAR_MISSES,
]  # fmt: skip
BIG_INTS = [2**63 - 1, 2**63, -(2**63) - 1, 2**64, 2**70, -(2**70), 10**30, 10**4000, -(10**4000)]
UNPRINTABLE = 10**5000  # past Python's 4300-digit str() limit: hypothesis cannot print it either
NAMES_OF_INTEREST = ["request", "api_key", "FAL_KEY", "__proto__", "constructor", "$ref", "images", "input", "arguments", "owner"]


def repeat(seed: str, length: int) -> str:
    return (seed * (length // len(seed) + 1))[:length]


def nest(depth: int, as_list: bool, leaf: object) -> object:
    for _ in range(depth):
        leaf = [leaf] if as_list else {"k": leaf}
    return leaf


chars = st.characters(exclude_categories=("Cs",)) | st.sampled_from(WEIRD_CHARS)  # no lone surrogates: JSON cannot carry them
odd_text = st.text(chars, max_size=30)
huge_text = st.builds(repeat, st.text(chars, min_size=1, max_size=8), st.integers(2501, 20_000))
strings = odd_text | huge_text | st.sampled_from(HOSTILE_STRINGS)
ints = st.integers() | st.sampled_from(BIG_INTS)
not_integral = st.integers(-(2**52), 2**52).map(lambda i: i + 0.5) | st.sampled_from([0.1, -2.5e-8, 5e-324, 1e-300])
scalars = st.none() | st.booleans() | ints | st.floats() | strings  # st.floats() includes NaN and infinities
containers = st.recursive(
    st.lists(scalars, max_size=4) | st.dictionaries(strings, scalars, max_size=4),
    lambda inner: st.lists(inner | scalars, max_size=4) | st.dictionaries(strings, inner | scalars, max_size=4),
    max_leaves=10,
)
deep = st.builds(nest, st.integers(50, 200), st.booleans(), scalars)  # the client cannot send much past 250 levels
values = scalars | containers | deep
keys = strings | st.sampled_from(NAMES_OF_INTEREST)
WRONG_TYPE: dict[str, st.SearchStrategy[object]] = {  # another JSON type (not null, not a non-finite float: those may be allowed)
    "string": st.booleans() | ints | not_integral | containers | deep,
    "integer": st.booleans() | strings | not_integral | containers | deep,
    "boolean": ints | strings | not_integral | containers | deep,
    "array": st.booleans() | ints | strings | st.dictionaries(strings, values, max_size=3),
}


WELL_TYPED: dict[str, st.SearchStrategy[object]] = {  # the right JSON type, hostile content: reaches past the type checks
    "string": st.sampled_from(HOSTILE_STRINGS) | strings,
    "integer": ints,
    "boolean": st.booleans(),
    "array": st.lists(st.sampled_from(HOSTILE_STRINGS) | strings, max_size=6),
}


def hostile_arguments(tool: str) -> st.SearchStrategy[dict[str, Any]]:
    """Any mix of known and unknown names with hostile values; a generation call is always made invalid for sure."""
    fields = FIELDS[tool]
    well_typed = st.fixed_dictionaries({}, optional={name: WELL_TYPED[kind] for name, kind in fields.items()})
    arguments = well_typed | st.dictionaries(st.sampled_from(sorted(fields)) | keys, values, max_size=6)
    if tool in JOB_TOOL_FIELDS:
        return arguments
    unknown = st.tuples(keys.filter(lambda k: k not in fields and k != "images"), values)  # `images` may be translated
    mistyped = st.sampled_from(sorted(fields)).flatmap(lambda name: st.tuples(st.just(name), WRONG_TYPE[fields[name]]))
    return st.builds(lambda args, bad: args | {bad[0]: bad[1]}, arguments, unknown | mistyped)


every_tool = st.fixed_dictionaries({tool: hostile_arguments(tool) for tool in FIELDS})

# Valid calls but for their media references, none of them a URL: each must be refused before anything leaves.
MEDIA_CALLS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "pika_v22_image_to_video": lambda a, b: {"prompt": "p", "image_url": a},
    "pika_v21_image_to_video": lambda a, b: {"prompt": "p", "image_url": a},
    "pika_v2_turbo_image_to_video": lambda a, b: {"prompt": "p", "image_url": a},
    "pika_v22_pikascenes": lambda a, b: {"prompt": "p", "image_urls": [a, b]},
    "pika_v22_pikaframes": lambda a, b: {"image_urls": [a, b]},
    "pika_v2_pikaswaps": lambda a, b: {"video_url": a, "image_url": b},
    "pika_v2_pikadditions": lambda a, b: {"video_url": a, "image_url": b},
    "pika_v15_pikaffects": lambda a, b: {"image_url": a, "pikaffect": "Melt"},
}
local_refs = (st.sampled_from(HOSTILE_STRINGS) | strings).filter(lambda ref: not ref.startswith(("https://", "http://")))
media_calls = st.fixed_dictionaries({tool: st.builds(make, local_refs, local_refs) for tool, make in MEDIA_CALLS.items()})

# -- the server and the properties ----------------------------------------------------------------------


class Served:
    """One server and one client session for a whole test (a plain class: hypothesis prints a dataclass field by field)."""

    def __init__(self, client: Client, fal: Fal) -> None:
        self.client, self.fal, self.made = client, fal, 0

    def submits(self) -> int:
        return len(self.fal.sent("submit"))

    def outgoing(self) -> int:
        """Requests that only a new job or an upload makes (tracking earlier jobs makes others)."""
        return sum(len(self.fal.sent(op)) for op in ("submit", "token", "upload"))

    def __repr__(self) -> str:  # hypothesis prints it with every failing example
        return f"Served({self.made} jobs made)"


@pytest.fixture
async def served(settings: Settings, fal: Fal) -> AsyncIterator[Served]:
    ledger = Ledger(settings.home / "jobs.sqlite3")
    now = time.time()
    error = {"type": "provider_error", "message": "made up for the fuzz test", "detail": None}
    ledger.add(Job(local_id=REAL_LOCAL_ID, owner="local", tool="pika_v22_text_to_video", endpoint_id="fal-ai/pika/v2.2/text-to-video",
                   backend="fal", status="failed", estimated_cost_usd=0.2, arguments={"prompt": "x"}, args_key="fuzz",
                   created_at=now, updated_at=now, request_id=REAL_REQUEST_ID, error=error))  # fmt: skip
    ledger.close()
    async with Client(build_server(settings).mcp) as client:
        yield Served(client, fal)


def names(arguments: dict[str, Any]) -> list[str]:
    """The argument names, cut short: enough to say which call failed, safe to print (values may not be)."""
    return [str(k)[:40] for k in arguments]


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def assert_clean(result: object, tool: str, arguments: dict[str, Any]) -> None:
    """A result, never a crash; an error is short, has no traceback and names the field or what was wrong."""
    assert isinstance(result, CallToolResult), result
    if not result.is_error:
        assert result.structured_content is not None, result
        return
    text = text_of(result)
    assert text and len(text) <= MAX_ERROR_CHARS, (tool, len(text), text[:500])
    assert not TRACEBACK.search(text), text
    assert "Error executing tool" not in text, (tool, names(arguments))  # the SDK's answer to an exception we let out
    named = [*FIELDS[tool], *names(arguments), *PROBLEM_WORDS]
    assert any(name in text for name in named), (tool, text[:500])


async def assert_still_serves(served: Served) -> None:
    """A valid listing and a valid generation work on the same session; the generation is the one submit."""
    before = served.submits()
    listing = await served.client.call_tool("pika_list_jobs", {"limit": 200})
    assert not listing.is_error and listing.structured_content is not None, listing
    made = await served.client.call_tool("pika_v22_text_to_video", {"prompt": "still here", "wait_seconds": 0, "force_new": True})
    assert not made.is_error and made.structured_content is not None, made
    served.made += 1
    assert served.submits() == before + 1


# -- tests ----------------------------------------------------------------------------------------------


async def test_the_fuzzer_covers_exactly_the_tools_the_server_lists(served: Served) -> None:
    listing = await served.client.list_tools()
    assert listing.next_cursor is None
    listed = {tool.name: tool.input_schema for tool in listing.tools}
    assert set(listed) == set(FIELDS)
    for tool, schema in listed.items():
        assert {name: plain(spec)["type"] for name, spec in schema["properties"].items()} == FIELDS[tool], tool
        assert schema.get("additionalProperties") is False, tool
    assert all(listed[tool] == schema for tool, schema in GENERATION_SCHEMAS.items())
    assert set(MEDIA_CALLS) == {tool for tool, fields in FIELDS.items() if set(fields) & set(MEDIA_FIELDS)}


async def test_real_ids_find_the_job_and_near_misses_do_not(served: Served) -> None:
    for job_id in (REAL_LOCAL_ID, REAL_REQUEST_ID):
        found = await served.client.call_tool("pika_get_job", {"job_id": job_id})
        assert not found.is_error and found.structured_content["job_id"] == REAL_REQUEST_ID
    for tool in ("pika_get_job", "pika_wait_for_job", "pika_cancel_job"):
        for job_id in NEAR_MISSES:
            result = await served.client.call_tool(tool, {"job_id": job_id})
            assert result.is_error and "No job with id" in text_of(result), (tool, job_id)
    assert served.fal.sandbox.received == []


@FUZZ
@given(calls=every_tool)
@pytest.mark.filterwarnings("ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning")  # huge failing examples
async def test_hostile_arguments_to_every_tool_are_refused_and_never_submitted(served: Served, calls: dict[str, dict]) -> None:
    before = served.submits()
    for tool, arguments in calls.items():
        result = await served.client.call_tool(tool, arguments)
        assert_clean(result, tool, arguments)
        if tool not in JOB_TOOL_FIELDS:  # refused by validation, before anything else
            refused = result.is_error and text_of(result).startswith(f"Invalid arguments for {tool}; nothing was sent")
            assert refused, names(arguments)
    assert served.submits() == before
    await assert_still_serves(served)


@FUZZ
@given(calls=media_calls)
@pytest.mark.filterwarnings("ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning")  # huge failing examples
async def test_hostile_media_references_are_refused_before_anything_is_sent(served: Served, calls: dict[str, dict]) -> None:
    before = served.outgoing()
    for tool, arguments in calls.items():
        result = await served.client.call_tool(tool, arguments | {"wait_seconds": 0})
        assert result.is_error, (tool, [str(ref)[:80] for ref in arguments.values()])
        assert_clean(result, tool, arguments)
    assert served.outgoing() == before
    await assert_still_serves(served)


def data_uri(payload: str, media_type: str = "image/png;base64") -> str:
    return f"data:{media_type},{payload}"


Calls = Iterator[tuple[str, dict[str, Any]]]


def ten_megabyte_calls() -> Calls:
    """One at a time, so that only one ~10 MB value is alive at once."""
    yield "pika_v22_image_to_video", {"prompt": "p", "image_url": data_uri("A" * TEN_MB)}  # zeros: no image by content
    yield "pika_v22_image_to_video", {"prompt": "p", "image_url": data_uri("!" * TEN_MB)}  # not base64
    yield "pika_v2_turbo_image_to_video", {"prompt": "p", "image_url": data_uri("%00" * (TEN_MB // 3), "image/png")}
    yield "pika_v22_pikaframes", {"image_urls": [data_uri("A" * TEN_MB), "https://a/2.png"], "unknown": True}
    yield "pika_v22_text_to_video", {"prompt": data_uri("A" * TEN_MB), "wait_seconds": 0}
    yield "pika_v15_pikaffects", {"image_url": "https://a/1.png", "pikaffect": "Melt", "negative_prompt": ["x" * TEN_MB]}
    yield "pika_v2_pikaswaps", {"video_url": "/" + "v" * TEN_MB}
    yield "pika_get_job", {"job_id": "local-" + "A" * TEN_MB}
    yield "pika_cancel_job", {"job_id": data_uri("A" * TEN_MB)}
    yield "pika_upload_file", {"path": "/" + "A" * TEN_MB}
    yield "pika_upload_file", {"path": data_uri("A" * TEN_MB)}
    yield "pika_list_jobs", {"status": data_uri("A" * TEN_MB)}
    yield "pika_list_jobs", {data_uri("k" * TEN_MB): 1}


def unprintable_calls() -> Calls:
    """An integer past Python's 4300-digit limit has no str() and no repr(): messages must still be written."""
    yield "pika_v22_text_to_video", {"prompt": "p", "seed": UNPRINTABLE}
    yield "pika_v22_text_to_video", {"prompt": [-UNPRINTABLE], "duration": UNPRINTABLE}
    yield "pika_v22_text_to_video", {"prompt": "p", "wait_seconds": UNPRINTABLE}
    yield "pika_v22_text_to_video", {"prompt": "p", "force_new": UNPRINTABLE}
    yield "pika_v22_pikaframes", {"image_urls": ["https://a/1", "https://a/2"], "transitions": [{"duration": UNPRINTABLE}]}
    yield "pika_get_job", {"job_id": UNPRINTABLE}
    yield "pika_get_job", {"job_id": {"nested": [UNPRINTABLE]}}
    yield "pika_wait_for_job", {"job_id": "local-x", "timeout_seconds": UNPRINTABLE}
    yield "pika_wait_for_job", {"job_id": "local-x", "timeout_seconds": -UNPRINTABLE}
    yield "pika_list_jobs", {"limit": UNPRINTABLE}
    yield "pika_list_jobs", {"status": UNPRINTABLE}
    yield "pika_upload_file", {"path": UNPRINTABLE}


@pytest.mark.parametrize("calls", [ten_megabyte_calls, unprintable_calls], ids=["ten-megabytes", "unprintable-integers"])
async def test_huge_values_are_refused_without_a_request(served: Served, calls: Callable[[], Calls]) -> None:
    for tool, arguments in calls():
        result = await served.client.call_tool(tool, arguments)
        assert result.is_error, (tool, names(arguments), text_of(result)[:300])
        assert_clean(result, tool, arguments)
    assert served.fal.sandbox.received == []  # no submit, and no storage token or upload either
    await assert_still_serves(served)
