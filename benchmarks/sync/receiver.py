"""A minimal local HTTP receiver for the sync benchmark: parses each batch, counts rows, acks.

Run in its own process: ``python benchmarks/sync/receiver.py PORT_FILE``. It writes its port to
PORT_FILE; GET /stats returns {"requests", "rows"}.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

stats = {"requests": 0, "rows": 0}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with lock:
            stats["requests"] += 1
            stats["rows"] += len(payload["rows"])
        self._send(b'{"ok":true}')

    def do_GET(self) -> None:
        with lock:
            self._send(json.dumps(stats).encode())

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1], "w") as fh:
        fh.write(str(server.server_address[1]))
    server.serve_forever()
