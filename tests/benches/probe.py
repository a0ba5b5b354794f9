"""The SQLite commit-rate probe of the benchmarks: what the database file itself allows.

    python3 probe.py DATABASE_FILE SECONDS

Commits one transaction after another for SECONDS on one connection, each the shape of a
refresh's (one row updated, one inserted), in a table of its own inside DATABASE_FILE, with
WAL and synchronous=FULL as gatehouse opens it; prints commits per second. The table is
dropped afterwards.
"""

import sqlite3
import sys
import time
import uuid

path, seconds = sys.argv[1], float(sys.argv[2])
db = sqlite3.connect(path, isolation_level=None, timeout=30)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("DROP TABLE IF EXISTS bench_probe")
db.execute(
    "CREATE TABLE bench_probe (token_hash TEXT PRIMARY KEY, session_id TEXT NOT NULL,"
    " created_at TEXT NOT NULL, rotated_at TEXT)"
)
session = str(uuid.uuid4())
last = uuid.uuid4().hex
db.execute("INSERT INTO bench_probe VALUES (?, ?, datetime('now'), NULL)", (last, session))
commits = 0
start = time.monotonic()
while time.monotonic() - start < seconds:
    new = uuid.uuid4().hex
    db.execute("BEGIN")
    db.execute("UPDATE bench_probe SET rotated_at = datetime('now') WHERE token_hash = ?", (last,))
    db.execute("INSERT INTO bench_probe VALUES (?, ?, datetime('now'), NULL)", (new, session))
    db.execute("COMMIT")
    last = new
    commits += 1
elapsed = time.monotonic() - start
db.execute("DROP TABLE bench_probe")
print(f"{commits / elapsed:.1f}")
