"""Issue 17, findings 3 and 6, measured against any checkout of the code (not a test):

    python -m tests.reliability.faults_input --app-dir /tmp/before --database f36

3: three registrations of an email of 20 × U+FDFA, on PostgreSQL (both drivers; the
database named must exist and be empty) and on SQLite. 6: three analytics summaries
from a SQLite file in a folder named `data#1` (ANALYTICS_DATABASE_URL naming it too),
and the files beside that folder afterwards.
"""

import argparse
import shutil
import tempfile
from pathlib import Path

from sqlalchemy.engine import URL

from tests.live import ROOT
from tests.reliability.faults import Client, Service


def registrations(url: str, app_dir: Path, log: Path) -> None:
    service = Service(url, log, app_dir)
    try:
        client = Client(service.port)
        got = [client.send("POST", "/api/v1/users", {
            "username": f"ligature{n}", "email": "\ufdfa" * 20 + f"{n}@example.com",
            "password": "a long password",
        }) for n in range(3)]
        after = client.send("GET", "/health/live")[0]
        print(f"3 | {url.split(':')[0]} | {[status for status, _ in got]} | next on the same "
              f"connection: {after} | {str(got[0][1])[:110]}")
    finally:
        service.stop()


def summaries(app_dir: Path, log: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="faults-input-"))
    (root / "data#1").mkdir()
    url = URL.create("sqlite", database=str(root / "data#1" / "app.db")).render_as_string()
    service = Service(url, log, app_dir, ANALYTICS_DATABASE_URL=url)
    try:
        client = Client(service.port, service.token("boss"))
        got = [client.send("GET", "/api/v1/analytics/summary")[0] for _ in range(3)]
        print(f"6 | sqlite in data#1 | {got} | beside it: {sorted(p.name for p in root.iterdir())}")
    finally:
        service.stop()
        shutil.rmtree(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app-dir", type=Path, default=ROOT)
    parser.add_argument("--database", required=True, help="an empty PostgreSQL database")
    args = parser.parse_args()
    log = Path(tempfile.mkdtemp(prefix="faults-input-log-")) / "server.log"
    for driver in ("psycopg2", "asyncpg"):
        registrations(f"postgresql+{driver}://postgres@127.0.0.1:5432/{args.database}",
                      args.app_dir, log)
    with tempfile.TemporaryDirectory() as folder:
        registrations(f"sqlite:///{folder}/app.db", args.app_dir, log)
    summaries(args.app_dir, log)


if __name__ == "__main__":
    main()
