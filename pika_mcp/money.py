"""Money: what a call is estimated to cost, which jobs count as spend, which answer an identical call, and the budget check.

Every store counts with these rules: its spend and dedupe queries are built from the sets below, and the store
contract tests check each store against `spends` and `answers_again`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from pika_mcp.catalog import Endpoint
from pika_mcp.errors import BudgetExceeded
from pika_mcp.job import CANCELLED, FAILED, SUBMIT_OUTCOME_UNKNOWN, Job

SPEND_WINDOW = 86_400.0  # seconds: the budget and the listed spend count the last 24 hours
DEDUPE_WINDOW = 600.0  # seconds: an identical call within 10 minutes returns the first job instead of paying again
# Statuses that cost nothing: fal failed or cancelled the job...
UNSPENT_STATUSES: frozenset[str] = frozenset({FAILED, CANCELLED})
# ...except a submit whose answer was lost: fal may have made that job, and may bill it.
SPENT_ERRORS: frozenset[str] = frozenset({SUBMIT_OUTCOME_UNKNOWN})
# An identical call is never answered by a job that failed or was cancelled: the caller wants a video.
UNREUSABLE_STATUSES: frozenset[str] = frozenset({FAILED, CANCELLED})
BUDGET_SLACK = 1e-9  # a job that brings spend exactly to the cap passes, whatever float rounding says


def estimate(endpoint: Endpoint, body: dict[str, Any], backend: str) -> float:
    """The estimated cost of a call in USD, stored with its job: fal's price; the sandbox is free."""
    return 0.0 if backend == "sandbox" else endpoint.price.usd(body)


def spends(job: Job) -> bool:
    """Whether a job's estimate counts toward spend (queued and running ones included)."""
    return job.status not in UNSPENT_STATUSES or job.error_type in SPENT_ERRORS


def answers_again(job: Job) -> bool:
    """Whether a job may be returned (deduplicated) for an identical later call."""
    return job.status not in UNREUSABLE_STATUSES


def check_budget(spent: float, estimate: float, cap: float | None) -> None:
    """Refuse a job that would take spend in the window past the cap; nothing has been sent yet."""
    if cap is not None and spent + estimate > cap + BUDGET_SLACK:
        raise BudgetExceeded(spent=round(spent, 4), cap=cap, estimate=estimate)


def sql_list(values: Iterable[str]) -> str:
    """A set of these constants as an SQL list, `('cancelled', 'failed')`, for each store to build its queries from."""
    return "(" + ", ".join(f"'{v}'" for v in sorted(values)) + ")"


def call_key(endpoint: Endpoint, body: dict[str, Any]) -> str:
    """The identity of a call for deduplication (what answers an identical call): tool plus normalized body."""
    canonical = json.dumps([endpoint.tool, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
