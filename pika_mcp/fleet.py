"""Several peers on one PostgreSQL ledger: the store chosen from the settings, this peer's lease, the notifications
every peer hears (LISTEN on one connection per peer), and the watches a peer announces for jobs another peer tracks."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from pika_mcp.errors import ConfigError

if TYPE_CHECKING:
    from pika_mcp.jobs import JobService
    from pika_mcp.pgstore import PgLedger
    from pika_mcp.settings import Settings
    from pika_mcp.store import Store

log = logging.getLogger(__name__)

# A peer renews its lease four times per lease: three renewals may fail (a database restarting) before it lapses.
RENEWALS_PER_LEASE = 4
# A peer that has not renewed for this share of its lease stops tracking, before any other peer may take over.
GIVE_UP_SHARE = 0.75
# Others look for a dead peer's jobs this often (at most every 10 s): a lease plus one look stays within 30 s.
ADOPT_SHARE = 0.25
# The LISTEN connection is checked this often when quiet, and re-opened after this long when it failed.
LISTEN_CHECK_SECONDS = 5.0
RECONNECT_SECONDS = 1.0
# After a reconnect, changes written this long before the connection was lost are read again (clocks differ a little).
REREAD_SLACK_SECONDS = 5.0
# A watch on a job another peer tracks is announced again this often while someone still waits (the tracker's
# quick polling after a read lasts 10 s: tracker.ATTENTION_SECONDS).
WATCH_RENEW_SECONDS = 4.0


def shared_store(store: Store) -> PgLedger | None:
    """The store as the PostgreSQL ledger several peers share, or None (SQLite: one machine)."""
    if type(store).__name__ != "PgLedger":  # no import of the driver when it is not in use
        return None
    from pika_mcp.pgstore import PgLedger

    return store if isinstance(store, PgLedger) else None


def open_store(settings: Settings, *, poster_dir: Path | None = None, peer: str = "") -> Store:
    """The ledger these settings name: PostgreSQL with PIKA_MCP_DATABASE_URL, else SQLite in PIKA_MCP_HOME."""
    if settings.database_url:
        try:
            from pika_mcp.pgstore import PgLedger
        except ImportError:
            raise ConfigError("PIKA_MCP_DATABASE_URL needs the postgres extra: pip install 'pika-mcp[postgres]'.") from None
        return PgLedger(settings.database_url, poster_dir, peer=peer)
    from pika_mcp.ledger import Ledger

    return Ledger(settings.home / "jobs.sqlite3")


def shared_owner_key(settings: Settings) -> bytes:
    """The owner key: one for the whole fleet (a one-row table) with a database, else `owner.key` in the home."""
    if settings.database_url:
        store = shared_store(open_store(settings))
        assert store is not None  # a database URL opens the shared store
        try:
            return store.owner_key()
        finally:
            store.close()
    from pika_mcp.owners import owner_key

    return owner_key(settings.home)


def refuse_embedded_sandbox(settings: Settings) -> None:
    if settings.database_url and settings.embedded_sandbox:
        raise ConfigError(
            "PIKA_MCP_DATABASE_URL is set but there is no fal key and no PIKA_MCP_QUEUE_URL: peers sharing a database "
            "must share one fal. Set FAL_KEY, or run `pika-mcp sandbox` once and point every peer's "
            "PIKA_MCP_QUEUE_URL at it."
        )


def new_peer_id() -> str:
    """Readable in /healthz and `tracked_by`: the machine, the process, and a random part (a pid is reused)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class PeerLease:
    """This peer's claim on the jobs it tracks, renewed in the database; what Liveness is for processes on one home."""

    def __init__(self, store: PgLedger, seconds: float, peers: Any = None) -> None:
        from pika_mcp.pgpeers import PgPeers

        self.store = store
        self.peers = peers or PgPeers(store)
        self.seconds = seconds
        self.tracker_id = new_peer_id()
        self._renewed = time.monotonic()

    def __enter__(self) -> PeerLease:
        self.store.peer = self.tracker_id
        self.peers.renew_peer(self.tracker_id, self.seconds)
        self._renewed = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.peers.drop_peer(self.tracker_id)
        except Exception:  # the database is gone: the lease lapses on its own
            log.warning("could not end this peer's lease; the others take its jobs when it lapses")

    def alive(self, tracker_id: str | None) -> bool:
        if tracker_id is None:
            return False
        if tracker_id == self.tracker_id:
            return True
        return bool(self.peers.peer_alive(tracker_id))

    async def renew_forever(self, on_lost: Callable[[], None]) -> None:
        """Renew; a peer cut off from the database for most of a lease stops tracking (`on_lost`) and comes back
        under a new id, so that the jobs it held are adopted like any dead peer's (possibly by itself)."""
        while True:
            await anyio.sleep(self.seconds / RENEWALS_PER_LEASE)
            try:
                with anyio.fail_after(self.seconds / RENEWALS_PER_LEASE):  # a renewal that hangs has failed
                    await anyio.to_thread.run_sync(self.peers.renew_peer, self.tracker_id, self.seconds, abandon_on_cancel=True)
                self._renewed = time.monotonic()
            except (Exception, TimeoutError) as exc:
                log.warning("could not renew this peer's lease: %s", exc)
                if time.monotonic() - self._renewed > self.seconds * GIVE_UP_SHARE:
                    log.error("this peer's lease is lapsing: it stops tracking its jobs; another peer takes them over")
                    on_lost()
                    self.tracker_id = new_peer_id()
                    self.store.peer = self.tracker_id
                    self._renewed = time.monotonic()  # not renewed, but the next try starts a new lease


