"""The service's front door, an ASGI middleware in front of the BentoML API routes:

- an API key, when NEWSREC_API_KEY is set (`Authorization: Bearer <key>` or `X-API-Key`): 401 without it;
- JSON only: another content type gets 415 naming it;
- a body over `serve.max_body_bytes` gets 413;
- at most `serve.max_concurrency` requests in a worker at once: the next get 503 and
  `Retry-After`, instead of queueing without bound;
- an admitted request the worker should not take up any more gets 503 too (`Deadline`,
  asked by the API first): under overload the answered requests keep a short wait, and
  the rest are told at once to come back; while the worker's queue stands, a request with
  more work ahead of it than the queue target gets that 503 at the door, before its body
  is parsed or it takes a place in the queue;
- every error body in the one documented shape, {"error": str, "detail": str} (BentoML
  answers some errors with a list, or a list of field errors as the detail);
- the OpenAPI document (/docs.json) completed to match: the error statuses above, and the
  response fields that may be null declared nullable.
"""

from __future__ import annotations

import hmac
import json
import os
import time
from contextvars import ContextVar

from starlette.responses import Response

API_KEY_ENV = "NEWSREC_API_KEY"
ERROR_SCHEMA = "Error"
# the statuses the guard (or BentoML) adds to every guarded route, with what they mean
ERRORS = {
    "400": "Bad Request: the body or a field is invalid (the detail names it)",
    "401": "Unauthorized: the API key is missing or wrong",
    "413": "Payload Too Large: the body is over serve.max_body_bytes",
    "415": "Unsupported Media Type: send application/json",
    "422": "Unprocessable Entity",
    "500": "Internal Server Error",
    "503": "Service Unavailable: too many requests in flight (retry after Retry-After seconds)",
}
# when the guard admitted the request in this context (the API's thread runs in a copy of it)
ADMITTED: ContextVar[float] = ContextVar("newsrec_admitted", default=0.0)
RETRY_AFTER = (b"retry-after", b"1")


def _error(status: int, error: str, detail: str, headers: list | None = None) -> tuple[int, list, bytes]:
    body = json.dumps({"error": error, "detail": detail}).encode()
    return (
        status,
        [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])],
        body,
    )


