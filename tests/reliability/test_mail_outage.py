"""A mail server that refuses, hangs or is absent never delays or fails the 202 of a
password reset request: through a running server (uvicorn), timed by its client."""

import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from app.testing.databases import fresh_database
from tests.live import LiveServer, free_port, live_server, register_and_login
from tests.mail import Inbox, smtp_server

pytestmark = pytest.mark.once

SMTP_TIMEOUT = 2.0
# An answer that waited for the mail server would take SMTP_TIMEOUT; this is far below
# it and far above what the answer costs on a loaded machine.
PROMPT = 1.0
NOT_SENT = "e-mail not sent: mail server"


@contextmanager
def serving(tmp_path, host: str, port: int) -> Iterator[LiveServer]:
    with fresh_database(tmp_path, "mail") as url, live_server(
        url, tmp_path / "server.log", SMTP_HOST=host, SMTP_PORT=str(port),
        SMTP_STARTTLS="false", SMTP_TIMEOUT=str(SMTP_TIMEOUT),
        EMAIL_FROM="no-reply@heroes.example.com",
    ) as server:
        register_and_login(server.url, "bob")
        yield server


# A connection per request: on a kept-alive one, a request waits for the previous
# request's after-the-answer work, which is not what is timed here.
_client = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))


def timed_reset(server: LiveServer, email: str = "bob@example.com") -> tuple[int, float]:
    started = time.perf_counter()
    response = _client.post(f"{server.url}/api/v1/auth/password-reset", json={"email": email})
    return response.status_code, time.perf_counter() - started


def wait_for_log(server: LiveServer, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in server.log():
            return server.log()
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in the log after {timeout}s:\n{server.log()}")


def assert_prompt_and_one_line(server: LiveServer, reason: str) -> None:
    status, elapsed = timed_reset(server)

    assert status == 202
    assert elapsed < PROMPT, f"{elapsed:.3f}s"
    log = wait_for_log(server, NOT_SENT, SMTP_TIMEOUT + 10)
    [line] = [line for line in log.splitlines() if NOT_SENT in line]
    assert reason in line, line
    assert "Traceback" not in log
    # The service goes on answering, mail server or not.
    assert timed_reset(server)[0] == 202
    assert httpx.get(f"{server.url}/health/ready", timeout=10).status_code == 200


@contextmanager
def silent_server() -> Iterator[int]:
    """A socket that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


@contextmanager
def stopped_smtpd() -> Iterator[int]:
    """aiosmtpd in a process of its own, frozen with SIGSTOP once it listens: the kernel
    still accepts connections for it, and nobody answers them."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "aiosmtpd did not start"
                time.sleep(0.1)
        os.kill(process.pid, signal.SIGSTOP)
        yield port
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        process.wait(timeout=10)


class Refusing(Inbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 Mailbox unavailable"


def test_a_mail_server_that_refuses_connections(tmp_path):
    with serving(tmp_path, "127.0.0.1", free_port()) as server:
        assert_prompt_and_one_line(server, "ConnectionRefusedError")


def test_a_mail_server_that_refuses_the_message(tmp_path):
    inbox = Refusing()
    from aiosmtpd.controller import Controller

    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        with serving(tmp_path, "127.0.0.1", controller.port) as server:
            assert_prompt_and_one_line(server, "SMTPRecipientsRefused")
    finally:
        controller.stop()


def test_a_mail_server_that_accepts_and_never_answers(tmp_path):
    with silent_server() as port, serving(tmp_path, "127.0.0.1", port) as server:
        assert_prompt_and_one_line(server, "timed out")


def test_a_mail_server_frozen_with_sigstop(tmp_path):
    with stopped_smtpd() as port, serving(tmp_path, "127.0.0.1", port) as server:
        assert_prompt_and_one_line(server, "timed out")


def test_a_mail_server_that_does_not_exist(tmp_path):
    # .invalid never resolves (RFC 6761).
    with serving(tmp_path, "mail.heroes.invalid", 25) as server:
        assert_prompt_and_one_line(server, "gaierror")


def test_the_202_takes_the_same_time_for_known_and_unknown_addresses(tmp_path):
    with smtp_server() as inbox, serving(tmp_path, inbox.host, inbox.port) as server:
        known: list[float] = []
        unknown: list[float] = []
        for _ in range(50):  # interleaved, so the machine's load falls on both alike
            status, elapsed = timed_reset(server, "bob@example.com")
            known.append(elapsed)
            assert status == 202
            status, elapsed = timed_reset(server, "nobody@example.com")
            unknown.append(elapsed)
            assert status == 202
        inbox.wait_for(50, timeout=60)

    known_ms, unknown_ms = statistics.median(known) * 1000, statistics.median(unknown) * 1000
    print(f"202 medians over 50 each: known {known_ms:.2f} ms, unknown {unknown_ms:.2f} ms")
    assert len(inbox.messages) == 50  # the known address's only
    assert abs(known_ms - unknown_ms) < max(5.0, 0.5 * min(known_ms, unknown_ms))
