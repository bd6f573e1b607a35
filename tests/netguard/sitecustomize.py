"""Network guard for tests: loaded by every Python process whose PYTHONPATH
holds this folder (``course test`` sets it, so notebooks, kernels and
nbgrader runs inherit it). Any connection or name lookup outside the loopback
raises, so a notebook that downloads something fails in CI.
"""

import ipaddress
import os
import socket

if os.environ.get("COURSE_BLOCK_NETWORK") == "1":

    class NetworkBlockedError(ConnectionRefusedError):
        pass

    _LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}

    def _is_local(host) -> bool:
        if isinstance(host, bytes):
            host = host.decode()
        if host is None or str(host).lower() in _LOCAL_NAMES:
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    def _refuse(what) -> None:
        raise NetworkBlockedError(f"Accès réseau interdit hors ligne (COURSE_BLOCK_NETWORK=1) : {what}")

    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
    _getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            _refuse(address)
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            _refuse(address)
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            _refuse(host)
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
