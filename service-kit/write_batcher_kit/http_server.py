"""Tiny HTTP/1.1 server on the worker's event loop: /metrics, /healthz and /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

# A readiness check returns normally when ready and raises (any exception) when not.
ReadinessCheck = Callable[[], Awaitable[None]]


class PortInUseError(Exception):
    """The metrics and health port is taken: a start-up refusal, one line, no traceback."""


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthServer:
    """Served from the asyncio loop on purpose: a blocked loop fails /healthz."""

    def __init__(
        self,
        registry: CollectorRegistry,
        checks: Mapping[str, ReadinessCheck],
        *,
        port: int,
        host: str = "0.0.0.0",
        check_timeout: float = 2.0,
    ) -> None:
        self._registry = registry
        self._checks = dict(checks)
        self._host = host
        self._port = port
        self._check_timeout = check_timeout
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (differs from the requested one when that was 0)."""
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> HealthServer:
        try:
            self._server = await asyncio.start_server(self._handle, self._host, self._port)
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
            raise PortInUseError(
                f"METRICS_PORT {self._port} is in use on {self._host}: set another port "
                "(each worker on one host needs its own; 0 turns the endpoint off)"
            ) from None
        log.info("metrics and health on http://%s:%d/metrics", self._host, self.port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def readiness(self) -> dict[str, str]:
        """Each check's verdict ("ok" or the error), run concurrently with a timeout each."""

        async def run(check: ReadinessCheck) -> str:
            try:
                await asyncio.wait_for(check(), self._check_timeout)
            except Exception as err:
                return f"{type(err).__name__}: {err}".strip()
            return "ok"

        names = list(self._checks)
        verdicts = await asyncio.gather(*(run(self._checks[n]) for n in names))
        return dict(zip(names, verdicts, strict=True))

    async def _respond(self, method: str, path: str) -> tuple[int, str, bytes]:
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        route = path.split("?", 1)[0]
        if route == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self._registry)
        if route == "/healthz":
            return 200, "text/plain", b"ok\n"
        if route == "/readyz":
            verdicts = await self.readiness()
            body = "".join(f"{name}: {verdict}\n" for name, verdict in verdicts.items())
            ready = all(v == "ok" for v in verdicts.values())
            return (200 if ready else 503), "text/plain", body.encode()
        return 404, "text/plain", b"not found\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, path, _version = request_line.split(" ", 2)
            status, content_type, body = await self._respond(method, path)
            header = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(header.encode("latin-1") + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ValueError, asyncio.IncompleteReadError, ConnectionError):
            pass  # a malformed or abandoned request: just close it
        except Exception:
            log.exception("health server failed to answer a request")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
