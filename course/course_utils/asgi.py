"""Run an ASGI app (FastAPI, Starlette) on a loopback port, in this process (partie-10).

The gateway of partie-10 and the labs that test one are real HTTP servers that
``httpx`` and the ``openai`` client reach on 127.0.0.1, as they would reach a
deployed service. :func:`running_app` starts ``uvicorn`` in a background thread
(the notebook's kernel stays free to send requests), waits until the socket
accepts connections, and stops the server when the block ends, whatever
happened inside it. :meth:`AppServer.stop` stops it early: a backend "dies"
in the middle of a load test.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from .serving import free_port

START_TIMEOUT = 20.0


class _Server(uvicorn.Server):
    """uvicorn's server, whose shutdown also closes the connections that register after it began.

    uvicorn asks the connections it knows to close, then waits for them. One the listening socket accepted just
    before closing registers a moment later: nobody asks it, and a keep-alive client goes on sending it requests
    (a "stopped" backend keeps serving, and stopping waits for the keep-alive timeout).
    """

    async def shutdown(self, sockets=None) -> None:
        asked = set(self.server_state.connections)  # those uvicorn asks before its first await

        async def ask_latecomers() -> None:
            while True:
                await asyncio.sleep(0.01)
                for connection in self.server_state.connections - asked:
                    asked.add(connection)
                    connection.shutdown()

        watcher = asyncio.create_task(ask_latecomers())
        try:
            await super().shutdown(sockets)
        finally:
            watcher.cancel()


class AppServer:
    """One uvicorn server in a daemon thread; ``url`` is its base URL."""

    def __init__(self, app, port: int | None = None, host: str = "127.0.0.1"):
        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}"
        # no access log, no signal handlers (not the main thread), warnings only
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning", access_log=False, lifespan="on")
        self._server = _Server(config)
        # IPPROTO_TCP named: asyncio then sets TCP_NODELAY on accepted connections (else each hop waits ~40 ms
        # for a delayed acknowledgement)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:  # bound here, so that a taken port is an error in the caller's thread, not a log line
            self._socket.bind((host, self.port))
        except OSError as exc:
            self._socket.close()
            raise RuntimeError(f"le port {self.port} est déjà pris : le serveur ASGI n'a pas démarré ({exc})") from None
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=f"uvicorn-{self.port}", daemon=True
        )

    def start(self, timeout: float = START_TIMEOUT) -> AppServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"le serveur ASGI n'a pas démarré sur le port {self.port}")
            time.sleep(0.01)
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._server.should_exit

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting connections and end the thread (open streams are cut after ``timeout``)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        self._socket.close()


@contextlib.contextmanager
def running_app(app, port: int | None = None) -> Iterator[AppServer]:
    """``with running_app(app) as server:`` requests go to ``server.url`` until the block ends."""
    server = AppServer(app, port).start()
    try:
        yield server
    finally:
        server.stop()