class RemoteWatches:
    """Jobs someone on this peer waits on, reads or subscribes to, that another peer tracks: a watch row in the
    database and a NOTIFY to their tracker, renewed while held."""

    def __init__(self, store: PgLedger) -> None:
        from pika_mcp.pgpeers import PgPeers

        self.peers = PgPeers(store)
        self._held: Counter[str] = Counter()

    def hold(self, local_id: str) -> None:
        self._held[local_id] += 1
        if self._held[local_id] == 1:
            self.glance(local_id)

    def release(self, local_id: str) -> None:
        self._held[local_id] -= 1
        if self._held[local_id] <= 0:
            del self._held[local_id]

    def glance(self, local_id: str) -> None:
        try:
            self.peers.watch([local_id])
        except Exception as exc:  # a watch only speeds tracking up
            log.warning("could not announce a watch: %s", exc)

    async def renew_forever(self) -> None:
        while True:
            await anyio.sleep(WATCH_RENEW_SECONDS)
            if self._held:
                try:
                    await anyio.to_thread.run_sync(self.peers.watch, list(self._held))
                except Exception as exc:
                    log.warning("could not renew watches: %s", exc)


Heard = Callable[[Any], Awaitable[None]]


async def listen_forever(store: PgLedger, service: JobService, connect: Callable[[], Awaitable[Any]] | None = None) -> None:
    """Every change written by any peer, heard here: waits and subscriptions on this peer learn of it at once, and a
    watch announced elsewhere speeds up this peer's tracking. A lost connection is opened again and what changed
    meanwhile is read again; nothing waits on a dead connection for longer than LISTEN_CHECK_SECONDS.

    Changes are read in batches: what was heard while the last batch was read is read next, each job once, in one
    query (one at a time, a burst of submits on other peers left this peer seconds behind)."""
    import psycopg

    from pika_mcp.pgschema import CHANGES, WATCHES

    async def open_connection() -> Any:
        return await psycopg.AsyncConnection.connect(store.url, autocommit=True)

    connect = connect or open_connection
    heard = _Heard()
    heard_until: float | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(_read_forever, store, service, heard)
        while True:
            try:
                conn = await connect()
                async with conn:
                    await conn.execute(f"LISTEN {CHANGES}")
                    await conn.execute(f"LISTEN {WATCHES}")
                    if heard_until is not None:  # what changed while nobody here was listening
                        for job in await anyio.to_thread.run_sync(store.changed_since, heard_until - REREAD_SLACK_SECONDS):
                            heard.add(job.local_id)
                    while True:
                        heard_until = time.time()
                        async for note in conn.notifies(timeout=LISTEN_CHECK_SECONDS):
                            if note.channel == WATCHES:
                                if service.tracker.tracks(note.payload):  # only the tracker acts (no echo of watches)
                                    service.tracker.attention(note.payload)
                                continue
                            peer, _, local_id = note.payload.partition("|")
                            if peer != store.peer:  # this peer told its own listeners already
                                heard.add(local_id)
                        await conn.execute("SELECT 1")  # quiet: is the connection still there?
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as exc:
                log.warning("lost the database notifications (%s); reconnecting", exc)
                await anyio.sleep(RECONNECT_SECONDS)


class _Heard:
    """Jobs other peers changed, not yet read here: each once, in the order first heard."""

    def __init__(self) -> None:
        self.pending: dict[str, None] = {}
        self.arrived = anyio.Event()

    def add(self, local_id: str) -> None:
        self.pending[local_id] = None
        self.arrived.set()

    async def take(self) -> list[str]:
        await self.arrived.wait()
        self.arrived = anyio.Event()
        taken, self.pending = list(self.pending), {}
        return taken


async def _read_forever(store: PgLedger, service: JobService, heard: _Heard) -> None:
    while True:
        local_ids = await heard.take()
        try:
            jobs = await anyio.to_thread.run_sync(store.get_many, local_ids)
        except Exception as exc:  # the database is away: keep them for the next try
            log.warning("could not read %d changed job(s) (%s); trying again", len(local_ids), exc)
            for local_id in local_ids:
                heard.add(local_id)
            await anyio.sleep(RECONNECT_SECONDS)
            continue
        for job in jobs:
            try:
                await _changed(service, job)
            except Exception:  # one job's listeners never stop this peer hearing the others
                log.exception("telling this peer of job %s failed", job.local_id)


async def _changed(service: JobService, job: Any) -> None:
    """Another peer changed a job: tell the waits and subscriptions here; settle this peer's tracking of it."""
    if service.tracker.tracks(job.local_id):
        if job.finished:
            service.tracker.forget(job.local_id)
        else:
            service.tracker.poke(job.local_id)
    await service.heard(job)
