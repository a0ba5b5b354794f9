#!/usr/bin/env bash
# Load benchmark of a release build on loopback, with wrk, on SQLite and on PostgreSQL.
# Prints one line per figure; every ratio is measured within one run on this machine, most
# against the floor: bare actix-web answering a constant (tests/benches/floor).
#
#   just bench                       both databases
#   bash tests/benches/load.sh sqlite|postgres|all
#
# Environment: BENCH_SECONDS (per measurement, default 10), BENCH_USERS (accounts whose
# tokens /users/me is read with, default 1000), ROUNDS (turns of floor and figure behind each
# ratio to the floor, default 3), METRICS_ROUNDS (turns of /users/me with metrics off and on,
# default 5), GATEHOUSE_BIN and FLOOR_BIN (skip the build).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BENCH_DIR=$ROOT/tests/benches
WHICH=${1:-all}
SECONDS_EACH=${BENCH_SECONDS:-10}
USERS=${BENCH_USERS:-1000}
EMAIL=bench@example.com
PASSWORD='correct horse battery staple'

SESSIONS=${SESSIONS:-16}
# source-path=SCRIPTDIR
. "$BENCH_DIR/lib.sh"
if [ -z "${GATEHOUSE_BIN:-}" ] || [ -z "${FLOOR_BIN:-}" ]; then
  cargo build --release --locked -q -p gatehouse-server -p gatehouse-bench-floor
  GATEHOUSE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/gatehouse"
  FLOOR_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/bench-floor"
fi

WORK=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
SERVER_PIDS=()
BASES=()
PGDATA_DIR=
FLOOR_PID=
cleanup() {
  for pid in "${SERVER_PIDS[@]}" $FLOOR_PID; do kill "$pid" 2>/dev/null || true; done
  [ -n "$PGDATA_DIR" ] && bash "$ROOT/.ci/postgres.sh" stop "$PGDATA_DIR"
  rm -rf "$WORK"
}
trap cleanup EXIT
bench_init "$WORK"

