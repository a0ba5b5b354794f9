"""Seeds a migrated SQLite gatehouse database with a realistic amount of data, straight into
its tables (gatehouse stopped): USERS accounts, SESSIONS sessions (half expired, each with a
refresh token) and AUDIT audit events, spread over the past year, with time-ordered ids as
gatehouse makes them. Every seeded account has the password hash HASH (one argon2id hash,
reused). Prints what it stored and how long it took.

    python3 seed.py DATABASE_FILE USERS SESSIONS AUDIT HASH
"""

import os
import sqlite3
import sys
import time

path, users, sessions, audit, password_hash = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]

# One argon2id hash for all: hashing a million passwords would take hours, not the point.
KINDS = ["login_succeeded"] * 5 + ["token_refreshed"] * 3 + ["login_failed", "logout"]
SEQUENCE = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
# A seeded account, at random (rowids are dense: nothing was deleted).
ANY_USER = "(SELECT id FROM users WHERE rowid = 1 + abs(random()) % (SELECT max(rowid) FROM users))"

db = sqlite3.connect(path, isolation_level=None)


def uuid7(ms):
    """A version 7 UUID for the millisecond `ms`, as gatehouse makes its ids."""
    raw = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    raw[6] = 0x70 | (raw[6] & 0x0F)
    raw[8] = 0x80 | (raw[8] & 0x3F)
    return bytes(raw)


db.create_function("uuid7", 1, uuid7)
# Milliseconds since the epoch, `seconds` ago.
MS_AGO = "(CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - ({}) * 1000)"
AT_AGO = "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', (-({})) || ' seconds')"
db.execute("PRAGMA journal_mode = WAL")
db.execute("PRAGMA synchronous = OFF")
started = time.monotonic()
db.execute("BEGIN")
# Accounts made every 30 seconds over the past year, oldest first.
db.execute(
    f"""{SEQUENCE}
    INSERT INTO users (id, email, full_name, role, is_active, is_verified, password_hash,
                       password_changed_at, created_at, updated_at, credential_version)
    SELECT uuid7({MS_AGO.format("ago")}), 'user' || i || '@seed.example.com',
           'Seeded Person ' || i, CASE WHEN i % 1000 = 0 THEN 'admin' ELSE 'user' END,
           i % 100 <> 0, 1, ?, at, at, at, 0
    FROM (SELECT i, ago, {AT_AGO.format("ago")} AS at
          FROM (SELECT i, (? - i) * 30 AS ago FROM n))""",
    (users, password_hash, users),
)
db.execute("COMMIT")
after_users = time.monotonic()

db.execute("BEGIN")
# Sessions opened over the past 60 days, oldest first, each for 30 days: the older half
# has expired.
db.execute(
    f"""{SEQUENCE}
    INSERT INTO sessions (id, user_id, scope, created_at, last_used_at, idle_expires_at,
                          absolute_expires_at, user_agent, ip, credential_version, kind, amr,
                          authenticated_at, resources)
    SELECT uuid7({MS_AGO.format("ago")}), {ANY_USER}, 'me todos:read todos:write', made, made,
           ends, ends, 'seed/1.0', '203.0.113.7', 0, 'api', 'pwd', made, ''
    FROM (SELECT i, ago, {AT_AGO.format("ago")} AS made, {AT_AGO.format("ago - 2592000")} AS ends
          FROM (SELECT i, (? - i) * 5184000 / ? AS ago FROM n))""",
    (sessions, sessions, sessions),
)
db.execute(
    """INSERT INTO refresh_tokens (token_hash, session_id, created_at, rotated_at)
    SELECT lower(hex(randomblob(32))), id, created_at, NULL FROM sessions WHERE ip = '203.0.113.7'"""
)
db.execute("COMMIT")
after_sessions = time.monotonic()

db.execute("BEGIN")
kinds = " ".join(f"WHEN {n} THEN '{kind}'" for n, kind in enumerate(KINDS))
# Events every 6 seconds over the past year, oldest first.
db.execute(
    f"""{SEQUENCE}
    INSERT INTO audit_events (id, kind, user_id, actor_id, ip, user_agent, detail, created_at)
    SELECT uuid7({MS_AGO.format("ago")}), CASE i % {len(KINDS)} {kinds} END,
           CASE WHEN i % 10 = 0 THEN NULL ELSE {ANY_USER} END, NULL, '203.0.113.7', 'seed/1.0',
           NULL, {AT_AGO.format("ago")}
    FROM (SELECT i, (? - i) * 6 AS ago FROM n)""",
    (audit, audit),
)
db.execute("COMMIT")
done = time.monotonic()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(
    f"seeded {users} accounts in {after_users - started:.0f} s, {sessions} sessions and their "
    f"refresh tokens in {after_sessions - after_users:.0f} s, {audit} audit events in "
    f"{done - after_sessions:.0f} s"
)
