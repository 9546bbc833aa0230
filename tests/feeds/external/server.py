"""A real local HTTP server for feed tests: serves bodies by path with ETag and Last-Modified, answers
conditional requests with 304, and can be told to fail (a status, a hang, garbage) per path."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Served:
    body: bytes
    content_type: str = "application/json"
    etag: str = ""
    last_modified: str = ""
    validators: bool = True  # False: a server that sends neither ETag nor Last-Modified


@dataclass
class FeedServer:
    """``put(path, body)`` changes what ``path`` serves (new ETag); ``fail(path, ...)`` makes it fail."""

    paths: dict[str, Served] = field(default_factory=dict)
    failures: dict[str, tuple[str, object]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _version: int = 0

    def put(self, path: str, body: bytes, content_type: str = "application/json", validators: bool = True) -> None:
        self._version += 1
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        self.paths[path] = Served(body, content_type, etag, formatdate(1_700_000_000 + self._version, usegmt=True),
                                  validators)

    def fail(self, path: str, how: str, value: object = None) -> None:
        """``how``: "status" (value: code), "hang" (value: seconds), "garbage" (value: bytes)."""
        self.failures[path] = (how, value)

    def recover(self, path: str) -> None:
        self.failures.pop(path, None)

    def url(self, path: str) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def start(self) -> FeedServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append((self.path, dict(self.headers)))
                failure = owner.failures.get(self.path)
                if failure is not None:
                    how, value = failure
                    if how == "hang":
                        time.sleep(float(value))  # type: ignore[arg-type]
                        self.send_response(200)
                        self.end_headers()
                        return
                    if how == "status":
                        self.send_response(int(value))  # type: ignore[arg-type]
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    body = bytes(value)  # type: ignore[arg-type]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                served = owner.paths.get(self.path)
                if served is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if served.validators and (self.headers.get("If-None-Match") == served.etag
                                          or (self.headers.get("If-None-Match") is None
                                              and self.headers.get("If-Modified-Since") == served.last_modified)):
                    self.send_response(304)
                    self.send_header("ETag", served.etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", served.content_type)
                self.send_header("Content-Length", str(len(served.body)))
                if served.validators:
                    self.send_header("ETag", served.etag)
                    self.send_header("Last-Modified", served.last_modified)
                self.end_headers()
                self.wfile.write(served.body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