{ cat "$WORK/report.lua"; echo 'wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")'; } >"$WORK/bearer.lua"
# Each request with the next of many users' access tokens.
{ cat "$WORK/report.lua"; cat <<'EOF'
local tokens = {}
for token in io.lines(os.getenv("TOKENS_FILE")) do table.insert(tokens, token) end
local turn = math.random(#tokens)
request = function()
  turn = turn % #tokens + 1
  return wrk.format("GET", nil, {["Authorization"] = "Bearer " .. tokens[turn]})
end
EOF
} >"$WORK/tokens.lua"

# wrk THREADS CONNECTIONS SCRIPT PATH → "requests/s p99_ms non2xx errors"
load() { wrk_run "$1" "$2" "$WORK/$3" "$BASE$4"; }
# The same load on every instance (BASES) at once, the connections shared out:
# "requests/s (summed) p99_ms (the worst) non2xx errors (summed)".
load_split() { # CONNECTIONS SCRIPT PATH
  local connections=$(($1 / ${#BASES[@]})) i=0
  for base in "${BASES[@]}"; do
    wrk -t1 -c"$connections" -d"${SECONDS_EACH}s" --timeout 10s -s "$WORK/$2" "$base$3" \
      | awk '/^RESULT/ {print $2, $3, $4, $5}' >"$WORK/split-$i" &
    i=$((i + 1))
  done
  wait
  cat "$WORK"/split-* | awk '{r += $1; if ($2 > p) p = $2; n += $3; e += $4}
    END {printf "%.1f %.2f %d %d\n", r, p, n, e}'
  rm -f "$WORK"/split-*
}
wait_ready() { # BASE_URL LOG
  for _ in $(seq 1 100); do
    curl -fs "$1/health/ready" -o /dev/null 2>/dev/null && return 0
    curl -fs "$1/health/live" -o /dev/null 2>/dev/null && [ "$2" = /dev/null ] && return 0
    sleep 0.1
  done
  echo "the server did not start:" >&2
  cat "$2" >&2
  exit 1
}

# Starts one more gatehouse on DATABASE_URL: all of them are in BASES and SERVER_PIDS, the
# first is BASE and SERVER_PID. They share the data directory, the secret and the database.
start_server() { # NAME DATABASE_URL
  local port data log
  port=$(free_port 18000)
  data="$WORK/data-$1"
  log="$WORK/server-$1-${#BASES[@]}.log"
  mkdir -p "$data"
  # Every client here is 127.0.0.1 and logs in to one account from many connections at
  # once: the brute-force limits (which count attempts in flight) are lifted so that
  # hashing, not throttling, is what the login figures measure.
  env GATEHOUSE__SERVER__PORT="$port" GATEHOUSE__DATA_DIR="$data" GATEHOUSE__DATABASE__URL="$2" \
    GATEHOUSE__JWT__SECRET="$SECRET" GATEHOUSE__AUTH__REGISTRATIONS_PER_IP=1000000 \
    GATEHOUSE__AUTH__LOGIN_FAILURES_PER_IP=1000000 GATEHOUSE__AUTH__LOGIN_FAILURES_PER_ACCOUNT=1000000 \
    GATEHOUSE__SERVER__METRICS_ADDRESS="${METRICS_ADDRESS:-}" \
    "$GATEHOUSE_BIN" serve >"$log" 2>&1 &
  SERVER_PIDS+=($!)
  BASES+=("http://127.0.0.1:$port")
  wait_ready "http://127.0.0.1:$port" "$log"
  BASE=${BASES[0]}
  SERVER_PID=${SERVER_PIDS[0]}
}

stop_servers() {
  for pid in "${SERVER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SERVER_PIDS=()
  BASES=()
}

# Bare actix-web answering a constant, kept running (idle) beside gatehouse: FLOOR_BASE.
start_floor() {
  local port
  port=$(free_port 18900)
  "$FLOOR_BIN" "$port" &
  FLOOR_PID=$!
  FLOOR_BASE="http://127.0.0.1:$port"
  wait_ready "$FLOOR_BASE" /dev/null
}

# A figure and its ratio to the floor, measured in turns (floor, figure) ROUNDS times so that
# the machine's drift hits both alike: "requests/s p99_ms non2xx ratio", the medians.
against_floor() { # SCRIPT PATH
  local rounds=${ROUNDS:-3} i floor figure
  : >"$WORK/pairs"
  for i in $(seq 1 "$rounds"); do
    floor=$(BASE=$FLOOR_BASE load 2 64 report.lua /health/live)
    figure=$(load 2 64 "$1" "$2")
    echo "$figure $(ratio "$(field "$figure" 1)" "$(field "$floor" 1)") $(field "$floor" 1)" >>"$WORK/pairs"
  done
  sort -n -k5 "$WORK/pairs" | awk -v n="$rounds" 'NR == int((n + 1) / 2) {print $1, $2, $3, $5, $6}'
}

login_json() { # retried: right after a flood the hashing queue may still be draining
  for _ in $(seq 1 40); do
    curl -fs "$BASE/api/v1/auth/token" -d grant_type=password -d "username=$EMAIL" \
      --data-urlencode "password=$PASSWORD" && return 0
    sleep 0.25
  done
  return 1
}
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

bench() { # NAME DATABASE_URL INSTANCES
  local name=$1
  SECRET="bench-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  start_floor
  # One instance for the single-instance figures; the others join for the many-users ones,
  # so that no idle process sits beside the floor comparisons.
  start_server "$name" "$2"

  export TOKEN EMAIL PASSWORD PASSWORD_FORM REFRESH_TOKENS TOKENS_FILE
  curl -fs -o /dev/null "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}"
  TOKEN=$(login_json | json_field access_token)
  PASSWORD_FORM=$(python3 -c "import urllib.parse,sys; print(urllib.parse.quote_plus(sys.argv[1]))" "$PASSWORD")

  local live me floor_rps
  live=$(against_floor report.lua /health/live)
  me=$(against_floor bearer.lua /api/v1/users/me)
  floor_rps=$(field "$me" 5)
  echo "[$name] floor, bare actix-web GET /health/live: $(field "$live" 5) req/s (median of ${ROUNDS:-3} turns, 64 connections)"
  echo "[$name] GET /health/live: $(field "$live" 1) req/s, p99 $(field "$live" 2) ms; ÷ floor $(field "$live" 4) (target >= 0.80)"
  echo "[$name] GET /api/v1/users/me, one token: $(field "$me" 1) req/s, p99 $(field "$me" 2) ms, non-2xx $(field "$me" 3); ÷ floor $(field "$me" 4) (target >= 0.50)"

  # The same with Prometheus metrics on (a second listener, every request counted): a second
  # instance, beside the first, and the two measured in turns (floor, off, on) so that the
  # machine's drift hits both alike; the median of the turns' differences.
  METRICS_ADDRESS="127.0.0.1:$(free_port 19464)" start_server "$name" "$2"
  local i off on
  : >"$WORK/metered"
  for i in $(seq 1 "${METRICS_ROUNDS:-5}"); do
    floor=$(BASE=$FLOOR_BASE load 2 64 report.lua /health/live)
    off=$(BASE=${BASES[0]} load 2 64 bearer.lua /api/v1/users/me)
    on=$(BASE=${BASES[1]} load 2 64 bearer.lua /api/v1/users/me)
    echo "$(awk -v a="$(field "$off" 1)" -v b="$(field "$on" 1)" -v f="$(field "$floor" 1)" 'BEGIN { printf "%.1f", (a - b) / f * 100 }') $(field "$on" 1) $(field "$on" 2) $(ratio "$(field "$on" 1)" "$(field "$floor" 1)")" >>"$WORK/metered"
  done
  local points metered_rps metered_p99 metered_ratio
  read -r _ metered_rps metered_p99 metered_ratio < <(sort -n "$WORK/metered" | sed -n "$(( (${METRICS_ROUNDS:-5} + 1) / 2 ))p")
  points=$(cut -d' ' -f1 "$WORK/metered" | median_spread)
  echo "[$name] GET /api/v1/users/me with metrics on: $metered_rps req/s, p99 $metered_p99 ms; ÷ floor $metered_ratio; below metrics off by $points points of the floor (median of ${METRICS_ROUNDS:-5} turns, spread; target <= 3)"
  stop_servers
  start_server "$name" "$2"

  # Many users' tokens on every instance, alone, then beside a steady mix of writes.
  for _ in $(seq 2 "$3"); do start_server "$name" "$2"; done
  mkdir -p "$WORK/accounts-$name"
  python3 "$ROOT/tests/benches/traffic.py" accounts "$USERS" "$WORK/accounts-$name" "$BASE"
  TOKENS_FILE="$WORK/accounts-$name/access"
  local many mixed mix
  many=$(load_split 64 tokens.lua /api/v1/users/me)
  python3 "$ROOT/tests/benches/traffic.py" mix "$((SECONDS_EACH + 2))" 20 5 \
    "$WORK/accounts-$name" "${BASES[@]}" >"$WORK/mix" &
  local mix_pid=$!
  sleep 1
  mixed=$(load_split 64 tokens.lua /api/v1/users/me)
  wait "$mix_pid"
  mix=$(cat "$WORK/mix")
  echo "[$name] GET /api/v1/users/me, $USERS users' tokens over $3 instance(s): $(field "$many" 1) req/s, p99 $(field "$many" 2) ms, non-2xx $(field "$many" 3); ÷ floor $(ratio "$(field "$many" 1)" "$floor_rps")"
  echo "[$name] the same beside $(field "$mix" 2) refreshes/s and $(field "$mix" 3) logins/s ($(field "$mix" 4) failed): $(field "$mixed" 1) req/s, p99 $(field "$mixed" 2) ms, non-2xx $(field "$mixed" 3); ÷ write-free $(ratio "$(field "$mixed" 1)" "$(field "$many" 1)") (target >= 0.80)"

  # Hashing capacity and login throughput in turns, like the floor: the median ratio.
  local cost per_hash capacity login i
  : >"$WORK/logins"
  for i in $(seq 1 "${ROUNDS:-3}"); do
    cost=$("$GATEHOUSE_BIN" hash-cost --samples 9 2>/dev/null)
    capacity=$(echo "$cost" | sed -E 's/.* ([0-9.]+) hashes\/s/\1/')
    per_hash=$(echo "$cost" | sed -E 's/.*: ([0-9.]+) ms per hash.*/\1/')
    login=$(load 2 16 login.lua /api/v1/auth/token)
    echo "$(ratio "$(field "$login" 1)" "$capacity") $per_hash $capacity $login" >>"$WORK/logins"
  done
  read -r login_ratio per_hash capacity login_rps login_p99 login_non2xx _ < <(sort -n "$WORK/logins" | sed -n "$(( (${ROUNDS:-3} + 1) / 2 ))p")
  echo "[$name] one argon2id hash: $per_hash ms; hashing capacity $capacity logins/s (gatehouse hash-cost: 9 hashes on each hashing worker, all of them busy at once)"
  echo "[$name] POST /api/v1/auth/token (password grant): $login_rps req/s, p99 $login_p99 ms (16 connections), non-2xx $login_non2xx"
  echo "[$name] login ÷ hashing capacity: $login_ratio (median of ${ROUNDS:-3} turns; target >= 0.90)"

  # Login flood of 256 connections; /users/me measured while it runs; peak RSS reset first.
  echo 5 >"/proc/$SERVER_PID/clear_refs" 2>/dev/null || true
  wrk -t1 -c256 -d"$((SECONDS_EACH + 4))s" --timeout 10s -s "$WORK/login.lua" "$BASE/api/v1/auth/token" \
    | awk '/^RESULT/ {print $2, $3, $4, $5}' >"$WORK/flood" &
  local flood_pid=$!
  sleep 2
  local during
  during=$(load 1 16 bearer.lua /api/v1/users/me)
  wait "$flood_pid"
  local flood rss
  flood=$(cat "$WORK/flood")
  rss=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER_PID/status")
  echo "[$name] GET /api/v1/users/me during a 256-connection login flood: $(field "$during" 1) req/s, p99 $(field "$during" 2) ms (16 connections), non-2xx $(field "$during" 3) (target p99 < 10 ms)"
  echo "[$name] the flood itself: $(field "$flood" 1) logins/s answered, of which non-2xx (503 + Retry-After when the hashing queue is full) $(field "$flood" 3)"
  echo "[$name] peak RSS during the flood: $rss MiB (target < 200 MiB)"

  # Last, on the database all of the above left behind: rotating refreshes beside the
  # database's own commit rate (the probe, on the same database, the servers idle).
  local tokens="" probe refresh
  for _ in $(seq 1 "$SESSIONS"); do tokens="$tokens $(login_json | json_field refresh_token)"; done
  REFRESH_TOKENS=$tokens
  probe=$(commit_probe "$2" "$SESSIONS")
  refresh=$(load "$SESSIONS" "$SESSIONS" refresh.lua /api/v1/auth/token)
  echo "[$name] commit probe on the same database (one update and one insert per transaction): $probe commits/s"
  echo "[$name] POST /api/v1/auth/token (refresh grant, rotating): $(field "$refresh" 1) req/s, p99 $(field "$refresh" 2) ms ($SESSIONS sessions), non-2xx $(field "$refresh" 3); ÷ probe $(ratio "$(field "$refresh" 1)" "$probe") (target >= 0.5)"
  stop_servers
  kill "$FLOOR_PID" 2>/dev/null || true
  wait "$FLOOR_PID" 2>/dev/null || true
}

echo "gatehouse load benchmark: $(nproc) cores, ${SECONDS_EACH} s per measurement, $(date -u +%FT%TZ), logging as shipped (RUST_LOG=${RUST_LOG:-info})"
# One instance on SQLite; two sharing PostgreSQL (durable, as in production).
on_databases "$WHICH" 1 2
