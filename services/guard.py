"""The service's front door, an ASGI middleware in front of the BentoML API routes:

- an API key, when NEWSREC_API_KEY is set (`Authorization: Bearer <key>` or `X-API-Key`): 401 without it;
- JSON only: another content type gets 415 naming it;
- a body over `serve.max_body_bytes` gets 413;
- at most `serve.max_concurrency` requests in a worker at once: the next get 503 and
  `Retry-After`, instead of queueing without bound;
- the order the worker takes its admitted requests up in, and which it sheds (`Gate`): first
  come, first served while it keeps up; once its queue stands, newest first, and 503 with
  `Retry-After` for every request that has waited over the queue target (`Deadline`), so
  under overload the answered requests keep a short wait and the rest are told at once to
  come back;
- every error body in the one documented shape, {"error": str, "detail": str} (BentoML
  answers some errors with a list, or a list of field errors as the detail);
- the OpenAPI document (/docs.json) completed to match: the error statuses above, and the
  response fields that may be null declared nullable.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import time
from collections import deque

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
RETRY_AFTER = (b"retry-after", b"1")


def _error(status: int, error: str, detail: str, headers: list | None = None) -> tuple[int, list, bytes]:
    body = json.dumps({"error": error, "detail": detail}).encode()
    return (
        status,
        [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])],
        body,
    )


class Deadline:
    """A worker's queue target and longest wait (the Gate sheds by them).

    The target is `target_services` times the worker's mean service time (measured: `served`
    is told each request's time, a moving average of the last few dozen), so the rule holds
    a queue of so much work whatever the machine's speed: a fixed target in milliseconds
    sheds the bursts of a slow hour and lets a fast hour's overload wait several times longer
    than its normal load does. Without `target_services`, the target is `target_ms`, fixed
    (and `target_ms` is the mean's first guess). `interval_ms`: how long a queue must stand
    before it is shed; `max_wait_ms`: the longest wait, queue standing or not. `shed`: the
    requests shed so far."""

    ALPHA = 0.05  # the moving average's weight of the newest service time

    def __init__(
        self, target_ms: float, max_wait_ms: float, interval_ms: float = 100.0, target_services: float | None = None
    ) -> None:
        self.max_wait, self.interval = max_wait_ms / 1000, interval_ms / 1000
        self.per_service = target_services
        self.service = target_ms / 1000 / target_services if target_services else 0.0  # mean, seconds
        self.fixed = target_ms / 1000
        self.shed = 0

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


class Gate:
    """The order in which a worker takes up the requests it admitted, and which it sheds:
    adaptive LIFO with CoDel's standing-queue test, as large services run their request
    queues ("Fail at Scale", ACM Queue 2015).

    - While the worker keeps up: first come, first served; a request that has waited over
      `max_wait_ms` gets 503. A burst the worker drains is served in order, however long.
    - Once the oldest waiting request has been over the target (`Deadline.target`, in the
      worker's service times) for `interval_ms` (or the worker was held that long), the queue
      stands: every request that has waited over the target gets 503 at once, and the newest
      goes on first. Under overload the answered requests are those that just came, after a
      short wait; the rest are told at once to come back. It stands until a request finds
      the worker free (the worker has caught up with the arrivals); within RECUR intervals of
      that, a wait over the target makes it stand again at once.

    `slots` requests go on to the API at once: one in the worker's thread and one being read
    behind it, so the thread never waits for the event loop."""

    RECUR = 10  # intervals after the queue last stood in which it stands again at once

    def __init__(self, deadline: Deadline, slots: int = 2) -> None:
        self.deadline, self.slots, self.busy = deadline, slots, 0
        self.waiting: deque = deque()  # (admitted, future): the future's result is None (go on) or why shed
        self.under = time.monotonic()  # the last time no request had waited over the target
        self.standing = False
        self.caught_up = -1e9  # when the queue last stopped standing

    def admit(self, now: float) -> bool:
        """Whether a request admitted at `now` goes straight on, holding a slot: the worker has
        one free and no request waits (it has caught up: the queue no longer stands)."""
        if self.busy < self.slots and not self.waiting:
            self.busy += 1
            if self.standing:
                self.standing, self.caught_up = False, now
            self.under = now
            return True
        return False

    async def enter(self, admitted: float) -> str | None:
        """Wait for this request's turn: None to go on to the API (then `leave` after it), or
        why it is shed."""
        if self.admit(admitted):
            return None
        turn = asyncio.get_running_loop().create_future()
        entry = (admitted, turn)
        self.waiting.append(entry)
        try:
            return await turn
        except asyncio.CancelledError:  # the client went away
            if turn.done() and not turn.cancelled() and turn.result() is None:
                self.leave()  # its turn had come: passed on
            elif entry in self.waiting:
                self.waiting.remove(entry)
            raise

    def leave(self) -> None:
        self.busy -= 1
        if self.waiting:  # most requests leave with none behind them: nothing to decide
            self.next(time.monotonic())

    def next(self, now: float) -> None:
        """Shed what is due and give the free slots their requests."""
        d, w = self.deadline, self.waiting
        while self.busy < self.slots and w:
            target = d.target
            if now - w[0][0] <= target:
                self.under = now
            # the queue stands once no request has been under the target for the interval; or at
            # once, within RECUR intervals of the last time it stood (overload that a moment's
            # catching up interrupted, as CoDel resumes dropping)
            recent = now - self.caught_up < self.RECUR * d.interval
            if not self.standing and now - self.under > (0.0 if recent else d.interval):
                self.standing = True
            limit = target if self.standing else d.max_wait
            while w and now - w[0][0] > limit:
                admitted, turn = w.popleft()
                if turn.done():  # its client went away (cancelled), not yet taken out
                    continue
                d.shed += 1
                why = "the queue has stood" if self.standing else "over serve.max_wait_ms"
                turn.set_result(f"waited {(now - admitted) * 1000:.0f} ms for the worker ({why}); retry shortly")
            if w and not (turn := (w.pop() if self.standing else w.popleft())[1]).done():
                self.busy += 1
                turn.set_result(None)


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
        gate: Gate | None = None,
    ) -> None:
        self.app, self.routes = app, tuple(routes)
        self.max_body, self.max_concurrency = max_body_bytes, max_concurrency
        self.key = os.environ.get(API_KEY_ENV) or None
        self.gate = gate
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
        if refused is not None:
            return await _send(send, *refused)
        self.active += 1
        admitted = time.monotonic()
        try:
            if self.gate is not None and (why := await self.gate.enter(admitted)) is not None:
                return await _send(send, *_error(503, "overloaded", why, [RETRY_AFTER]))
            try:
                await self.app(scope, _replay(body, receive), _ErrorShape(send))
            finally:
                if self.gate is not None:
                    self.gate.leave()
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
