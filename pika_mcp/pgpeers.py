"""The peers of a fleet in PostgreSQL: each peer's lease (a row it renews) and the watched-jobs rows (with an expiry)
by which a peer asks the tracker of a job to follow it quickly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pika_mcp.pgschema import WATCH_SECONDS, WATCHES

if TYPE_CHECKING:
    from pika_mcp.pgstore import PgLedger


class PgPeers:
    """Leases and watches, in the ledger's database and through its pool."""

    def __init__(self, ledger: PgLedger) -> None:
        self.ledger = ledger

    def renew_peer(self, peer: str, seconds: float) -> None:
        """This peer's lease on the jobs it tracks, from now for `seconds` by the database's clock."""
        with self.ledger.transaction() as db:
            db.execute(
                "INSERT INTO peers (peer_id, lease_until) VALUES (%s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (peer_id) DO UPDATE SET lease_until = EXCLUDED.lease_until",
                (peer, seconds),
            )

    def drop_peer(self, peer: str) -> None:
        """A peer leaving: its lease ends now, so the others take its jobs over at their next look."""
        with self.ledger.transaction() as db:
            db.execute("DELETE FROM peers WHERE peer_id = %s", (peer,))
            db.execute("DELETE FROM peers WHERE lease_until < now() - interval '1 day'")

    def peer_alive(self, peer: str) -> bool:
        with self.ledger.transaction() as db:
            return db.execute("SELECT 1 FROM peers WHERE peer_id = %s AND lease_until > now()", (peer,)).fetchone() is not None

    def watch(self, local_ids: list[str]) -> None:
        """Someone on this peer waits on, reads or subscribes to these jobs: a row with an expiry, and a word to the
        peer that tracks each."""
        with self.ledger.transaction() as db:
            for local_id in local_ids:
                db.execute(
                    "INSERT INTO watches VALUES (%s, now() + make_interval(secs => %s)) "
                    "ON CONFLICT (local_id) DO UPDATE SET until = EXCLUDED.until",
                    (local_id, WATCH_SECONDS),
                )
                db.execute("SELECT pg_notify(%s, %s)", (WATCHES, local_id))
            db.execute("DELETE FROM watches WHERE until < now()")

    def watched(self, local_ids: list[str]) -> list[str]:
        with self.ledger.transaction() as db:
            rows = db.execute("SELECT local_id FROM watches WHERE local_id = ANY(%s) AND until > now()", (local_ids,)).fetchall()
        return [r["local_id"] for r in rows]
