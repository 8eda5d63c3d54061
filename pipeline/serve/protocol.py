"""uvicorn's HTTP/1.1 connection (h11), bounded before the app sees a request.

Two things happen on a connection before any route runs, and uvicorn leaves both open:

- **Idle and trickling clients.** uvicorn times a connection out only after a response (its
  keep-alive), and any byte cancels that timer for good: a client that connects and never
  sends, sends its request head a byte at a time, or trickles a body that was answered unread
  (404, 415), holds a connection forever. Here a new connection gets the same
  ``serve.keep_alive_s`` to send its first byte as a kept-alive one (and so does one waiting
  for its next request), a request head that has started must be complete within
  ``serve.body_timeout_s`` (the bound the app puts on the body), else 408 and the connection is
  closed, and a body still arriving after its answer gets ``serve.body_timeout_s`` to finish.
- **Requests h11 cannot parse** (a malformed request line, a head over h11's 16 KB): uvicorn
  answers them in plain text. Here they get the API's ``{"error": ...}`` with the same security
  headers as every other answer: 431 for a head too large, else 400.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import H11Protocol

LINGER_S = 2.0  # how long a refused connection's further bytes are read and dropped
SECURITY_HEADERS = {"x-content-type-options": "nosniff"}  # the CSP is added by the caller


def raw_error(status: int, message: str, csp: str) -> bytes:
    """A complete HTTP/1.1 error answer that closes the connection, as bytes."""
    body = json.dumps({"error": message}).encode()
    headers = {
        "content-type": "application/json",
        "content-length": str(len(body)),
        "connection": "close",
        **SECURITY_HEADERS,
        "content-security-policy": csp,
    }
    head = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + "\r\n").encode("latin-1") + body


def bounded_h11(csp: str, head_timeout_s: float) -> type[asyncio.Protocol]:
    """The connection class for ``uvicorn.Config(http=...)``: ``csp`` on its own answers, a
    request head given ``head_timeout_s`` from its first byte, and a request body still
    arriving after its answer (a 404 or 415 answered unread) ``head_timeout_s`` to finish."""

    class BoundedH11(H11Protocol):
        head_timer: asyncio.TimerHandle | None = None
        drain_timer: asyncio.TimerHandle | None = None
        refused = False  # answered and closing: what the client still sends is dropped

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_idle()  # no first byte in time -> closed, like a kept-alive connection

        def _arm_idle(self) -> None:
            """uvicorn's keep-alive timer, where uvicorn leaves none: a connection waiting for
            its first request, or for the next one after a body that ended after its answer
            (uvicorn cancels the timer at every byte and restarts it only after a response)."""
            if self.timeout_keep_alive_task is None:
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )

        def data_received(self, data: bytes) -> None:
            if self.refused:
                return
            super().data_received(data)
            if self.transport.is_closing():
                self._stop_timers()
            elif self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
                if self.head_timer is None:  # a head has started and is not complete
                    self.head_timer = self.loop.call_later(head_timeout_s, self._head_too_slow)
            elif self.conn.their_state is h11.IDLE:  # between requests
                self._cancel("head_timer")
                self._arm_idle()
            else:
                self._cancel("head_timer")

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # Answered before the client finished sending (a 404, 405 or 415 does not read the
            # body): uvicorn would read the rest for as long as bytes keep coming. It gets
            # head_timeout_s to finish, however it trickles.
            if not self.transport.is_closing() and self.conn.their_state is h11.SEND_BODY:
                self._cancel("drain_timer")
                over = self._drain_over
                self.drain_timer = self.loop.call_later(head_timeout_s, over, self.cycle)

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timers()
            super().connection_lost(exc)

        def _cancel(self, name: str) -> None:
            timer = getattr(self, name)
            if timer is not None:
                timer.cancel()
                setattr(self, name, None)

        def _stop_timers(self) -> None:
            self._cancel("head_timer")
            self._cancel("drain_timer")

        def _head_too_slow(self) -> None:
            self.head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self._refuse(408, f"the request head did not arrive within {head_timeout_s:g} s")

        def _drain_over(self, cycle: Any) -> None:
            self.drain_timer = None
            still = self.cycle is cycle and self.conn.their_state is h11.SEND_BODY
            if still and not self.transport.is_closing():
                self.transport.close()  # its answer went out already

        def send_400_response(self, msg: str) -> None:
            limit = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
            if len(self.conn.trailing_data[0]) >= limit:
                status, message = 431, f"the request head is over {limit} bytes"
            else:
                status, message = 400, "invalid HTTP request: it could not be parsed"
            self._refuse(status, message)

        def _refuse(self, status: int, message: str) -> None:
            """Answer, end our side, and drop what the client still sends for a moment before
            closing: closing at once with unread bytes would reset the connection, and the
            client could lose the answer. A request the app is answering (a chunked body that
            turned out malformed) is cut off from it: what the app still sends is dropped."""
            self.refused = True
            self._stop_timers()
            cycle = self.cycle
            answered = cycle is not None and cycle.response_started
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
            if not answered:  # one answer per request: after the app's, just close
                self.transport.write(raw_error(status, message, csp))
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)

    return BoundedH11