class Deadline:
    """Which admitted requests to shed when the worker takes them up (CoDel's idea, as
    servers use it for request queues): a burst that the worker drains is served, a standing
    queue is not. While some request has waited at most the target within the last
    `interval_ms`, the queue drains and only a wait over `max_wait_ms` is shed; once none has
    for that long, the queue stands, and every wait over the target is shed, so the answered
    requests keep a short wait and the rest are told at once to come back.

    The target is `target_services` times the worker's mean service time (measured: `served`
    is told each request's time, a moving average of the last few dozen), so the rule holds
    a queue of so much work whatever the machine's speed: a fixed target in milliseconds
    sheds the bursts of a slow hour and lets a fast hour's overload wait several times longer
    than its normal load does. Without `target_services`, the target is `target_ms`, fixed
    (and `target_ms` is the mean's first guess).

    The door (`at_door`, with the target in service times) refuses a request with more work
    ahead than the target while the queue stands, and from a shed at take-up until a request
    finds the worker empty. Under overload the queue sheds at its head, a request there then
    waits under the target, the queue counts as draining again, and for the next interval
    the door let every request in, up to `serve.max_concurrency`: in the queue model
    (bench/shedding.py) three answered requests in four at 2x had come in that way, and
    waited over the target. The door shut until the worker empties holds the queue near the
    target instead; a burst ends with an empty worker and opens it."""

    ALPHA = 0.05  # the moving average's weight of the newest service time

    def __init__(
        self, target_ms: float, max_wait_ms: float, interval_ms: float = 100.0, target_services: float | None = None
    ) -> None:
        self.max_wait, self.interval = max_wait_ms / 1000, interval_ms / 1000
        self.per_service = target_services
        self.service = target_ms / 1000 / target_services if target_services else 0.0  # mean, seconds
        self.fixed = target_ms / 1000
        self.drained = time.monotonic()  # the last time a request waited at most the target
        self.shed = 0
        self.shut = False  # from a shed at take-up until a request finds the worker empty

    @classmethod
    def in_services(
        cls, target_services: float, max_wait_ms: float, first_service_ms: float = 10.0, interval_ms: float = 100.0
    ) -> Deadline:
        """A target of `target_services` mean service times, the mean first guessed at
        `first_service_ms` until requests are served."""
        return cls(first_service_ms * target_services, max_wait_ms, interval_ms, target_services)

    @property
    def target(self) -> float:
        """The queue target now, in seconds."""
        return self.per_service * self.service if self.per_service else self.fixed

    def served(self, seconds: float) -> None:
        """A request took the worker `seconds` (from take-up to its answer)."""
        self.service += self.ALPHA * (seconds - self.service)

    def at_door(self, ahead: int, now: float) -> str | None:
        """Why a request that finds `ahead` requests in the worker is to be shed before it is
        queued (its body unparsed, no place in the worker's queue taken); None to admit it.
        Only while the queue stands or the door is shut (see the class's text), and only when
        the work ahead (`ahead` times the mean service time) is over the target: it would be
        shed when taken up, later and dearer."""
        if ahead == 0:
            self.shut = False
        if not self.per_service or (now - self.drained <= self.interval and not self.shut):
            return None
        work = ahead * self.service
        if work <= self.target:
            return None
        self.shed += 1
        why = "the queue has stood" if now - self.drained > self.interval else "the worker is shedding"
        return f"{ahead} requests ahead (about {work * 1000:.0f} ms of work) and {why}; retry shortly"

    def judge(self, waited: float, now: float) -> str | None:
        """Why a request that has waited `waited` seconds when the worker takes it up at
        `now` (monotonic seconds) is to be shed; None to serve it. Counts the sheds."""
        target = self.target
        if waited <= target:
            self.drained = now
            return None
        standing = now - self.drained > self.interval
        if waited <= (target if standing else self.max_wait):
            return None
        self.shed += 1
        self.shut = True
        return "the queue has stood" if standing else "over serve.max_wait_ms"

    def overdue(self) -> Response | None:
        """A 503 for the current request if it is to be shed (see the class's text); None
        otherwise, and outside a guarded request."""
        admitted = ADMITTED.get()
        if not admitted:
            return None
        now = time.monotonic()
        waited = now - admitted
        if (why := self.judge(waited, now)) is None:
            return None
        status, _, body = _error(
            503, "overloaded", f"waited {waited * 1000:.0f} ms for the worker ({why}); retry shortly"
        )
        return Response(body, status_code=status, media_type="application/json", headers={"retry-after": "1"})


def normalized(body: bytes) -> bytes:
    """An error body in the shape {"error": str, "detail": str}, whatever shape it came in."""
    try:
        data = json.loads(body)
    except ValueError:
        return json.dumps({"error": body.decode("utf-8", "replace")[:1000] or "error", "detail": ""}).encode()
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        data = data[0]  # BentoML's 4xx from an exception: a one-element list
    if not isinstance(data, dict):
        return json.dumps({"error": json.dumps(data)[:1000], "detail": ""}).encode()
    error, detail = data.get("error", ""), data.get("detail", "")
    if isinstance(detail, list):  # pydantic's field errors: "field: message; ..."
        detail = "; ".join(
            f"{'.'.join(str(x) for x in d.get('loc', ()))}: {d.get('msg', '')}" if isinstance(d, dict) else str(d)
            for d in detail
        )
    elif not isinstance(detail, str):
        detail = json.dumps(detail)
    return json.dumps({"error": str(error) or "error", "detail": detail}).encode()


