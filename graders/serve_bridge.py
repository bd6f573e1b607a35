"""The course's vLLM server, reachable from the sandbox through a Unix socket.

The sandbox's kernel has a network namespace of its own (a loopback and
nothing else), so it cannot reach the server on the grader's 127.0.0.1. For a
lab that uses the server (``serve: true`` in the syllabus) the grader listens
on a Unix socket in a folder the sandbox binds read-only (a read-only bind keeps
the socket usable, an overlay would not) and copies bytes both ways between each
connection and the server's TCP port. The kernel finds the socket in
``COURSE_SERVE_SOCKET`` (``course_utils.serving.client()`` uses it); it can reach
the server and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path


class UnixBridge:
    """Forward every connection on the Unix socket ``path`` to 127.0.0.1:``port``."""

    def __init__(self, path: Path, port: int):
        self.path, self.port = Path(path), port
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        # The kernel runs as an unprivileged user of its own: connecting needs write permission.
        os.chmod(self.path, 0o777)
        os.chmod(self.path.parent, 0o755)
        self._listener.listen(64)
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                inner, _ = self._listener.accept()
            except OSError:
                return
            try:
                outer = socket.create_connection(("127.0.0.1", self.port))
            except OSError:
                inner.close()
                continue
            threading.Thread(target=_relay, args=(inner, outer), daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> UnixBridge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _relay(inner: socket.socket, outer: socket.socket) -> None:
    """Both directions of one connection, then both sockets closed."""
    back = threading.Thread(target=_pipe, args=(outer, inner), daemon=True)
    back.start()
    _pipe(inner, outer)
    back.join()
    inner.close()
    outer.close()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    """Copy ``source`` to ``target`` until ``source`` ends, then end ``target``'s writing side."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RD)
