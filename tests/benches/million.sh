#!/usr/bin/env bash
# A million accounts: gatehouse (release build, on loopback, measured with wrk) on an empty
# database, then on the same database seeded straight into its tables (seed.py for SQLite,
# seed.sql for PostgreSQL) with USERS accounts (default 1,000,000), SEEDED_SESSIONS sessions
# (2,000,000, half of them expired, each with a refresh token) and AUDIT_EVENTS audit events
# (5,000,000). Each phase measures:
# - password logins (16 connections) and rotating refresh grants (16 sessions);
# - GET /users/me over ME_USERS accounts' tokens (16 connections);
# - the admin search GET /users?q= (a person's address or a part of a name 111 accounts
#   share, at random; and apart, `search_broad`, a part 1,111 accounts share) and
#   the audit list, unfiltered and by each filter (user_id, type, since+until): one
#   connection, as an admin's tool sends them, so that p99 is a request's time and not a
#   queue's (target < 50 ms).
# Between the phases gatehouse starts on the seeded database, and its housekeeping purges the
# million expired sessions at once: /users/me is measured in 2-second turns until the purge
# is logged done, and the median and worst p99 of those turns are printed (target < 10 ms).
# On PostgreSQL the purged tables are then vacuumed (see `settle`).
# Printed: each figure in both phases and million ÷ empty (target: within 20 %), p99 of the
# search and the audit list.
#
#   bash tests/benches/million.sh sqlite|postgres|all
#
# Environment: BENCH_SECONDS (per measurement, default 10), USERS, SEEDED_SESSIONS,
# AUDIT_EVENTS, ME_USERS (default 100), GATEHOUSE_BIN (skip the build).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BENCH_DIR=$ROOT/tests/benches
WHICH=${1:-all}
SECONDS_EACH=${BENCH_SECONDS:-10}
USERS=${USERS:-1000000}
SEEDED_SESSIONS=${SEEDED_SESSIONS:-2000000}
AUDIT_EVENTS=${AUDIT_EVENTS:-5000000}
ME_USERS=${ME_USERS:-100}
EMAIL=bench@example.com
ADMIN=admin@example.com
PASSWORD='correct horse battery staple'
# source-path=SCRIPTDIR
. "$BENCH_DIR/lib.sh"

bench_start million

