"""Chaos: a real stdio server SIGKILLed at random moments of a mixed workload, restarted on the same home each round.

Every round starts `python -m pika_mcp` on one PIKA_MCP_HOME, runs a random mix of generation calls (some with a
local PNG, some repeating an earlier call, some carrying the sandbox's failure markers), waits, cancels, lists and
uploads, injects random faults at the sandbox, and SIGKILLs the server after a random delay. After the last round
one more server recovers everything and every job is waited on. The audit then holds the ledger to the documented rules:
an intact SQLite file after every kill, no job lost (every job the sandbox created is in the ledger by its request
id, or is the job of a lost submit answer, which the ledger shows as `submit_outcome_unknown`), no call paid twice,
every job final, and failures only for reasons the workload caused.

The audit and the workload are shared with `scripts/soak`. PIKA_MCP_CHAOS_ROUNDS sets the number of kills (5),
PIKA_MCP_CHAOS_SEED replays a run's workload, faults and kill delays (its seed is in every assertion message; where
a kill lands still depends on process timing), PIKA_MCP_CHAOS_REPORT names a JSON file for the figures.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from pika_mcp.lockfile import FileLock
from pika_mcp.retry import ATTEMPTS
from pika_mcp.sandbox import Fault, Sandbox, SandboxConfig
from pika_mcp.sandbox.config import FAULT_KINDS, OPS
from pika_mcp.server import build_server
from tests.conftest import TEST_KEY, Fal, make_settings
from tests.test_crash import params

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")]

ROUNDS = int(os.environ.get("PIKA_MCP_CHAOS_ROUNDS", "5"))
FAULT_MARK = "chaos-injected"  # in the detail of every injected fault, so a failure it caused is recognised
FAIL_MARKERS = ("[sandbox:fail]", "[sandbox:content-policy]")  # the sandbox fails a job whose prompt has one
TEXT_TOOLS = ("pika_v22_text_to_video", "pika_v21_text_to_video", "pika_v2_turbo_text_to_video")
IMAGE_TOOLS = ("pika_v22_image_to_video", "pika_v2_turbo_image_to_video")
RETRIED_STATUSES = (429, 500, 502, 503, 504)
TIMEOUT_TYPE = {"X-Fal-Request-Timeout-Type": "user"}  # a 504 with it is never retried
FINAL = frozenset({"succeeded", "failed", "cancelled"})
FAULT_RE = re.compile(FAULT_MARK + r" op=(\w+) kind=(\w+) status=(\d+) retried=(yes|no)")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# -- the workload -------------------------------------------------------------------------------------


@dataclass
class Call:
    """One generation call and what it answered (`pending` while it runs, and for good if the server died)."""

    tool: str
    args: dict[str, Any]
    outcome: str = "pending"  # pending, job, refused
    job_id: str | None = None
    deduplicated: bool = False
    status: str | None = None  # as answered, when the call did not wait (a wait may see the job end)
    text: str = ""

    @property
    def prompt(self) -> str:
        return str(self.args["prompt"])


@dataclass
class Injected:
    """A fault put into the sandbox and how many uses it had then."""

    fault: Fault
    times: int

    @property
    def used(self) -> int:
        return self.times - (self.fault.times or 0)

    def answers(self, op: str, status: int, *, never_retried: bool = False) -> int:
        """Uses of this fault that answered `op` with HTTP `status` (and the timeout header, if `never_retried`)."""
        fault = self.fault
        same = (fault.op, fault.kind, fault.status, bool(fault.headers)) == (op, "http", status, never_retried)
        return self.used if same else 0


def tiny_png(rng: random.Random) -> bytes:
    """An 8x8 PNG of random pixels: distinct content, so each one is really uploaded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + rng.randbytes(8 * 3) for _ in range(8))
    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def inject_fault(rng: random.Random, config: SandboxConfig, injected: list[Injected]) -> None:
    """A fault of any kind on an operation that has none pending, used once or twice: fewer than the five tries
    of the retry table, so only what the table never retries may surface. Its detail says what it was."""
    kind, status = rng.choice(FAULT_KINDS), rng.choice(RETRIED_STATUSES)
    op = rng.choice([op for op in OPS if not any(f.op == op for f in config.faults)] or [None])
    if op is None:
        return
    headers = dict(TIMEOUT_TYPE) if status == 504 and rng.random() < 0.3 else {}
    detail = f"{FAULT_MARK} op={op} kind={kind} status={status} retried={'no' if headers else 'yes'}"
    fault = Fault(op=op, kind=kind, status=status, headers=headers, times=rng.randint(1, 2),  # type: ignore[arg-type]
                  delay_seconds=rng.uniform(0.1, 1.0), detail=detail)  # fmt: skip
    config.faults.append(fault)
    injected.append(Injected(fault, fault.times or 0))


