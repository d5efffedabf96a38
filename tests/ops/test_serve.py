"""`python -m app serve --workers 2`: keep-alive connections get TCP_NODELAY.

Without it, Nagle's algorithm meets the client's delayed ACK and every keep-alive
request after the first waits ~40 ms (uvicorn 0.54 with --workers > 1). The test
does not time anything: it borrows the server's end of a served keep-alive
connection from the worker process (pidfd_getfd, Linux 5.6+) and reads the option.
"""

import ctypes
import http.client
import os
import socket
from pathlib import Path

import pytest

from tests.live import live_server

SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture


def _children(pid: int) -> list[int]:
    pids: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return pids


def _socket_inode(local_port: int, remote_port: int) -> int:
    """The inode of the loopback TCP socket from local_port to remote_port."""
    wanted = (f"0100007F:{local_port:04X}", f"0100007F:{remote_port:04X}")
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == wanted:
            return int(fields[9])
    raise AssertionError(f"no socket {wanted} in /proc/net/tcp")


def _borrow(pids: list[int], inode: int) -> socket.socket:
    """A duplicate, in this process, of the socket some process in `pids` holds."""
    libc = ctypes.CDLL(None, use_errno=True)
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target == f"socket:[{inode}]":
                pidfd = os.pidfd_open(pid)
                try:
                    dup = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
                finally:
                    os.close(pidfd)
                if dup < 0:
                    pytest.skip(f"pidfd_getfd: {os.strerror(ctypes.get_errno())}")
                return socket.socket(fileno=dup)
    raise AssertionError(f"no process of {pids} holds socket inode {inode}")


# uvloop sets TCP_NODELAY on its own; asyncio only with app/serve.py's socket fix.
@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_two_workers_serve_keep_alive_connections_with_tcp_nodelay(tmp_path, loop):
    if not hasattr(os, "pidfd_open") or not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux /proc and pidfd")
    with live_server(f"sqlite:///{tmp_path / 'app.db'}", tmp_path / "server.log",
                     serve_args=["--workers", "2", "--loop", loop]) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            for _ in range(3):  # one connection, kept alive between requests
                connection.request("GET", "/health/live")
                response = connection.getresponse()
                assert response.status == 200
                response.read()
            client_port = connection.sock.getsockname()[1]
            inode = _socket_inode(server.port, client_port)
            served = _borrow(_children(server.process.pid), inode)
            try:
                assert served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            finally:
                served.close()
        finally:
            connection.close()
        assert "Traceback" not in server.log()


def test_served_responses_do_not_name_the_server_software(tmp_path):
    # OWASP Secure Headers: no Server header advertising the stack (docs/standards.md).
    with live_server(f"sqlite:///{tmp_path / 'app.db'}", tmp_path / "server.log",
                     serve_args=["--workers", "1"]) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            connection.request("GET", "/health/live")
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()

    assert response.status == 200
    assert response.getheader("Server") is None
    assert response.getheader("X-Content-Type-Options") == "nosniff"