# GET with a bearer token: ME_TOKENS (one per request, in turn) or ADMIN_TOKEN, on PATHS
# (space-separated, in turn; `<user>` becomes a seeded account's address, `<name>` a part of
# a seeded name that 111 accounts share, `<broad>` one that 1,111 share, at random).
{ cat "$WORK/report.lua"; cat <<'LUA'
local tokens, paths = {}, {}
for token in string.gmatch(os.getenv("ME_TOKENS") or "", "%S+") do table.insert(tokens, token) end
for path in string.gmatch(os.getenv("PATHS"), "%S+") do table.insert(paths, path) end
local admin = os.getenv("ADMIN_TOKEN")
local users = tonumber(os.getenv("USERS"))
local turn = 0
init = function() math.randomseed(os.time()) end
request = function()
  turn = turn + 1
  local token = admin
  if #tokens > 0 then token = tokens[turn % #tokens + 1] end
  local path = paths[turn % #paths + 1]
  path = string.gsub(path, "<user>", function() return "user" .. math.random(1, users) .. "%40" end)
  path = string.gsub(path, "<name>", function() return "person+" .. math.random(1000, 9999) end)
  path = string.gsub(path, "<broad>", function() return "person+" .. math.random(100, 999) end)
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
LUA
} >"$WORK/get.lua"

cli() { RUST_LOG=warn "$GATEHOUSE_BIN" "$@" 2>/dev/null; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
token_for() { # EMAIL [SCOPE] → an access token
  curl -fs "$BASE/api/v1/auth/token" -d grant_type=password -d "username=$1" \
    --data-urlencode "password=$PASSWORD" ${2:+-d "scope=$2"} | json_field access_token
}

serve() { # LOG
  "$GATEHOUSE_BIN" serve >"$1" 2>&1 &
  SERVER_PID=$!
  wait_for "$BASE/health/ready" "$1"
}
stop() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

# Every figure of one phase, as lines "NAME requests/s p99_ms non2xx errors" in FILE.
measure() { # FILE
  local tokens="" out=$1 since until
  for _ in $(seq 1 16); do
    tokens="$tokens $(curl -fs "$BASE/api/v1/auth/token" -d grant_type=password -d "username=$EMAIL" \
      --data-urlencode "password=$PASSWORD" | json_field refresh_token)"
  done
  REFRESH_TOKENS=$tokens
  since=$(date -u -d '-1 day' +%FT%TZ)
  until=$(date -u -d '+1 hour' +%FT%TZ)
  {
    echo "login $(wrk_run 2 16 "$WORK/login.lua" "$BASE/api/v1/auth/token")"
    echo "refresh $(wrk_run 16 16 "$WORK/refresh.lua" "$BASE/api/v1/auth/token")"
    echo "me $(PATHS=/api/v1/users/me wrk_run 2 16 "$WORK/get.lua" "$BASE")"
    echo "search $(ME_TOKENS="" PATHS="/api/v1/users?q=<user> /api/v1/users?q=<name>" wrk_run 1 1 "$WORK/get.lua" "$BASE")"
    echo "search_broad $(ME_TOKENS="" PATHS="/api/v1/users?q=<broad>" wrk_run 1 1 "$WORK/get.lua" "$BASE")"
    echo "audit $(ME_TOKENS="" PATHS=/api/v1/audit wrk_run 1 1 "$WORK/get.lua" "$BASE")"
    echo "audit_user $(ME_TOKENS="" PATHS="/api/v1/audit?user_id=$BENCH_ID" wrk_run 1 1 "$WORK/get.lua" "$BASE")"
    echo "audit_type $(ME_TOKENS="" PATHS="/api/v1/audit?type=login_failed" wrk_run 1 1 "$WORK/get.lua" "$BASE")"
    echo "audit_time $(ME_TOKENS="" PATHS="/api/v1/audit?since=$since&until=$until" wrk_run 1 1 "$WORK/get.lua" "$BASE")"
  } >"$out"
}

# PostgreSQL: vacuums the tables the purge emptied by half, as autovacuum would within a
# few minutes, so that the figures after the purge are those of a settled database and not
# of the minutes autovacuum shares the two cores with the load.
settle() { # DATABASE_URL
  case "$1" in postgres*) ;; *) return 0 ;; esac
  local started
  started=$(date +%s)
  "$PGBIN/psql" -q "$1" -c "VACUUM (ANALYZE) sessions, refresh_tokens" >/dev/null
  echo "[postgres] vacuumed the purged tables in $(($(date +%s) - started)) s"
}

