"""The measuring child: one long-lived `python -P -m pika_mcp.media --serve` that decodes each saved video in turn.

FFmpeg's decoders (and their ~40 MB) never live in the server, and a decoder that crashes or hangs on a hostile file
takes only the child with it: it is killed and the next video gets a new one. Keeping it alive between videos saves
its start (an interpreter and PyAV imported: a third of a second idle, seconds on a busy machine) from every save,
which is most of the time between fal finishing a job and the job's saved answer.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

log = logging.getLogger(__name__)

MEASURE_SECONDS = 60.0  # a child still decoding after this is stuck on a hostile file: killed
IDLE_SECONDS = 120.0  # a child with nothing to measure for this long exits (its memory back to the machine)
MAX_ANSWER_BYTES = 1 << 20  # a poster is at most 64 KB; anything longer is not an answer


class Measurer:
    """Measures one video at a time in the child; starts it when first needed (or warmed), stops it when idle."""

    def __init__(self, *, timeout: float = MEASURE_SECONDS, idle: float = IDLE_SECONDS, command: list[str] | None = None) -> None:
        # -P: the installed pika_mcp, never a pika_mcp/ folder in the working directory
        self._command = command or [sys.executable, "-P", "-m", "pika_mcp.media", "--serve"]
        self._timeout, self._idle = timeout, idle
        self._lock = anyio.Lock()
        self._process: Process | None = None
        self._answers: BufferedByteReceiveStream | None = None
        self._last_used = 0.0

    async def warm(self) -> None:
        """Start the child ahead of need (a job was submitted), so the first save does not wait for it."""
        async with self._lock:
            try:
                await self._child()
            except OSError as exc:
                log.warning("could not start the video measuring process: %s", exc)

    async def measure(self, path: Path, max_poster_bytes: int) -> tuple[dict[str, Any] | None, bytes | None]:
        """Duration, size, frame rate and a poster; (None, None) if the child fails, crashes or hangs."""
        async with self._lock:
            try:
                with anyio.fail_after(self._timeout):
                    process = await self._child()
                    assert process.stdin is not None and self._answers is not None
                    await process.stdin.send(json.dumps([str(path), max_poster_bytes]).encode() + b"\n")
                    line = await self._answers.receive_until(b"\n", MAX_ANSWER_BYTES)
                answer = json.loads(line)
                if answer.get("error"):
                    raise ValueError(answer["error"])
                jpeg = base64.b64decode(answer["poster"]) if answer.get("poster") else None
                return answer.get("info"), jpeg
            except Exception as exc:  # a broken child costs only the facts: the video stays saved
                log.warning("could not measure %s: %s", path.name, exc)
                await self._stop()
                return None, None
            finally:
                self._last_used = anyio.current_time()

    async def stop_when_idle(self) -> None:
        """Forever: stop a child that has had nothing to do for a while."""
        while True:
            await anyio.sleep(self._idle / 4)
            async with self._lock:
                if self._process is not None and anyio.current_time() - self._last_used > self._idle:
                    await self._stop()

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self._stop()

    async def _child(self) -> Process:
        if self._process is not None and self._process.returncode is None:
            return self._process
        await self._stop()
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # Windows: no console window flashing up under a desktop client
        self._process = await anyio.open_process(self._command, stderr=subprocess.DEVNULL, creationflags=flags)
        assert self._process.stdout is not None
        self._answers = BufferedByteReceiveStream(self._process.stdout)
        self._last_used = anyio.current_time()
        return self._process

    async def _stop(self) -> None:
        process, self._process, self._answers = self._process, None, None
        if process is None:
            return
        try:
            process.kill()
        except ProcessLookupError:
            pass
        with anyio.move_on_after(5):
            await process.wait()
        await process.aclose()