def patched_openapi(doc: dict, routes: tuple[str, ...]) -> dict:
    """The document with the guard's statuses on the guarded routes, one error schema, and
    `nullable` on every property whose default is null."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = {
        "type": "object",
        "title": ERROR_SCHEMA,
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
    }
    ref = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
    for path, ops in doc.get("paths", {}).items():
        for op in ops.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            if path in routes:
                for code, what in ERRORS.items():
                    op["responses"][code] = {"description": what, "content": {"application/json": {"schema": ref}}}
            if path == "/readyz":
                op["responses"]["503"] = {"description": "not ready: the online store or the prediction log fails"}
    for schema in _walk(doc):
        for prop in schema.get("properties", {}).values():
            if isinstance(prop, dict) and "default" in prop and prop["default"] is None:
                prop["nullable"] = True
    return doc


def _walk(node):
    if isinstance(node, dict):
        if "properties" in node:
            yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


class Guard:
    """The middleware (see the module's text). `routes`: the paths it guards."""

    def __init__(
        self,
        app,
        routes: tuple[str, ...],
        max_body_bytes: int,
        max_concurrency: int,
        deadline: Deadline | None = None,
    ) -> None:
        self.app, self.routes = app, tuple(routes)
        self.max_body, self.max_concurrency, self.deadline = max_body_bytes, max_concurrency, deadline
        self.key = os.environ.get(API_KEY_ENV) or None
        self.active = 0  # one event loop per worker: a plain counter is exact

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path == "/docs.json":
            return await self._docs(scope, receive, send)
        if path not in self.routes:
            return await self.app(scope, receive, send)
        refused = self._refusal(scope)
        body = b""
        if refused is None:
            body, refused = await self._body(receive)
        if refused is None and self.active >= self.max_concurrency:
            refused = _error(503, "overloaded", f"{self.active} requests in flight; retry shortly", [RETRY_AFTER])
        if refused is None and self.deadline and (why := self.deadline.at_door(self.active, time.monotonic())):
            refused = _error(503, "overloaded", why, [RETRY_AFTER])
        if refused is not None:
            return await _send(send, *refused)
        self.active += 1
        ADMITTED.set(time.monotonic())
        try:
            await self.app(scope, _replay(body, receive), _ErrorShape(send))
        finally:
            self.active -= 1

    def _refusal(self, scope) -> tuple | None:
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if self.key is not None:
            given = headers.get(b"x-api-key", b"").decode("latin-1")
            auth = headers.get(b"authorization", b"").decode("latin-1")
            if auth.lower().startswith("bearer "):
                given = given or auth[7:].strip()
            if not hmac.compare_digest(given.encode(), self.key.encode()):
                return _error(401, "unauthorized", f"send the API key ({API_KEY_ENV}) as X-API-Key or a Bearer token")
        if scope["method"] == "POST":
            ctype = headers.get(b"content-type", b"application/json").decode("latin-1")
            media = ctype.split(";")[0].strip().lower()
            if media != "application/json":
                return _error(415, "unsupported media type", f"send application/json, not {media or 'nothing'}")
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return _error(
                413, "body too large", f"{int(length):,} bytes; at most {self.max_body:,} (serve.max_body_bytes)"
            )
        return None

    async def _body(self, receive) -> tuple[bytes, tuple | None]:
        """The whole body, read up to the limit (a body without a length is counted as it comes)."""
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return b"", _error(400, "disconnected", "the client went away")
            size += len(msg.get("body", b""))
            if size > self.max_body:
                return b"", _error(413, "body too large", f"over {self.max_body:,} bytes (serve.max_body_bytes)")
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body", False):
                return b"".join(chunks), None

    async def _docs(self, scope, receive, send) -> None:
        parts, start = [], {}

        async def keep(msg) -> None:
            if msg["type"] == "http.response.start":
                start.update(msg)
            else:
                parts.append(msg.get("body", b""))

        await self.app(scope, receive, keep)
        body = b"".join(parts)
        if start.get("status") == 200:
            body = json.dumps(patched_openapi(json.loads(body), self.routes)).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await _send(send, start.get("status", 500), [*headers, (b"content-length", str(len(body)).encode())], body)


def _replay(body: bytes, receive):
    """A `receive` that gives the body already read, then waits on the client as before."""
    sent = False

    async def again():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


class _ErrorShape:
    """A `send` that passes a success through and rewrites an error's body to the documented shape."""

    def __init__(self, send) -> None:
        self.send, self.start, self.parts = send, None, []

    async def __call__(self, msg) -> None:
        if msg["type"] == "http.response.start":
            if msg["status"] < 400:
                return await self.send(msg)
            self.start = msg
            return None
        if self.start is None:
            return await self.send(msg)
        self.parts.append(msg.get("body", b""))
        if not msg.get("more_body", False):
            body = normalized(b"".join(self.parts))
            headers = [
                (k, v)
                for k, v in self.start.get("headers", [])
                if k.lower() not in (b"content-length", b"content-type")
            ]
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await _send(self.send, self.start["status"], headers, body)
        return None


async def _send(send, status: int, headers: list, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
