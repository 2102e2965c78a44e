"""fal's storage protocol: the CDN token, single and multipart uploads (Python and JS styles), files.

Python fal_client: `POST /storage/auth/token` (Key) then `POST {base_url}/files/upload` (Bearer),
or `/files/upload/multipart`, `PUT {access_url}/multipart/{id}/{n}`, `POST …/complete`.
JS client and fal_client's `fal` fallback: `POST /storage/upload/initiate` (Key) then `PUT
upload_url`; `initiate-multipart` then `PUT {upload_url}/{n}` and `POST {upload_url}/complete`.
Upload bodies are streamed to disk, never held whole in memory.
"""

from __future__ import annotations

import mimetypes
import secrets

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from pika_mcp.sandbox.host import Host
from pika_mcp.sandbox.job import iso
from pika_mcp.sandbox.queue import base_url, unauthorized
from pika_mcp.sandbox.record import parse_json

OCTET_STREAM = "application/octet-stream"
BAD_TOKEN = "Send a storage token from /storage/auth/token as 'Authorization: Bearer <token>'."


def _bearer_refused(sandbox: Host, request: Request) -> Response | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and sandbox.store.token_valid(token.strip(), sandbox.clock()):
        return None
    return JSONResponse({"detail": BAD_TOKEN}, status_code=401)


def _content_type(request: Request) -> str:
    return request.headers.get("content-type") or OCTET_STREAM


async def token(sandbox: Host, request: Request) -> Response:
    if (denied := unauthorized(request)) is not None:
        return denied
    value = secrets.token_urlsafe(24)
    expires_at = sandbox.clock() + sandbox.config.token_seconds
    sandbox.store.add_token(value, expires_at)
    return JSONResponse(
        {
            "token": value,
            "token_type": "Bearer",
            "base_url": base_url(request),
            "expires_at": iso(expires_at),
        }
    )


async def upload(sandbox: Host, request: Request) -> Response:
    if (denied := _bearer_refused(sandbox, request)) is not None:
        return denied
    path = sandbox.files.new_path(request.headers.get("x-fal-file-name"))
    size = await sandbox.files.write(path, request.stream())
    sandbox.store.add_file(path, _content_type(request), size)
    return JSONResponse({"access_url": f"{base_url(request)}/{path}"})


async def multipart_create(sandbox: Host, request: Request) -> Response:
    if (denied := _bearer_refused(sandbox, request)) is not None:
        return denied
    path = sandbox.files.new_path(request.headers.get("x-fal-file-name"))
    upload_id = secrets.token_urlsafe(12)
    sandbox.store.add_upload(upload_id, path, _content_type(request))
    return JSONResponse({"access_url": f"{base_url(request)}/{path}", "uploadId": upload_id})


def _cdn_upload(sandbox: Host, request: Request) -> tuple[str, str] | None:
    params = request.path_params
    found = sandbox.store.upload(params["upload_id"])
    expected = f"files/{params['token']}/{params['name']}"
    return found if found is not None and found[0] == expected else None


async def multipart_part(sandbox: Host, request: Request) -> Response:
    if (denied := _bearer_refused(sandbox, request)) is not None:
        return denied
    if _cdn_upload(sandbox, request) is None:
        return JSONResponse({"detail": "Multipart upload not found."}, status_code=404)
    return await _write_part(sandbox, request)


async def multipart_complete(sandbox: Host, request: Request) -> Response:
    if (denied := _bearer_refused(sandbox, request)) is not None:
        return denied
    found = _cdn_upload(sandbox, request)
    if found is None:
        return JSONResponse({"detail": "Multipart upload not found."}, status_code=404)
    return await _complete(sandbox, request, found, "access_url")


async def initiate(sandbox: Host, request: Request) -> Response:
    """JS-style single upload: answer a URL to PUT the bytes to, and the file's final URL."""
    return await _initiate(sandbox, request, "storage/upload")


async def initiate_multipart(sandbox: Host, request: Request) -> Response:
    return await _initiate(sandbox, request, "storage/multipart")


async def _initiate(sandbox: Host, request: Request, route: str) -> Response:
    if (denied := unauthorized(request)) is not None:
        return denied
    data = parse_json(await request.body())
    data = data if isinstance(data, dict) else {}
    path = sandbox.files.new_path(data.get("file_name"))
    upload_id = secrets.token_urlsafe(16)
    sandbox.store.add_upload(upload_id, path, data.get("content_type") or OCTET_STREAM)
    base = base_url(request)
    return JSONResponse({"upload_url": f"{base}/{route}/{upload_id}", "file_url": f"{base}/{path}"})


async def signed_put(sandbox: Host, request: Request) -> Response:
    """The PUT to an initiated upload URL; the unguessable id is the credential, as signed URLs."""
    upload_id = request.path_params["upload_id"]
    found = sandbox.store.upload(upload_id)
    if found is None:
        return JSONResponse({"detail": "Upload URL not found or already used."}, status_code=404)
    path, declared_type = found
    size = await sandbox.files.write(path, request.stream())
    sandbox.store.add_file(path, request.headers.get("content-type") or declared_type, size)
    sandbox.store.drop_upload(upload_id)
    return Response(status_code=200)


async def signed_part(sandbox: Host, request: Request) -> Response:
    if sandbox.store.upload(request.path_params["upload_id"]) is None:
        return JSONResponse({"detail": "Multipart upload not found."}, status_code=404)
    return await _write_part(sandbox, request)


async def signed_complete(sandbox: Host, request: Request) -> Response:
    found = sandbox.store.upload(request.path_params["upload_id"])
    if found is None:
        return JSONResponse({"detail": "Multipart upload not found."}, status_code=404)
    return await _complete(sandbox, request, found, "file_url")


async def _write_part(sandbox: Host, request: Request) -> Response:
    params = request.path_params
    number = int(params["part"])
    etag = await sandbox.files.write_part(params["upload_id"], number, request.stream())
    return JSONResponse({"partNumber": number, "etag": etag}, headers={"ETag": etag})


async def _complete(sandbox: Host, request: Request, found: tuple[str, str], key: str) -> Response:
    upload_id = request.path_params["upload_id"]
    data = parse_json(await request.body())
    try:
        parts = [(int(p["partNumber"]), str(p["etag"])) for p in data["parts"]]
        size = await anyio.to_thread.run_sync(sandbox.files.complete, upload_id, found[0], parts)
    except (KeyError, TypeError, ValueError) as exc:
        detail = f"Cannot complete the upload: {exc}" if isinstance(exc, ValueError) else None
        body = detail or "Send {'parts': [{'partNumber': n, 'etag': etag}, …]}."
        return JSONResponse({"detail": body}, status_code=400)
    sandbox.store.add_file(found[0], found[1], size)
    sandbox.store.drop_upload(upload_id)
    return JSONResponse({key: f"{base_url(request)}/{found[0]}"})


async def download(sandbox: Host, request: Request) -> Response:
    """Serve a stored file, streamed, with its content type, Content-Length and Range support."""
    relative = f"files/{request.path_params['path']}"
    if sandbox.files.joining(relative):  # a multipart upload completed a moment ago
        await anyio.to_thread.run_sync(sandbox.files.wait_joined, relative)
    target = sandbox.files.disk(relative)
    hidden = any(part.startswith(".") for part in relative.split("/"))
    if target is None or hidden or not target.is_file():
        return JSONResponse({"detail": "File not found."}, status_code=404)
    content_type = sandbox.store.file_type(relative) or mimetypes.guess_type(target.name)[0]
    return FileResponse(target, media_type=content_type or OCTET_STREAM)
