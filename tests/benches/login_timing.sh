#!/usr/bin/env bash
# Times logins against a release build: right password, wrong password and unknown email,
# 30 sequential requests each (the three should cost about the same; the last two must), and a
# wrong password for an account imported with a cheap legacy hash (bcrypt cost 4), which must
# not answer faster than an unknown email, nor may an account without a password (upstream
# sign-in's). Throttling is raised out of the way.
# Usage: bash tests/benches/login_timing.sh [path/to/gatehouse]   (default: target/release/gatehouse)
set -euo pipefail
BIN=$(realpath "${1:-target/release/gatehouse}")
PORT=${PORT:-8766}
DIR=$(mktemp -d)
cd "$DIR"
export GATEHOUSE__AUTH__LOGIN_FAILURES_PER_ACCOUNT=100000 GATEHOUSE__AUTH__LOGIN_FAILURES_PER_IP=100000
LEGACY=$(python3 -W ignore -c "import crypt; print(crypt.crypt('an imported password', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))")
printf '{"email": "legacy@example.com", "hashed_password": "%s"}\n' "$LEGACY" >legacy.jsonl
RUST_LOG=warn "$BIN" import-users legacy.jsonl >import.log 2>&1
GATEHOUSE__SERVER__PORT=$PORT RUST_LOG=warn "$BIN" serve >server.log 2>&1 &
PID=$!
trap 'kill $PID; rm -rf "$DIR"' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/health/live" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -s -o /dev/null "http://127.0.0.1:$PORT/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"timing@example.com","password":"correct horse battery staple"}'
# An account without a password (as upstream sign-in makes them): what it stores instead of
# a hash is set in the database directly, as no API gives an account that has one none.
curl -s -o /dev/null "http://127.0.0.1:$PORT/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"passwordless@example.com","password":"correct horse battery staple"}'
python3 - "$(find "$DIR" -name gatehouse.db | head -1)" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE users SET password_hash = '!' WHERE email = 'passwordless@example.com'")
db.commit()
PY
measure() { # label username password
  local total=0 t
  for _ in $(seq 1 30); do
    t=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT/api/v1/auth/token" \
      -d grant_type=password -d "username=$2" --data-urlencode "password=$3")
    total=$(python3 -c "print($total + $t)")
  done
  python3 -c "print(f'{\"$1\":16} {($total / 30) * 1000:6.1f} ms mean of 30 sequential logins')"
}
measure "right password" timing@example.com 'correct horse battery staple'
measure "wrong password" timing@example.com 'wrong horse battery staple'
measure "unknown email" nobody@example.com 'correct horse battery staple'
measure "legacy, wrong" legacy@example.com 'wrong horse battery staple'
measure "no password" passwordless@example.com 'correct horse battery staple'
