"""SQL statements per request, counted inside the service itself.

Run by the harness as `python -m tests.perf.statements` in a subprocess whose
environment is the variant's (DATABASE_URL etc.), so it sees exactly the app a
uvicorn worker of that variant would build, sync or async. A listener on the
Engine class (async engines run on a sync Engine underneath) counts every
statement sent through a cursor; requests go through Starlette's TestClient one
at a time. The measured servers never carry the listener.

stdin: {"token": "...", "repeat": N, "requests": {"name": {"method", "path", "json"?}}}
stdout: one line, {"name": {"statements": x, "transaction_control": y, "status": [..]}}
"""

import itertools
import json
import re
import sys
from typing import Any

from sqlalchemy import Engine, event

_TRANSACTION_CONTROL = re.compile(r"^\s*(SAVEPOINT|RELEASE|ROLLBACK|BEGIN|COMMIT)\b", re.IGNORECASE)
_counts = {"statements": 0, "transaction_control": 0}


def _record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    key = "transaction_control" if _TRANSACTION_CONTROL.match(statement) else "statements"
    _counts[key] += 1


def main() -> None:
    spec = json.load(sys.stdin)
    # Before the app starts: it builds its engines then.
    event.listen(Engine, "before_cursor_execute", _record)
    from fastapi.testclient import TestClient

    from app.main import app

    headers = {"Authorization": f"Bearer {spec['token']}"}
    repeat = int(spec["repeat"])
    serial = itertools.count()
    out: dict[str, Any] = {}
    with TestClient(app) as client:
        for name, req in spec["requests"].items():
            statuses = []

            def send(req: dict[str, Any] = req) -> int:
                body = req.get("json")
                if body is not None:
                    body = {k: (v.format(n=next(serial)) if isinstance(v, str) else v)
                            for k, v in body.items()}
                return client.request(req["method"], req["path"], json=body,
                                      headers=headers).status_code

            send()  # warm-up: first-use work (compiling, pool connect) is not per request
            before = dict(_counts)
            for _ in range(repeat):
                statuses.append(send())
            out[name] = {
                key: (_counts[key] - before[key]) / repeat for key in _counts
            } | {"status": sorted(set(statuses))}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
