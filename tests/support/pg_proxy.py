"""A TCP proxy in front of PostgreSQL that can cut a connection at COMMIT, either way round.

``cut_before``: COMMIT never reaches the server (the transaction is rolled back);
``cut_after``: the server commits, its answer never reaches the client. Either way the client
sees its connection drop during COMMIT: a commit in doubt. Clients must not use TLS
(``sslmode=disable``): the proxy reads the protocol's message types.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

Mode = Literal["pass", "cut_before", "cut_after"]
# Untyped requests a client may send before its startup message: SSL and GSS encryption.
_ENCRYPTION_REQUESTS = {80877103, 80877104}


@dataclass
class PgProxy:
    upstream_host: str
    upstream_port: int
    # A Unix-socket directory (``?host=/dir`` in the URL, as the embedded server gives).
    upstream_socket_dir: str | None = None
    mode: Mode = "pass"
    cuts: int = 0
    port: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, upstream_url: str) -> str:
        parts = urlsplit(upstream_url)
        netloc = parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.port}"
        netloc_out = f"{netloc[0]}@{host}" if len(netloc) == 2 else host
        # The proxy's TCP address replaces the upstream's, a socket directory included.
        params = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("host", "port")]
        query = urlencode([("sslmode", "disable"), *params])
        return urlunsplit(parts._replace(netloc=netloc_out, query=query))

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.upstream_socket_dir is not None:
            path = f"{self.upstream_socket_dir}/.s.PGSQL.{self.upstream_port}"
            return await asyncio.open_unix_connection(path)
        return await asyncio.open_connection(self.upstream_host, self.upstream_port)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await self._connect()
        committed = asyncio.Event()
        writers = (client_w, server_w)

        def cut() -> None:
            self.cuts += 1
            for w in writers:
                w.transport.abort()

        async def upstream() -> None:
            typed = False
            while True:
                if not typed:
                    head = await client_r.readexactly(4)
                    body = await client_r.readexactly(struct.unpack("!i", head)[0] - 4)
                    code = struct.unpack("!i", body[:4])[0]
                    typed = code not in _ENCRYPTION_REQUESTS
                    server_w.write(head + body)
                    continue
                kind = await client_r.readexactly(1)
                head = await client_r.readexactly(4)
                body = await client_r.readexactly(struct.unpack("!i", head)[0] - 4)
                is_commit = kind == b"Q" and body.lstrip().upper().startswith(b"COMMIT")
                if is_commit and self.mode == "cut_before":
                    cut()
                    return
                server_w.write(kind + head + body)
                if is_commit and self.mode == "cut_after":
                    committed.set()

        async def downstream() -> None:
            while data := await server_r.read(65536):
                if committed.is_set():
                    # The server answered the COMMIT: it is done; the client never hears so.
                    cut()
                    return
                client_w.write(data)

        pumps = {asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())}
        try:
            # Either side closing closes the other: a client's Terminate ends the connection.
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in writers:
                w.transport.abort()
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    def _spawn(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(r, w))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@asynccontextmanager
async def pg_proxy(upstream_url: str) -> AsyncIterator[PgProxy]:
    parts = urlsplit(upstream_url)
    query = dict(parse_qsl(parts.query))
    socket_dir = query.get("host") if query.get("host", "").startswith("/") else None
    port = int(query.get("port") or parts.port or 5432)
    proxy = PgProxy(parts.hostname or "127.0.0.1", port, socket_dir)
    server = await asyncio.start_server(proxy._spawn, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        for task in list(proxy._tasks):
            task.cancel()
        await asyncio.gather(*proxy._tasks, return_exceptions=True)
        await server.wait_closed()