bench() { # NAME DATABASE_URL
  local name=$1 url=$2 data="$WORK/data-$1" port hash started purge_p99 turns
  mkdir -p "$data"
  port=$(free_port 18700)
  BASE="http://127.0.0.1:$port"
  # One client address signs in many times: the brute-force limits are lifted.
  export GATEHOUSE__SERVER__PORT=$port GATEHOUSE__DATA_DIR="$data" GATEHOUSE__DATABASE__URL="$url" \
    GATEHOUSE__SERVER__PUBLIC_URL="$BASE" \
    GATEHOUSE__AUTH__REGISTRATIONS_PER_IP=1000000 GATEHOUSE__AUTH__LOGIN_FAILURES_PER_IP=1000000 \
    GATEHOUSE__AUTH__LOGIN_FAILURES_PER_ACCOUNT=1000000
  export EMAIL PASSWORD_FORM REFRESH_TOKENS ME_TOKENS ADMIN_TOKEN PATHS USERS BENCH_ID
  PASSWORD_FORM=$(python3 -c "import urllib.parse,sys; print(urllib.parse.quote_plus(sys.argv[1]))" "$PASSWORD")
  cli migrate up >/dev/null
  echo "$PASSWORD" | cli create-admin --email "$ADMIN" >/dev/null
  serve "$data/server.log"
  BENCH_ID=$(curl -fs "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" | json_field id)
  ME_TOKENS=""
  for n in $(seq 1 "$ME_USERS"); do
    curl -fs -o /dev/null "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
      -d "{\"email\":\"me$n@example.com\",\"password\":\"$PASSWORD\"}"
    ME_TOKENS="$ME_TOKENS $(token_for "me$n@example.com")"
  done
  ADMIN_TOKEN=$(token_for "$ADMIN" users:read)
  measure "$WORK/$name-empty"
  stop

  hash=$(python3 - "$url" "$EMAIL" <<'PY'
import sys
url, email = sys.argv[1], sys.argv[2]
if url.startswith("sqlite"):
    import sqlite3
    db = sqlite3.connect(url.removeprefix("sqlite://").split("?")[0])
    print(db.execute("SELECT password_hash FROM users WHERE email = ?", (email,)).fetchone()[0])
else:
    import os, subprocess
    print(subprocess.run([os.environ["PGBIN"] + "/psql", "-qAt", url, "-c", f"SELECT password_hash FROM users WHERE email = '{email}'"],
                         capture_output=True, text=True, check=True).stdout.strip())
PY
)
  started=$(date +%s)
  case "$url" in
    sqlite:*)
      local path=${url#sqlite://}
      python3 "$BENCH_DIR/seed.py" "${path%%\?*}" "$USERS" "$SEEDED_SESSIONS" "$AUDIT_EVENTS" "$hash"
      ;;
    *)
      "$PGBIN/psql" -q "$url" -v ON_ERROR_STOP=1 -v users="$USERS" -v sessions="$SEEDED_SESSIONS" \
        -v audit="$AUDIT_EVENTS" -v hash="$hash" -f "$BENCH_DIR/seed.sql" >/dev/null
      ;;
  esac
  echo "[$name] seeded in $(($(date +%s) - started)) s"

  # Housekeeping runs as gatehouse starts: /users/me in turns while it purges.
  : >"$WORK/purge"
  serve "$data/server-seeded.log"
  started=$(date +%s)
  turns=0
  until grep -q "expired sessions purged" "$data/server-seeded.log" || [ "$turns" -ge 150 ]; do
    PATHS=/api/v1/users/me SECONDS_EACH=2 wrk_run 2 16 "$WORK/get.lua" "$BASE" >>"$WORK/purge"
    turns=$((turns + 1))
  done
  purge_p99=$(awk '{print $2}' "$WORK/purge" | median_spread)
  echo "[$name] purge of the expired sessions: $(grep -oE 'purged[=":]+[0-9]+' "$data/server-seeded.log" | head -n1) in about $(($(date +%s) - started)) s; /users/me meanwhile in $turns turns of 2 s: $(awk '{print $1}' "$WORK/purge" | median_spread) req/s, p99 ${purge_p99:-?} ms (median of the turns, best–worst; target < 10)"
  settle "$url"
  ADMIN_TOKEN=$(token_for "$ADMIN" users:read)
  measure "$WORK/$name-million"
  stop

  printf '[%s] %-11s %26s %26s %8s\n' "$name" figure "empty: req/s (p99 ms)" "million: req/s (p99 ms)" "ratio"
  local what empty full
  for what in login refresh me search search_broad audit audit_user audit_type audit_time; do
    empty=$(grep "^$what " "$WORK/$name-empty" | cut -d' ' -f2-)
    full=$(grep "^$what " "$WORK/$name-million" | cut -d' ' -f2-)
    printf '[%s] %-11s %26s %26s %8s%s\n' "$name" "$what" "$(field "$empty" 1) ($(field "$empty" 2))" \
      "$(field "$full" 1) ($(field "$full" 2))" "$(ratio "$(field "$full" 1)" "$(field "$empty" 1)")" \
      "$( [ "$(field "$full" 3)$(field "$empty" 3)" = 00 ] || echo "  non-2xx: $(field "$empty" 3) / $(field "$full" 3)")"
  done
}

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
export PGBIN
echo "gatehouse with a million accounts: $(nproc) cores, ${SECONDS_EACH} s per measurement, $USERS accounts, $SEEDED_SESSIONS sessions, $AUDIT_EVENTS audit events, $(date -u +%FT%TZ)"
on_databases "$WHICH"
