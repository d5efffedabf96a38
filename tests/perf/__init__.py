"""The benchmark harness: `python -m tests.perf [--quick]` (pytest collects nothing here).

It seeds fresh PostgreSQL databases (COPY), starts the service with uvicorn in a
subprocess per variant (a variant is only an environment: DATABASE_URL with the
psycopg2 driver for sync mode, asyncpg for async mode) and worker count, drives
it with wrk, and compares every figure with the ceiling: a bare Starlette +
asyncpg app (ceiling.py) doing the same token check and the same SQL, run the
same way, measured alternately with the service (A B A B) so that drift on a
shared machine cancels out.

Modules: seed.py (databases), ceiling.py, servers.py (uvicorn processes, RSS),
wrk.py (Lua scripts and runs), statements.py (SQL per request, counted inside
the app), report.py (markdown and profiles), __main__.py (the run).
"""