def explained(text: str, tries: int) -> bool:
    """Whether the retry table lets this error through: a 504 with the timeout header (never retried), a submit
    answered anything but 429 (a submit is retried on 429 only), or anything once all five tries failed."""
    if tries >= ATTEMPTS:
        return True
    found = FAULT_RE.search(text)
    if found is None:
        return False
    op, _kind, status, retried = found.groups()
    return retried == "no" or op == "submit" and status != "429"


@dataclass
class Workload:
    """Random calls against one MCP client; every generation call is recorded for the audit."""

    rng: random.Random
    allowed: Path
    tag: str
    calls: list[Call] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    uploads: Counter[str] = field(default_factory=Counter)
    refusals: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)  # job tools and uploads: isError
    made: int = 0  # calls and files made so far, for unique prompts and names

    def png(self) -> Path:
        self.made += 1
        path = self.allowed / f"{self.tag}-{self.made}.png"
        path.write_bytes(tiny_png(self.rng))
        return path

    def new_call(self, *, image: bool | None = None, failing: bool | None = None) -> Call:
        rng, self.made = self.rng, self.made + 1
        if failing is None:
            failing = rng.random() < 0.1
        prompt = f"{self.tag} call {self.made}" + (f" {rng.choice(FAIL_MARKERS)}" if failing else "")
        if image if image is not None else rng.random() < 0.2:
            return Call(rng.choice(IMAGE_TOOLS), {"prompt": prompt, "image_url": str(self.png())})
        return Call(rng.choice(TEXT_TOOLS), {"prompt": prompt})

    async def generate(self, client: Client, call: Call, wait_seconds: int) -> None:
        self.calls.append(call)
        result = await client.call_tool(call.tool, {**call.args, "wait_seconds": wait_seconds})
        if result.is_error:
            call.outcome, call.text = "refused", _text(result)
            return
        view = result.structured_content or {}
        call.outcome, call.job_id, call.deduplicated = "job", view.get("job_id"), bool(view.get("deduplicated"))
        call.status = view.get("status") if wait_seconds == 0 else None
        self.job_ids.append(str(call.job_id))

    async def job_tool(self, client: Client, name: str, args: dict[str, Any]) -> None:
        result = await client.call_tool(name, args)
        if result.is_error:
            self.refusals.append((name, args, _text(result)))

    async def act(self, client: Client) -> None:
        """One random step of a user or an agent."""
        rng, roll = self.rng, self.rng.random()
        known = rng.choice(self.job_ids) if self.job_ids else None
        if roll < 0.45 or known is None:
            await self.generate(client, self.new_call(), rng.choice((0, 0, 1)))
        elif roll < 0.55 and self.calls:
            earlier = rng.choice(self.calls)
            await self.generate(client, Call(earlier.tool, earlier.args), 0)
        elif roll < 0.7:
            await self.job_tool(client, "pika_wait_for_job", {"job_id": known, "timeout_seconds": rng.choice((0, 1, 2))})
        elif roll < 0.8:
            await self.job_tool(client, "pika_cancel_job", {"job_id": known})
        elif roll < 0.85:
            await self.job_tool(client, "pika_get_job", {"job_id": known})
        elif roll < 0.9:
            await self.job_tool(client, "pika_list_jobs", rng.choice(({}, {"status": "queued"}, {"limit": 200})))
        else:
            args = {"path": str(self.png())}
            result = await client.call_tool("pika_upload_file", args)
            self.uploads["refused" if result.is_error else "uploaded"] += 1
            if result.is_error:
                self.refusals.append(("pika_upload_file", args, _text(result)))


