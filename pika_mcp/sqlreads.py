"""The job reads and the money rules in SQL, written once for both stores over what differs between their dialects:
the parameter mark, the column that orders rows written in the same instant, and how a JSON field is read."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, ClassVar

from pika_mcp.job import LIVE, SUCCEEDED, Job
from pika_mcp.money import SPENT_ERRORS, UNREUSABLE_STATUSES, UNSPENT_STATUSES, sql_list


@dataclass(frozen=True)
class Dialect:
    mark: str  # a query parameter
    tie: str  # the column that orders rows of one created_at: insertion order
    json_text: str  # a JSON object column's text field, with {column} and {field}

    def field(self, column: str, name: str) -> str:
        return self.json_text.format(column=column, field=name)

    @property
    def is_live(self) -> str:
        return f"status IN {sql_list(LIVE)}"

    @property
    def spend_sql(self) -> str:
        """pika_mcp.money's spend rule: what a person's jobs since a time cost (live and succeeded, lost submits)."""
        spends = f"(status NOT IN {sql_list(UNSPENT_STATUSES)} OR {self.field('error', 'type')} IN {sql_list(SPENT_ERRORS)})"
        return f"SELECT COALESCE(SUM(estimated_cost_usd), 0) AS spent FROM jobs WHERE owner = {self.mark} AND created_at >= {self.mark} AND {spends}"

    @property
    def same_call_sql(self) -> str:
        """pika_mcp.money's dedupe rule: the newest job with the same call since a time, unless it cannot be reused."""
        return (
            f"SELECT * FROM jobs WHERE owner = {self.mark} AND args_key = {self.mark} AND created_at >= {self.mark} "
            f"AND status NOT IN {sql_list(UNREUSABLE_STATUSES)} ORDER BY created_at DESC LIMIT 1"
        )


SQLITE = Dialect("?", "rowid", "json_extract({column}, '$.{field}')")
POSTGRESQL = Dialect("%s", "seq", "{column}->>'{field}'")


class JobReads:
    """The reads of the store interface (pika_mcp.store.JobStore) over `_select`, for both SQL stores."""

    dialect: ClassVar[Dialect]

    def _select(self, query: str, params: builtins.list[Any]) -> builtins.list[Job]:
        raise NotImplementedError

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """By fal request id or local id; scoped to `owner` unless None (the tracker's view)."""
        mark = self.dialect.mark
        query = f"SELECT * FROM jobs WHERE (local_id = {mark} OR request_id = {mark})"
        params: builtins.list[Any] = [job_id, job_id]
        if owner is not None:
            query += f" AND owner = {mark}"
            params.append(owner)
        return next(iter(self._select(query, params)), None)

    def reload(self, job: Job) -> Job:
        fresh = self.get(job.local_id)
        assert fresh is not None
        return fresh

    def list(self, owner: str, status: str | None = None, limit: int = 20) -> builtins.list[Job]:
        """A person's jobs, newest first (of one status if given)."""
        mark = self.dialect.mark
        query, params = f"SELECT * FROM jobs WHERE owner = {mark}", [owner]
        if status:
            query += f" AND status = {mark}"
            params.append(status)
        return self._select(query + f" ORDER BY created_at DESC, {self.dialect.tie} DESC LIMIT {mark}", [*params, limit])

    def recent_same(self, owner: str, args_key: str, since: float) -> Job | None:
        """The newest job with the same call since `since`, unless it failed or was cancelled."""
        rows = self._select(self.dialect.same_call_sql, [owner, args_key, since])
        return rows[0] if rows else None

    def prunable(self, before: float) -> builtins.list[Job]:
        """Every person's succeeded jobs with a local copy or poster, whose final status was recorded before `before`."""
        field, mark = self.dialect.field, self.dialect.mark
        return self._select(
            f"SELECT * FROM jobs WHERE status = '{SUCCEEDED}' AND video IS NOT NULL "
            f"AND ({field('video', 'local_path')} IS NOT NULL OR {field('video', 'poster_path')} IS NOT NULL) "
            f"AND (SELECT MIN(at) FROM events WHERE events.local_id = jobs.local_id AND events.status = '{SUCCEEDED}') "
            f"< {mark} ORDER BY created_at",
            [before],
        )
