"""The benchmark harness: `python -m tests.perf [--quick]` (pytest collects nothing here).

It seeds fresh PostgreSQL databases (COPY), starts the service with uvicorn in a
subprocess per variant (a variant is only an environment: DATABASE_URL with the
psycopg2 driver for sync mode, asyncpg for async mode) and worker count, drives
it with wrk, and compares every figure with the ceiling: a bare Starlette +
asyncpg app (ceiling.py) doing the same token check and the same SQL, run the
same way, measured alternately with the service (A B A B) so that drift on a
shared machine cancels out.

The `textbook` scenario does the same against textbook.py, the shape FastAPI's
SQL tutorial teaches, in the variant's mode: the yardstick each mode must beat.
With --compare-*, its rounds also drive a server the harness did not start.
The `tail` scenario times every request and records what the server did
meanwhile, second by second.

Modules: seed.py (databases), ceiling.py, textbook.py, ladder.py (one app per
layer), servers.py (uvicorn processes, RSS, External), wrk.py (Lua scripts and
runs), tail.py (every request timed, binned by second), probes.py (GC pauses,
pool checkouts, new connections, loop stalls inside a served app), statements.py
(SQL per request, counted inside the app), report.py (markdown and profiles),
__main__.py (the run).
"""