def _text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


# -- the audit ------------------------------------------------------------------------------------------


@dataclass
class Audit:
    problems: list[str]
    figures: dict[str, Any]


def integrity(ledger: Path) -> str:
    """PRAGMA integrity_check, read-only (a killed writer's WAL is read, never rolled into the file)."""
    with sqlite3.connect(f"{ledger.as_uri()}?mode=ro", uri=True) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def ledger_rows(ledger: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"{ledger.as_uri()}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM jobs ORDER BY created_at, rowid")]
    for row in rows:
        for name in ("arguments", "video", "error"):
            row[name] = json.loads(row[name]) if row[name] else None
    return rows


def _understood_failure(row: dict[str, Any], tries: Counter[tuple[str, str]]) -> bool:
    error, prompt = row["error"] or {}, str(row["arguments"].get("prompt", ""))
    if error.get("type") == "submit_outcome_unknown":
        return True
    if any(marker in prompt for marker in FAIL_MARKERS):
        return error.get("type") in ("provider_error", "content_policy")
    if row["request_id"] is None:  # the submit was refused
        return error.get("type") == "provider_error" and explained(json.dumps(error), tries["submit", prompt])
    return error.get("type") == "provider_error" and explained(json.dumps(error), tries["result", row["request_id"]])


def _tries(sandbox: Sandbox, injected: list[Injected]) -> Counter[tuple[str, str]]:
    """Requests the sandbox saw per (op, job): submits by prompt, queue and file requests by request id; uploads
    and tokens cannot be told apart, so each counts the uses of the faults on its op."""
    tries: Counter[tuple[str, str]] = Counter()
    for request in sandbox.received:
        if request.op == "submit":
            tries["submit", str((request.json or {}).get("prompt"))] += 1
        elif request.op in ("status", "result", "cancel", "download") and (found := UUID_RE.search(request.path)):
            tries[request.op, found.group()] += 1
    for i in injected:
        if i.fault.op in ("token", "upload"):
            tries[i.fault.op, ""] += i.used
    return tries


def _refusal_tries(tool: str, args: dict[str, Any], text: str, tries: Counter[tuple[str, str]]) -> int:
    """How often the sandbox was asked for what this refusal is about."""
    found = FAULT_RE.search(text)
    op, files = found.group(1) if found else None, max(tries["token", ""], tries["upload", ""])
    if tool == "pika_upload_file" or op in ("token", "upload"):
        return files
    if tool == "pika_cancel_job":
        return tries["cancel", str(args.get("job_id"))]
    if "prompt" in args:  # a generation call: its submit, or (no fault named) its uploads
        submits = tries["submit", str(args["prompt"])]
        return submits if op == "submit" else max(submits, files)
    return 0


