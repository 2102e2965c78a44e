"""How closely the tracker follows a live job: the policy numbers, and each job's pace and watchers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pika_mcp.job import Job

# Someone is waiting or subscribed: poll twice a second so a wait returns within 1 s of fal finishing.
WATCHED_INTERVAL = 0.5
# A read of an unfinished job (get, resource) counts as looking for this long.
ATTENTION_SECONDS = 10.0
# Nobody is looking: start at 5 s and back off to 30 s, at most 12 status requests per job per minute.
BACKGROUND_FIRST = 5.0
BACKGROUND_MAX = 30.0
BACKOFF_FACTOR = 1.5
# fal unreachable or answering errors: wait this long before trying that job again.
ERROR_DELAY = 15.0
# At most this many requests to fal in flight at once, whatever the number of live jobs.
MAX_CONCURRENT_REQUESTS = 16
# Watched jobs follow fal's /status/stream instead (pushed, so updates arrive within a second);
# streams are long-lived, so they have their own bound rather than holding request slots.
MAX_STREAMS = 64
# A stream may carry only pings for minutes: check this often that someone still watches, and close it when not.
STREAM_CHECK_SECONDS = 1.0
# Answers that mean "this server has no status stream": fall back to quick polling for good.
NO_STREAM_STATUSES = frozenset({404, 405, 501})


@dataclass
class Followed:
    """One live job as the tracker follows it: when it is next due, how far its polling has backed off, who watches."""

    job: Job
    interval: float = BACKGROUND_FIRST
    due: float = 0.0
    watchers: int = 0
    attention_until: float = 0.0
    busy: bool = False
    streaming: bool = False
    poll_next: bool = False
    no_stream: bool = False
    seq: int = field(default=0)


class RemoteWatch(Protocol):
    """Several peers (fleet.RemoteWatches): someone here looks at a job that another peer tracks."""

    def hold(self, local_id: str) -> None: ...
    def release(self, local_id: str) -> None: ...
    def glance(self, local_id: str) -> None: ...
