# Helpers shared by the benchmarks (sourced): wrk, its report script, ports and ratios.
#
# bench_init WORK: installs wrk and curl when missing and writes the wrk scripts every bench
# may use: WORK/report.lua, whose `done` prints
# `RESULT requests/s p99_ms non_2xx_or_3xx socket_errors` as wrk's last line; login.lua (the
# password grant for $EMAIL, the password in $PASSWORD_FORM, form-encoded); refresh.lua (one
# connection per thread, each rotating its own session's token from $REFRESH_TOKENS: every
# refresh uses the token the last one returned, as a client would).
#
# on_databases WHICH [SQLITE_ARG] [POSTGRES_ARG]: runs the script's `bench NAME URL [ARG]` on
# SQLite and/or a throwaway PostgreSQL cluster (durable: fsync and synchronous commit on), as
# WHICH (sqlite, postgres or all) says; the cluster is left in PGDATA_DIR for the script's
# cleanup.

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

bench_init() { # WORK
  if ! command -v wrk >/dev/null || ! command -v curl >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk curl >/dev/null
  fi
  cat >"$1/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.1f %.2f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(99) / 1000, summary.errors.status, errors))
end
LUA
  { cat "$1/report.lua"; cat <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=password&username=" .. os.getenv("EMAIL") .. "&password=" .. os.getenv("PASSWORD_FORM")
LUA
  } >"$1/login.lua"
  { cat "$1/report.lua"; cat <<'LUA'
local tokens = {}
for token in string.gmatch(os.getenv("REFRESH_TOKENS"), "%S+") do table.insert(tokens, token) end
local next_token = 1
setup = function(thread)
  thread:set("refresh", tokens[next_token])
  next_token = next_token + 1
end
request = function()
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"},
    "grant_type=refresh_token&refresh_token=" .. refresh)
end
response = function(status, headers, body)
  local token = string.match(body, '"refresh_token":"([^"]+)"')
  if token then refresh = token end
end
LUA
  } >"$1/refresh.lua"
}

# bench_start NAME: for a bench of one gatehouse at a time. Builds the release binary unless
# GATEHOUSE_BIN names one, makes WORK (/tmp/gatehouse-NAME.*) and runs bench_init in it, and
# on exit stops SERVER_PID and the cluster in PGDATA_DIR and removes WORK.
bench_start() { # NAME
  if [ -z "${GATEHOUSE_BIN:-}" ]; then
    cargo build --release --locked -q -p gatehouse-server
    GATEHOUSE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/gatehouse"
  fi
  WORK=$(mktemp -d "/tmp/gatehouse-$1.XXXXXX")
  SERVER_PID=
  PGDATA_DIR=
  trap bench_stop EXIT
  bench_init "$WORK"
}

bench_stop() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$PGDATA_DIR" ]; then bash "$ROOT/.ci/postgres.sh" stop "$PGDATA_DIR"; fi
  rm -rf "$WORK"
}

on_databases() { # WHICH [SQLITE_ARG] [POSTGRES_ARG]
  if [ "$1" = all ] || [ "$1" = sqlite ]; then
    bench sqlite "sqlite://$WORK/data-sqlite/gatehouse.db" ${2:+"$2"}
  fi
  if [ "$1" = all ] || [ "$1" = postgres ]; then
    eval "$(GATEHOUSE_PG_DURABLE=1 bash "$BENCH_DIR/../../.ci/postgres.sh")"
    PGDATA_DIR=$GATEHOUSE_PGDATA
    bench postgres "$TEST_DATABASE_URL" ${3:+"$3"}
  fi
}

# wrk THREADS CONNECTIONS SCRIPT URL (SECONDS_EACH seconds) → "requests/s p99_ms non2xx errors"
wrk_run() {
  wrk -t"$1" -c"$2" -d"${SECONDS_EACH}s" --timeout 10s -s "$3" "$4" | awk '/^RESULT/ {print $2, $3, $4, $5}'
}

field() { echo "$1" | cut -d' ' -f"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

free_port() {
  local port=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

# Waits until URL answers 2xx, else prints LOG and exits.
wait_for() { # URL LOG
  for _ in $(seq 1 100); do
    curl -fs "$1" -o /dev/null 2>/dev/null && return 0
    sleep 0.1
  done
  echo "did not start:" >&2
  cat "$2" >&2
  exit 1
}

# The median of the numbers on stdin, and their spread: "median (min–max)".
median_spread() {
  sort -n | awk '{v[NR] = $1} END {printf "%s (%s–%s)", v[int((NR + 1) / 2)], v[1], v[NR]}'
}

# Before a measurement on PostgreSQL: what the last measurement left for the background
# workers is done first (a vacuum of its dead rows, a checkpoint), so that neither falls on
# the next measurement rather than on the probe; SQLite checkpoints its WAL as it goes.
settle() { # DATABASE_URL
  case "$1" in
    postgres*)
      "$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)/psql" -q "$1" \
        -c VACUUM -c CHECKPOINT >/dev/null
      ;;
  esac
}

# The database's own commit rate for a refresh's shape of transaction (one update and one
# insert), on DATABASE_URL itself, with no gatehouse in the way: commits/s. SQLite: one
# connection (SQLite commits one transaction at a time), WAL and synchronous=FULL as
# gatehouse opens it. PostgreSQL: pgbench, CLIENTS connections.
commit_probe() { # DATABASE_URL CLIENTS
  case "$1" in
    sqlite:*)
      local path=${1#sqlite://}
      python3 "$BENCH_DIR/probe.py" "${path%%\?*}" "$SECONDS_EACH"
      ;;
    postgres*)
      local pgbin
      pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
      export PGOPTIONS="-c client_min_messages=warning"
      "$pgbin/psql" -q "$1" -c "DROP TABLE IF EXISTS bench_probe" \
        -c "CREATE TABLE bench_probe (token_hash text PRIMARY KEY, session_id uuid NOT NULL, created_at timestamptz NOT NULL, rotated_at timestamptz)" \
        -c "INSERT INTO bench_probe SELECT 'client-' || n, gen_random_uuid(), now(), NULL FROM generate_series(1, $2) n" >/dev/null
      cat >"$WORK/probe.sql" <<'SQL'
\set mine :client_id + 1
BEGIN;
UPDATE bench_probe SET rotated_at = now() WHERE token_hash = 'client-' || :mine;
INSERT INTO bench_probe VALUES (md5(random()::text || clock_timestamp()::text), gen_random_uuid(), now(), NULL);
END;
SQL
      "$pgbin/pgbench" -n -c "$2" -j 2 -T "$SECONDS_EACH" -f "$WORK/probe.sql" "$1" 2>/dev/null \
        | awk '/^tps/ {printf "%.1f\n", $3}'
      "$pgbin/psql" -q "$1" -c "DROP TABLE bench_probe" >/dev/null
      ;;
  esac
}