def audit(ledger: Path, sandbox: Sandbox, work: Workload, injected: list[Injected], *, final: bool, killed: bool) -> Audit:
    """The durability, retry and idempotency rules (README: What you get, Security), checked over the ledger and the sandbox.

    `final`: after the last recovery, when every job must be finished; `killed`: servers died along the way, so
    submits may be unanswered for reasons other than the injected faults.
    """
    problems: list[str] = []
    calls, tries = work.calls, _tries(sandbox, injected)
    if (check := integrity(ledger)) != "ok":
        problems.append(f"ledger integrity_check: {check}")
    rows = ledger_rows(ledger)
    by_request = Counter(r["request_id"] for r in rows if r["request_id"])
    rows_by_prompt = Counter(str(r["arguments"].get("prompt")) for r in rows)
    sandbox_prompt = {rid: str(job.body.get("prompt")) for rid in sandbox.job_ids() if (job := sandbox.job(rid))}
    jobs_by_prompt = Counter(sandbox_prompt.values())
    submits = [r for r in sandbox.received if r.op == "submit"]
    submits_by_prompt = Counter(str((r.json or {}).get("prompt")) for r in submits)
    uses = Counter({(i.fault.op, i.fault.kind): 0 for i in injected})
    for i in injected:
        uses[(i.fault.op, i.fault.kind)] += i.used

    problems += [f"request_id {rid} is in the ledger {n} times" for rid, n in by_request.items() if n > 1]
    problems += [f"ledger job {rid} was never created at the sandbox" for rid in by_request if rid not in sandbox_prompt]
    # No job lost: a sandbox job missing from the ledger is the job of a lost submit answer, one per unanswered intent.
    unanswered = Counter(
        str(r["arguments"].get("prompt"))
        for r in rows
        if r["request_id"] is None
        and ((r["error"] or {}).get("type") == "submit_outcome_unknown" or r["status"] == "queued" and not final)
    )
    orphans = Counter(p for rid, p in sandbox_prompt.items() if rid not in by_request)
    problems += [f"lost job: {n} sandbox job(s) for {p!r}, {unanswered[p]} unanswered submit(s) in the ledger"
                 for p, n in orphans.items() if n > unanswered[p]]  # fmt: skip
    if not killed and sum(orphans.values()) != uses[("submit", "lost_answer")]:
        problems.append(
            f"{sum(orphans.values())} sandbox jobs not in the ledger, {uses[('submit', 'lost_answer')]} submit answers lost"
        )
    # Never paid twice: one ledger row is one call past dedupe, and it sends at most one job to fal.
    problems += [f"double submit: {n} sandbox jobs for {p!r} from {rows_by_prompt[p]} ledger row(s)"
                 for p, n in jobs_by_prompt.items() if n > rows_by_prompt[p]]  # fmt: skip
    resent = sum(max(0, n - rows_by_prompt[p]) for p, n in submits_by_prompt.items())
    answered_429 = sum(i.answers("submit", 429) for i in injected)
    if resent > answered_429:  # only a 429 is sent again (a connection that never opened never reaches the sandbox)
        problems.append(f"{resent} submit(s) sent again for one call, only {answered_429} answered 429")
    for same in _by_key(rows).values():
        if paid := [r["request_id"] or r["local_id"] for r in same[:-1] if r["status"] not in ("failed", "cancelled")]:
            problems.append(f"an identical call made a new job while {paid} was neither failed nor cancelled")
    problems += [f"{c.tool} answered a {c.status} job {c.job_id} as a duplicate" for c in calls
                 if c.deduplicated and c.status in ("failed", "cancelled")]  # fmt: skip
    # What a caller was told is what the ledger keeps; a refusal is one the retry table allows.
    known = {r["request_id"] for r in rows} | {r["local_id"] for r in rows}
    problems += [
        f"{c.tool} answered job {c.job_id}, not in the ledger" for c in calls if c.outcome == "job" and c.job_id not in known
    ]
    refused = [(c.tool, c.args, c.text) for c in calls if c.outcome == "refused"] + work.refusals
    problems += [
        f"{tool} refused: {text[:300]}"
        for tool, args, text in refused
        if not explained(text, _refusal_tries(tool, args, text, tries))
    ]
    once = Counter(c.prompt for c in calls)
    problems += [f"refused call {c.prompt!r} created a sandbox job" for c in calls
                 if c.outcome == "refused" and once[c.prompt] == 1 and jobs_by_prompt[c.prompt]]  # fmt: skip
    unknown = sum(1 for r in rows if (r["error"] or {}).get("type") == "submit_outcome_unknown")
    lost_by_faults = sum(uses[("submit", kind)] for kind in ("reset", "hang", "lost_answer"))
    if not killed and unknown > lost_by_faults:
        problems.append(f"{unknown} submit_outcome_unknown jobs, only {lost_by_faults} submits reset, hung or lost")
    succeeded = [r for r in rows if r["status"] == "succeeded"]
    unsaved = [r["request_id"] for r in succeeded if not (r["video"] or {}).get("local_path")]
    if final:
        problems += [f"job {r['request_id'] or r['local_id']} ended {r['status']}" for r in rows if r["status"] not in FINAL]
        problems += [f"job {r['request_id'] or r['local_id']} failed for no understood reason: {r['error']}"
                     for r in rows if r["status"] == "failed" and not _understood_failure(r, tries)]  # fmt: skip
        never_retried = sum(i.answers("download", 504, never_retried=True) for i in injected)
        if unexplained := [rid for rid in unsaved if tries["download", rid] < (1 if never_retried else ATTEMPTS)]:
            problems.append(f"videos never saved: {unexplained}")
    figures = {
        "ledger_jobs": len(rows),
        "by_state": dict(sorted(Counter(r["status"] for r in rows).items())),
        "failed_by_type": dict(Counter((r["error"] or {}).get("type") for r in rows if r["status"] == "failed")),
        "sandbox_jobs": len(sandbox_prompt),
        "submits_at_sandbox": len(submits),
        "submits_resent_after_429": resent,
        "sandbox_jobs_of_lost_answers": sum(orphans.values()),
        "generation_calls": len(calls),
        "calls_by_outcome": dict(Counter(c.outcome for c in calls)),
        "deduplicated_answers": sum(c.deduplicated for c in calls),
        "videos_saved": f"{len(succeeded) - len(unsaved)}/{len(succeeded)}",
        "refusals": len(refused),
        "faults_injected": len(injected),
        "fault_uses": {f"{op}:{kind}": n for (op, kind), n in sorted(uses.items()) if n},
    }
    return Audit(problems, figures)


