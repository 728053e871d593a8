"""Reading a prediction request's body without letting a client hold memory or a connection at will.

Three bounds, each answered with a JSON error naming it:

* **size** (413): a body over the limit is refused as soon as it passes it — at once when a
  ``Content-Length`` declares more, else after the byte that crosses it arrives — and
  never buffered whole first, so a 1 GB CSV header costs at most the limit;
* **time** (408): the whole body must arrive within ``MLOPS_BODY_READ_TIMEOUT_S`` seconds
  of the first read (default 30). uvicorn's ``timeout_keep_alive`` only covers the wait
  *between* requests, so without this a client that sends a byte every few seconds (slow
  loris) holds its request open for ever;
* **bytes in flight** (503, ``Retry-After``): the bodies still arriving across all requests
  of the process may hold at most ``MLOPS_BODY_BYTES_IN_FLIGHT`` bytes (default four times
  the size limit), so many slow clients each sending just under the limit cannot add up to
  more memory than that.

Every refusal before the body was read to its end also answers ``Connection: close``, so
uvicorn drops the connection instead of reading (and discarding) the rest of a huge or
endless body to reach the next request. A client that hangs up mid-body is a 400 (logged as
an answer, not as an unexpected error with a traceback).

The request's headers are uvicorn's alone: it has no deadline for them, so a client that
trickles its *headers* holds a connection (a socket, no task) until it stops; put a proxy
with a header timeout in front of a server open to untrusted clients.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

from fastapi import HTTPException, Request
from starlette.requests import ClientDisconnect

#: Seconds a request's whole body may take to arrive (slow-loris guard).
BODY_READ_TIMEOUT_ENV = "MLOPS_BODY_READ_TIMEOUT_S"
DEFAULT_BODY_READ_TIMEOUT_S = 30.0
#: Bytes that the bodies still being read may hold together in one server process.
BODY_BYTES_IN_FLIGHT_ENV = "MLOPS_BODY_BYTES_IN_FLIGHT"

_CLOSE = {"Connection": "close"}


def _positive(env: str, raw: str, kind: type[float] | type[int]) -> float:
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{env}={raw!r} is not valid: expected a positive number")
    return value


@dataclass
class BodyLimits:
    """The bounds of :func:`read_body` and the bytes it holds right now (one per app)."""

    read_timeout_s: float = DEFAULT_BODY_READ_TIMEOUT_S
    #: ``None``: four times the size limit in force when a body is read.
    in_flight_bytes: int | None = None
    held: int = field(default=0, init=False)

    @classmethod
    def from_environment(cls) -> BodyLimits:
        """Read ``MLOPS_BODY_READ_TIMEOUT_S`` and ``MLOPS_BODY_BYTES_IN_FLIGHT``; a bad value fails start-up."""
        timeout = os.environ.get(BODY_READ_TIMEOUT_ENV, "").strip()
        in_flight = os.environ.get(BODY_BYTES_IN_FLIGHT_ENV, "").strip()
        return cls(
            read_timeout_s=_positive(BODY_READ_TIMEOUT_ENV, timeout, float)
            if timeout
            else DEFAULT_BODY_READ_TIMEOUT_S,
            in_flight_bytes=int(_positive(BODY_BYTES_IN_FLIGHT_ENV, in_flight, int)) if in_flight else None,
        )


async def read_body(request: Request, *, limit: int, limits: BodyLimits) -> bytes:
    """The body, within the size, time and in-flight bounds (see the module docstring)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(
            status_code=413,
            detail=f"request body over {limit} bytes: Content-Length declares {int(declared)}",
            headers=_CLOSE,
        )
    budget = limits.in_flight_bytes if limits.in_flight_bytes is not None else 4 * limit
    buffer = bytearray()
    try:
        async with asyncio.timeout(limits.read_timeout_s):
            async for chunk in request.stream():
                if len(buffer) + len(chunk) > limit:
                    raise HTTPException(
                        status_code=413, detail=f"request body over {limit} bytes", headers=_CLOSE
                    )
                if limits.held + len(chunk) > budget:
                    raise HTTPException(
                        status_code=503,
                        detail=f"the server is already reading {limits.held} bytes of request bodies "
                        f"(at most {budget}, {BODY_BYTES_IN_FLIGHT_ENV}); retry shortly",
                        headers={**_CLOSE, "Retry-After": "1"},
                    )
                limits.held += len(chunk)
                buffer += chunk
    except ClientDisconnect:
        # Nobody is left to answer; a 400 rather than the unexpected-error path's 500 and traceback.
        raise HTTPException(
            status_code=400, detail=f"the client closed the connection after {len(buffer)} bytes of the body"
        ) from None
    except TimeoutError:
        raise HTTPException(
            status_code=408,
            detail=f"the request body did not arrive within {limits.read_timeout_s:g} s "
            f"({len(buffer)} bytes received; {BODY_READ_TIMEOUT_ENV})",
            headers=_CLOSE,
        ) from None
    finally:
        limits.held -= len(buffer)
    return bytes(buffer)
