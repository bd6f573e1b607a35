"""course_utils.asgi: a real loopback server that starts, answers and stops."""

import asyncio
import socket

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from course_utils import asgi
from course_utils.asgi import AppServer, running_app


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    def ping(name: str = "monde") -> dict:
        return {"bonjour": name}

    return app


def test_running_app_serves_then_stops():
    with running_app(_app()) as server:
        assert server.url.startswith("http://127.0.0.1:")
        response = httpx.get(f"{server.url}/ping", params={"name": "cours"})
        assert response.status_code == 200 and response.json() == {"bonjour": "cours"}
        assert server.alive
    assert not server.alive
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/ping", timeout=2)


def test_stop_early_then_block_exit_is_harmless():
    with running_app(_app()) as server:
        server.stop()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/ping", timeout=2)


def test_port_in_use_is_a_clear_error():
    with running_app(_app()) as first:
        with pytest.raises(RuntimeError, match="déjà pris"):
            AppServer(_app(), port=first.port)


def test_listening_socket_names_tcp_so_asyncio_sets_nodelay():
    # asyncio sets TCP_NODELAY on accepted connections only for IPPROTO_TCP sockets; without it every
    # request of a kept-alive connection waits ~40 ms for a delayed acknowledgement
    with running_app(_app()) as server:
        assert server._socket.proto == socket.IPPROTO_TCP


def test_shutdown_closes_a_connection_that_registers_late():
    # A connection accepted as the listening socket closes joins server_state after uvicorn asked the others to
    # close; unasked, it kept serving its keep-alive client and the shutdown waited for it.
    server = asgi._Server(uvicorn.Config(_app()))
    server.servers, server.force_exit = [], True  # this server never started: no listener, no lifespan

    class LateConnection:
        def shutdown(self):
            server.server_state.connections.discard(self)

    async def shut_down():
        asyncio.get_running_loop().call_later(0.02, server.server_state.connections.add, LateConnection())
        async with asyncio.timeout(5):
            await server.shutdown()

    asyncio.run(shut_down())
    assert not server.server_state.connections