def _by_key(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["args_key"], []).append(row)
    return groups


# -- the chaos test ------------------------------------------------------------------------------------


async def new_server_pid(home: Path, before: set[Path]) -> tuple[int, Path]:
    """The pid of the server just started: the one lock file in home/trackers that was not there before."""
    with anyio.fail_after(20):
        while True:
            for lock in set((home / "trackers").glob("*.lock")) - before:
                if text := lock.read_text().strip():
                    return int(text), lock
            await anyio.sleep(0.01)


async def until_dead(lock: Path) -> None:
    """Wait until the killed process's lock is free: the kernel closed its files, its writes are over."""
    with anyio.fail_after(20):
        while not (probe := FileLock(lock)).acquire():
            await anyio.sleep(0.01)
        probe.release()


async def agent(client: Client, work: Workload, steps: int) -> None:
    for _ in range(steps):
        try:
            await work.act(client)
        except Exception:  # the server was killed under this call
            return


async def kill_round(tmp_path: Path, fal: Fal, work: Workload, injected: list[Injected]) -> dict[str, Any]:
    """Start a server, run random agents, SIGKILL it after a random delay; returns what was done."""
    rng, home, config = work.rng, tmp_path / "home", fal.sandbox.config
    config.queue_seconds, config.run_seconds = rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.6)
    for _ in range(rng.choice((0, 0, 1, 2))):
        inject_fault(rng, config, injected)
    agents, delay = [rng.randint(1, 5) for _ in range(rng.randint(1, 3))], rng.uniform(0.05, 1.5)
    before = set((home / "trackers").glob("*.lock"))
    lock: Path | None = None
    with anyio.CancelScope() as scope:
        try:
            async with Client(params(home, fal, tmp_path)) as client:
                pid, lock = await new_server_pid(home, before)
                async with anyio.create_task_group() as tg:
                    for steps in agents:
                        tg.start_soon(agent, client, work, steps)
                    await anyio.sleep(delay)
                    os.kill(pid, signal.SIGKILL)
                    tg.cancel_scope.cancel()
                scope.cancel()
        except Exception:  # the transport breaks when its process dies
            if lock is None:
                raise
    assert lock is not None
    await until_dead(lock)
    return {"agents": agents, "delay": round(delay, 3), "faults_pending": [f.detail for f in config.faults]}


async def until_saved(ledger: Path, seconds: float) -> None:
    """Wait up to `seconds` for the video of every succeeded job to be saved (downloads follow the settle)."""
    with anyio.move_on_after(seconds):
        while any(r["status"] == "succeeded" and not (r["video"] or {}).get("local_path") for r in ledger_rows(ledger)):
            await anyio.sleep(0.1)


