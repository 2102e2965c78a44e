"""What the sandbox's route handlers use of the sandbox: its state, switches and records (`Sandbox` provides it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Protocol

from pika_mcp.sandbox.changes import Changes
from pika_mcp.sandbox.config import SandboxConfig
from pika_mcp.sandbox.files import FileStore
from pika_mcp.sandbox.record import ReceivedRequest
from pika_mcp.sandbox.state import Store


class Host(Protocol):
    """The running sandbox as its handlers see it; they never import the app that serves them."""

    control_token: str
    config: SandboxConfig
    clock: Callable[[], float]
    store: Store
    files: FileStore
    changes: Changes
    counts: Counter[str]
    stopping: bool

    @property
    def received(self) -> list[ReceivedRequest]: ...

    def record(self, request: ReceivedRequest) -> None: ...

    def reset(self) -> None: ...

    def start_due_renders(self) -> None: ...

    async def wait_stopped(self) -> None: ...
