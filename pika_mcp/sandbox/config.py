"""The sandbox's switches: timing, failed jobs and injected faults, settable in Python or over HTTP."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, get_args

Op = Literal["submit", "status", "stream", "result", "cancel", "token", "upload", "download"]
FaultKind = Literal["http", "reset", "hang", "slow", "lost_answer"]
OPS: tuple[str, ...] = get_args(Op)
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

# fal's status stream sends a comment every 15 s to keep idle connections open.
PING_SECONDS = 15.0
# How long a runner takes to stop after fal forwards a cancel of a running request.
CANCEL_SECONDS = 0.3
# Lifetime of a storage token; fal_client caches it until `expires_at`.
TOKEN_SECONDS = 3600.0


@dataclass(frozen=True)
class FailSpec:
    """How a job fails: COMPLETED in status, this error at its result URL.

    A 422 answers `{"detail": [{"loc": loc, "msg": detail, "type": error_type}]}`; any other status
    answers `{"detail": detail, "error_type": error_type}` with the `X-Fal-Error-Type` header.
    """

    status: int = 500
    detail: str = "The runner failed while generating the video."
    error_type: str = "runner_server_error"
    loc: tuple[str | int, ...] = ("body", "prompt")


CONTENT_POLICY = FailSpec(
    status=422,
    detail="The content could not be processed because it was flagged by a content checker.",
    error_type="content_policy_violation",
)
# Markers a person can put in a prompt to try failures by hand, when fail_next is empty.
PROMPT_MARKERS: dict[str, FailSpec] = {
    "[sandbox:fail]": FailSpec(),
    "[sandbox:content-policy]": CONTENT_POLICY,
}


@dataclass
class Fault:
    """One injected fault on an operation, used `times` times (None: until removed).

    `http` answers `status` with `headers`; `reset` closes the connection without an answer;
    `hang` never answers until the client goes away; `slow` answers after `delay_seconds`;
    `lost_answer` does the work (a submit creates its job) and then resets the connection.
    """

    op: Op
    kind: FaultKind = "http"
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = 1
    delay_seconds: float = 1.0
    detail: str = "The service is temporarily unavailable; try again shortly."
    error_type: str | None = None

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"Fault op must be one of {', '.join(OPS)}, not {self.op!r}.")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Fault kind must be one of {', '.join(FAULT_KINDS)}.")


@dataclass
class SandboxConfig:
    """Mutable switches; jobs keep the timing that was current when they were submitted."""

    queue_seconds: float = 1.0
    run_seconds: float = 4.0
    cancel_seconds: float = CANCEL_SECONDS
    ping_seconds: float = PING_SECONDS
    token_seconds: float = TOKEN_SECONDS
    # fal may put `error`/`error_type` in a COMPLETED status; off by default so that clients
    # must read the result URL, which is where fal always reports the failure.
    status_carries_error: bool = False
    fail_next: list[FailSpec] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def take_failure(self, prompt: object) -> FailSpec | None:
        """The failure for the next submitted job: queued FailSpecs first, then prompt markers."""
        if self.fail_next:
            return self.fail_next.pop(0)
        if isinstance(prompt, str):
            return next((s for m, s in PROMPT_MARKERS.items() if m in prompt), None)
        return None

    def take_fault(self, op: str) -> Fault | None:
        """The first fault for `op`, counting one use and dropping it when used up."""
        for fault in self.faults:
            if fault.op == op:
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    def update(self, data: dict[str, Any]) -> None:
        """Apply a JSON object from the control route; lists given there replace the current ones."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown sandbox settings: {', '.join(unknown)}.")
        for name, value in data.items():
            if name == "fail_next":
                value = [fail_spec_from_json(item) for item in value]
            elif name == "faults":
                value = [Fault(**item) for item in value]
            setattr(self, name, value)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fail_spec_from_json(data: dict[str, Any]) -> FailSpec:
    loc = data.get("loc")
    return FailSpec(**{**data, "loc": tuple(loc)} if loc is not None else data)