async def recover_and_wait(tmp_path: Path, fal: Fal, work: Workload) -> None:
    """One more server on the same home, with no faults: wait on every unfinished job until it is final."""
    fal.sandbox.config.faults.clear()
    home = tmp_path / "home"
    ledger = home / "jobs.sqlite3"
    async with Client(params(home, fal, tmp_path)) as client:
        with anyio.move_on_after(60):
            while live := [r["request_id"] or r["local_id"] for r in ledger_rows(ledger) if r["status"] not in FINAL]:
                async with anyio.create_task_group() as tg:
                    for job_id in live:
                        tg.start_soon(work.job_tool, client, "pika_wait_for_job", {"job_id": job_id, "timeout_seconds": 120})
        await until_saved(ledger, 20)  # videos of jobs that finished under a dead server are saved by this one


async def test_sigkill_at_random_moments_loses_no_job_and_pays_no_call_twice(tmp_path: Path, fal: Fal) -> None:
    seed = int(os.environ.get("PIKA_MCP_CHAOS_SEED") or random.SystemRandom().randrange(10**9))
    print(f"chaos seed {seed}, {ROUNDS} kills (replay with PIKA_MCP_CHAOS_SEED={seed})")
    (tmp_path / "allowed").mkdir()
    work = Workload(random.Random(seed), tmp_path / "allowed", f"chaos-{seed}")
    ledger, injected = tmp_path / "home" / "jobs.sqlite3", []
    for number in range(ROUNDS):
        done = await kill_round(tmp_path, fal, work, injected)
        where = f"seed {seed}, after the kill of round {number} {done}"
        assert integrity(ledger) == "ok", where
        found = audit(ledger, fal.sandbox, work, injected, final=False, killed=True)
        assert not found.problems, f"{where}: {found.problems}"
        work.job_ids = [r["request_id"] or r["local_id"] for r in ledger_rows(ledger)]
    await recover_and_wait(tmp_path, fal, work)
    found = audit(ledger, fal.sandbox, work, injected, final=True, killed=True)
    found.figures |= {"seed": seed, "kills": ROUNDS, "uploads": dict(work.uploads)}
    if report := os.environ.get("PIKA_MCP_CHAOS_REPORT"):
        Path(report).write_text(json.dumps(found.figures | {"problems": found.problems}, indent=2))
    print(json.dumps(found.figures, indent=2))
    assert not found.problems, f"seed {seed}, after recovery: {found.problems}\nfigures: {found.figures}"
    assert found.figures["ledger_jobs"] > 0, f"seed {seed}: the workload made no job"


async def test_the_audit_sees_a_lost_job_a_double_submit_an_unfinished_job_and_a_needless_refusal(
    tmp_path: Path, fal: Fal
) -> None:
    """The audit is only as good as what it catches: fal has the job twice, once behind the ledger's back; the ledger
    row is still running; a cancel was refused over a retryable 503 the sandbox saw only once."""
    settings = make_settings(tmp_path, fal.url)
    work = Workload(random.Random(0), tmp_path / "allowed", "audit")
    call = work.new_call(image=False, failing=False)
    ledger = settings.home / "jobs.sqlite3"
    async with Client(build_server(settings).mcp) as client:
        await work.generate(client, call, 10)
        await until_saved(ledger, 10)
    assert audit(ledger, fal.sandbox, work, [], final=True, killed=False).problems == []
    async with httpx2.AsyncClient() as http:
        sent = await http.post(
            f"{fal.url}/fal-ai/pika/v2.2/text-to-video", json=call.args, headers={"Authorization": f"Key {TEST_KEY}"}
        )
    assert sent.status_code == 200
    with sqlite3.connect(ledger) as db:
        db.execute("UPDATE jobs SET status = 'running'")
    refused = f"fal did not accept the cancel request (HTTP 503): {FAULT_MARK} op=cancel kind=http status=503 retried=yes"
    work.refusals.append(("pika_cancel_job", {"job_id": call.job_id}, refused))
    problems = " | ".join(audit(ledger, fal.sandbox, work, [], final=True, killed=False).problems)
    for expected in ("lost job", "double submit", "ended running", "pika_cancel_job refused"):
        assert expected in problems, problems
