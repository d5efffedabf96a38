"""Failed logins take about as long for unknown users as for wrong passwords."""

import statistics
import time

from app.core.security import hash_password
from app.testing.factories import UserFactory

# Costly enough that hashing, not the database lookup, dominates a login.
ROUNDS = 10
SAMPLES = 9


def test_unknown_user_and_wrong_password_cost_about_the_same(client_with):
    client = client_with(bcrypt_rounds=ROUNDS)
    UserFactory(username="timed", hashed_password=hash_password("the right password", ROUNDS))

    def failed_login_time(username: str) -> float:
        t0 = time.perf_counter()
        response = client.post("/api/v1/auth/token",
                               data={"username": username, "password": "wrong password"})
        assert response.json() == {"detail": "Incorrect username or password"}
        return time.perf_counter() - t0

    unknown, wrong = [], []
    for _ in range(SAMPLES):  # alternated, so drift on a shared machine hits both alike
        unknown.append(failed_login_time("nobody-by-this-name"))
        wrong.append(failed_login_time("timed"))

    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 < ratio < 2.0, (ratio, unknown, wrong)
