"""A minimal, fast local HTTP receiver for the sync benchmark: parses each batch, counts rows, acks.

Run in its own process: ``python benchmarks/sync/receiver.py PORT_FILE``. It writes its port to
PORT_FILE; ``GET /stats`` returns ``{"requests", "rows"}``; ``POST`` of a webhook batch answers
``{"ok": true}`` after parsing the whole body with orjson and counting its rows.

It is a single-threaded asyncio server speaking just enough HTTP/1.1 (keep-alive,
``Content-Length`` bodies), so that the receiver is not what the benchmark measures: alone it takes
several hundred thousand rows/s (``python benchmarks/sync/receiver.py --selftest``).
"""

from __future__ import annotations

import asyncio
import sys

import orjson

stats = {"requests": 0, "rows": 0}
MAX_HEADER = 64 * 1024


def _response(status: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            except asyncio.LimitOverrunError:
                writer.write(_response("431 Request Header Fields Too Large", b'{"error":"headers"}'))
                return
            lines = head.decode("latin-1").split("\r\n")
            method = lines[0].split(" ", 1)[0]
            length = 0
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            body = await reader.readexactly(length) if length else b""
            if method == "POST":
                try:
                    payload = orjson.loads(body)
                    rows = len(payload["rows"])
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    writer.write(_response("400 Bad Request", b'{"error":"not a batch"}'))
                    await writer.drain()
                    continue
                stats["requests"] += 1
                stats["rows"] += rows
                writer.write(_response("200 OK", b'{"ok":true}'))
            else:
                writer.write(_response("200 OK", orjson.dumps(stats)))
            await writer.drain()
            if close:
                return
    finally:
        writer.close()


async def serve(port_file: str) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=MAX_HEADER)
    with open(port_file, "w") as fh:  # noqa: ASYNC230 - once, before serving
        fh.write(str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()


def selftest(batches: int = 200, rows: int = 5000, concurrency: int = 1) -> None:
    """What the receiver alone takes: a client that posts one pre-built batch over and over."""
    import subprocess
    import tempfile
    import time
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    import httpx

    port_file = Path(tempfile.mkdtemp()) / "port"
    proc = subprocess.Popen([sys.executable, __file__, str(port_file)])
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text()}/bulk"
        body = orjson.dumps(
            {
                "sync": "bench",
                "batch_id": "selftest",
                "rows": [
                    {
                        "op": "upsert",
                        "key": f"P{i:09d}",
                        "idempotency_key": "0123456789abcdef0123456789abcdef",
                        "fields": {
                            "profile_id": f"P{i:09d}",
                            "email": f"user{i}@example.com",
                            "first_name": f"First{i % 997}",
                            "lifetime_value": i * 1.37,
                            "tier": "vip",
                        },
                    }
                    for i in range(rows)
                ],
            }
        )
        with httpx.Client(limits=httpx.Limits(max_connections=concurrency)) as client:

            def post(_: int) -> None:
                client.post(
                    url, content=body, headers={"Content-Type": "application/json"}
                ).raise_for_status()

            t = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(post, range(batches)))
            elapsed = time.perf_counter() - t
        print(
            f"receiver alone: {batches * rows / elapsed:,.0f} rows/s "
            f"({batches} batches of {rows} rows, {len(body):,} bytes each, {concurrency} in flight)"
        )
    finally:
        proc.terminate()
        proc.wait()
        port_file.unlink()
        port_file.parent.rmdir()


if __name__ == "__main__":
    if sys.argv[1] == "--selftest":
        selftest(concurrency=int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    else:
        asyncio.run(serve(sys.argv[1]))
