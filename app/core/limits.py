"""Limits the storage sets, shared by validation, lookups and the OpenAPI document."""

# The largest value of a 64-bit signed integer (PostgreSQL BIGINT, SQLite INTEGER):
# ids, ages, `skip` and `limit` beyond it cannot be stored or matched.
MAX_BIGINT = 2**63 - 1
