"""fal's queue protocol: submit, status, status stream, result and cancel under `/{owner}/{alias}`."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from pika_mcp.sandbox import wire
from pika_mcp.sandbox.host import Host
from pika_mcp.sandbox.job import Job

# A stream re-reads its job at least this often, whatever the clock says (fake clocks included).
STREAM_MAX_WAIT_SECONDS = 1.0
# Wake just after a phase boundary so the new phase is visible.
BOUNDARY_SLACK_SECONDS = 0.002
UNAUTHORIZED = "Missing credentials: send the header 'Authorization: Key <FAL_KEY>'."


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def unauthorized(request: Request) -> Response | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() in ("key", "bearer") and credentials.strip():
        return None
    return JSONResponse({"detail": UNAUTHORIZED}, status_code=401)


def _urls(base: str, job: Job) -> dict[str, str]:
    response_url = f"{base}/{job.app}/requests/{job.request_id}"
    return {
        "response_url": response_url,
        "status_url": f"{response_url}/status",
        "cancel_url": f"{response_url}/cancel",
    }


def _wants_logs(request: Request) -> bool:
    return request.query_params.get("logs", "").lower() in ("1", "true")


def _find(sandbox: Host, request: Request) -> Job | None:
    params = request.path_params
    job = sandbox.store.job(params["request_id"])
    return job if job is not None and job.app == f"{params['owner']}/{params['alias']}" else None


def _not_found(request: Request) -> Response:
    detail = f"Request {request.path_params['request_id']} was not found."
    return JSONResponse({"detail": detail}, status_code=404)


def status_body(sandbox: Host, job: Job, base: str, logs: bool) -> dict[str, Any]:
    now = sandbox.clock()
    phase = job.phase(now)
    body: dict[str, Any] = {"status": phase, "request_id": job.request_id, **_urls(base, job)}
    if phase == "IN_QUEUE":
        body["queue_position"] = sandbox.store.queue_position(job, now)
    body["logs"] = job.logs(now) if logs else None
    if phase == "COMPLETED":
        body["metrics"] = {"inference_time": round(max(job.ends_at - job.started_at, 0.0), 3)}
        if sandbox.config.status_carries_error and job.outcome != "ok":
            _, error, _ = job.result(base)
            body["error"] = error["detail"] if isinstance(error["detail"], str) else "Invalid input."
            body["error_type"] = error.get("error_type", error["detail"][0]["type"])
    return body


async def submit(sandbox: Host, request: Request) -> Response:
    if (denied := unauthorized(request)) is not None:
        return denied
    params = request.path_params
    endpoint_id = f"{params['owner']}/{params['alias']}/{params['path']}".rstrip("/")
    if endpoint_id not in wire.FIELDS:
        return JSONResponse({"detail": f"Endpoint {endpoint_id} was not found."}, status_code=404)
    try:
        body = json.loads(await request.body())
    except ValueError:
        problem = {
            "loc": ["body"],
            "msg": "Send the input as a JSON object.",
            "type": "json_invalid",
        }
        return JSONResponse({"detail": [problem]}, status_code=422)
    problems = wire.validate(endpoint_id, body)
    if problems:
        return JSONResponse({"detail": problems}, status_code=422)
    config = sandbox.config
    job = sandbox.store.add_job(
        Job(
            seq=0,
            request_id=str(uuid.uuid4()),
            endpoint_id=endpoint_id,
            app=f"{params['owner']}/{params['alias']}",
            body=body,
            gateway_request_id=str(uuid.uuid4()),
            submitted_at=sandbox.clock(),
            queue_seconds=config.queue_seconds,
            run_seconds=config.run_seconds,
            failure=config.take_failure(body.get("prompt")),
        )
    )
    sandbox.changes.notify()
    answer = {
        "status": "IN_QUEUE",
        "request_id": job.request_id,
        **_urls(base_url(request), job),
        "queue_position": sandbox.store.queue_position(job, sandbox.clock()),
        "gateway_request_id": job.gateway_request_id,
    }
    return JSONResponse(answer, headers={"x-fal-request-id": job.request_id})


async def status(sandbox: Host, request: Request) -> Response:
    if (denied := unauthorized(request)) is not None:
        return denied
    sandbox.start_due_renders()
    job = _find(sandbox, request)
    if job is None:
        return _not_found(request)
    body = status_body(sandbox, job, base_url(request), _wants_logs(request))
    code = 200 if body["status"] == "COMPLETED" else 202
    return JSONResponse(body, status_code=code, headers={"x-fal-request-id": job.request_id})


async def stream(sandbox: Host, request: Request) -> Response:
    if (denied := unauthorized(request)) is not None:
        return denied
    job = _find(sandbox, request)
    if job is None:
        return _not_found(request)
    events = _events(sandbox, job.request_id, base_url(request), _wants_logs(request))
    headers = {"cache-control": "no-cache", "x-fal-request-id": job.request_id}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


async def _events(sandbox: Host, request_id: str, base: str, logs: bool) -> AsyncIterator[str]:
    """One `data:` event per change (logs carry only new lines), a ping comment when idle."""
    last: tuple[object, ...] | None = None
    logs_sent = 0
    next_ping = time.monotonic() + sandbox.config.ping_seconds
    while not sandbox.stopping:
        version = sandbox.changes.version
        sandbox.start_due_renders()
        job = sandbox.store.job(request_id)
        if job is None:
            return
        body = status_body(sandbox, job, base, logs)
        all_logs = body["logs"] or []
        key = (body["status"], body.get("queue_position"), len(all_logs))
        if key != last:
            if logs:
                body["logs"] = all_logs[logs_sent:]
            yield f"data: {json.dumps(body)}\n\n"
            last, logs_sent = key, len(all_logs)
        if body["status"] == "COMPLETED":
            return
        now = sandbox.clock()
        changes = [job.next_change(now), sandbox.store.next_queue_change(job, now)]
        wake = min((t - now + BOUNDARY_SLACK_SECONDS for t in changes if t is not None), default=None)
        until_ping = next_ping - time.monotonic()
        await sandbox.changes.wait(min(STREAM_MAX_WAIT_SECONDS, until_ping, wake or STREAM_MAX_WAIT_SECONDS), since=version)
        if time.monotonic() >= next_ping:
            yield ": ping\n\n"
            next_ping = time.monotonic() + sandbox.config.ping_seconds


async def result(sandbox: Host, request: Request) -> Response:
    if (denied := unauthorized(request)) is not None:
        return denied
    sandbox.start_due_renders()
    job = _find(sandbox, request)
    if job is None:
        return _not_found(request)
    if job.phase(sandbox.clock()) != "COMPLETED":
        return JSONResponse({"detail": "Request is still in progress"}, status_code=400)
    code, body, headers = job.result(base_url(request))
    return JSONResponse(body, status_code=code, headers={**headers, "x-fal-request-id": job.request_id})


async def cancel(sandbox: Host, request: Request) -> Response:
    """Queued: removed, 200 OK. Running: 202 CANCELLATION_REQUESTED, cancelled shortly after.
    Finished: 400 ALREADY_COMPLETED. Unknown: 404 NOT_FOUND."""
    if (denied := unauthorized(request)) is not None:
        return denied
    job = _find(sandbox, request)
    if job is None:
        return JSONResponse({"status": "NOT_FOUND"}, status_code=404)
    now = sandbox.clock()
    phase = job.phase(now)
    if phase == "COMPLETED":
        return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)
    if phase == "IN_QUEUE":
        sandbox.store.cancel(job.request_id, "queued", now, now)
        answer, code = "OK", 200
    else:
        if job.cancel_kind is None:
            done_at = now + sandbox.config.cancel_seconds
            sandbox.store.cancel(job.request_id, "running", now, done_at)
        answer, code = "CANCELLATION_REQUESTED", 202
    sandbox.changes.notify()
    return JSONResponse({"status": answer}, status_code=code)
