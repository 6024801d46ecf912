"""A real HTTP receiver on 127.0.0.1 for webhook tests (never any other address)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every POST; answers with the queued responses in order, then with `default`."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    responses: list[tuple[int, dict, bytes]] = field(default_factory=list)
    default: tuple[int, dict, bytes] = (200, {}, b"ok")
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def respond(self, status: int, headers: dict | None = None, body: bytes = b"") -> None:
        self.responses.append((status, headers or {}, body))


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status, headers, out = (
                    receiver.responses.pop(0) if receiver.responses else receiver.default
                )
            if receiver.delay:
                time.sleep(receiver.delay)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def receiver(settings):
    """A threaded receiver on 127.0.0.1; private receivers allowed for the test's duration."""
    settings.OPERATOR_WEBHOOK_ALLOW_PRIVATE = True
    rec = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    server.daemon_threads = True
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()
