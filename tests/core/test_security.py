"""Password hashing: nothing past byte 72 is lost, and bursts cannot take every core."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import bcrypt

from app.core import security


def test_bytes_past_72_still_count():
    hashed = security.hash_password("x" * 80 + "a", 4)

    assert security.verify_password("x" * 80 + "a", hashed)
    assert not security.verify_password("x" * 80 + "b", hashed)


def test_concurrent_checks_never_exceed_the_hashing_slots(monkeypatch):
    running, peak = 0, 0
    lock = threading.Lock()

    def slow_checkpw(password: bytes, hashed: bytes) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return False

    monkeypatch.setattr(bcrypt, "checkpw", slow_checkpw)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: security.verify_password("pw", "$2b$04$x"), range(8)))

    assert peak == security.HASHING_SLOTS
