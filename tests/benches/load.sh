#!/usr/bin/env bash
# Load benchmark of a release build on loopback, with wrk, on SQLite and on PostgreSQL.
# Prints one line per figure; every ratio is measured within one run on this machine.
#
#   just bench                       both databases
#   bash tests/benches/load.sh sqlite|postgres|all
#
# Environment: BENCH_SECONDS (per measurement, default 10), GATEHOUSE_BIN (skip the build).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
WHICH=${1:-all}
SECONDS_EACH=${BENCH_SECONDS:-10}
EMAIL=bench@example.com
PASSWORD='correct horse battery staple'

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v wrk >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk curl >/dev/null
fi
if [ -z "${GATEHOUSE_BIN:-}" ]; then
  cargo build --release --locked -q -p gatehouse-api
  GATEHOUSE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/gatehouse"
fi

WORK=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
SERVER_PID=
PGDATA_DIR=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  [ -n "$PGDATA_DIR" ] && bash "$ROOT/.ci/postgres.sh" stop "$PGDATA_DIR"
  rm -rf "$WORK"
}
trap cleanup EXIT

# Every script reports `requests/s p99_ms non_2xx_or_3xx socket_errors` on its last line.
cat >"$WORK/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.1f %.2f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(99) / 1000, summary.errors.status, errors))
end
EOF
{ cat "$WORK/report.lua"; echo 'wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")'; } >"$WORK/bearer.lua"
{ cat "$WORK/report.lua"; cat <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=password&username=" .. os.getenv("EMAIL") .. "&password=" .. os.getenv("PASSWORD_FORM")
EOF
} >"$WORK/login.lua"
# One connection per thread, each its own session: every refresh uses the token the last
# one returned, as a client would (reusing one would revoke the session).
{ cat "$WORK/report.lua"; cat <<'EOF'
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
EOF
} >"$WORK/refresh.lua"

# wrk THREADS CONNECTIONS SCRIPT PATH → "requests/s p99_ms non2xx errors"
load() {
  wrk -t"$1" -c"$2" -d"${SECONDS_EACH}s" --timeout 10s -s "$WORK/$3" "$BASE$4" | awk '/^RESULT/ {print $2, $3, $4, $5}'
}
field() { echo "$1" | cut -d' ' -f"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

free_port() {
  local port=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

start_server() { # DATABASE_URL
  local port data
  port=$(free_port 18000)
  data="$WORK/data-$1"
  mkdir -p "$data"
  BASE="http://127.0.0.1:$port"
  env GATEHOUSE__SERVER__PORT="$port" GATEHOUSE__DATA_DIR="$data" GATEHOUSE__DATABASE__URL="$2" \
    GATEHOUSE__JWT__SECRET="bench-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    GATEHOUSE__AUTH__REGISTRATIONS_PER_IP=1000 \
    "$GATEHOUSE_BIN" serve >"$WORK/server-$1.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -fs "$BASE/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the server did not start:" >&2
  cat "$WORK/server-$1.log" >&2
  exit 1
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
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

bench() { # NAME DATABASE_URL
  local name=$1
  start_server "$name" "$2"
  curl -fs -o /dev/null "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}"
  export TOKEN EMAIL PASSWORD_FORM REFRESH_TOKENS
  TOKEN=$(login_json | json_field access_token)
  PASSWORD_FORM=$(python3 -c "import urllib.parse,sys; print(urllib.parse.quote_plus(sys.argv[1]))" "$PASSWORD")

  local floor me cost
  floor=$(load 2 64 report.lua /health/live)
  me=$(load 2 64 bearer.lua /api/v1/users/me)
  echo "[$name] GET /health/live (floor): $(field "$floor" 1) req/s, p99 $(field "$floor" 2) ms (64 connections)"
  echo "[$name] GET /api/v1/users/me: $(field "$me" 1) req/s, p99 $(field "$me" 2) ms (64 connections), non-2xx $(field "$me" 3)"
  echo "[$name] GET /api/v1/users/me / floor: $(ratio "$(field "$me" 1)" "$(field "$floor" 1)") (target >= 0.40)"

  cost=$("$GATEHOUSE_BIN" hash-cost --samples 15 2>/dev/null)
  local per_hash capacity login
  per_hash=$(echo "$cost" | sed -E 's/.*: ([0-9.]+) ms per hash.*/\1/')
  capacity=$(echo "$cost" | sed -E 's/.* ([0-9.]+) hashes\/s/\1/')
  login=$(load 2 16 login.lua /api/v1/auth/token)
  echo "[$name] one argon2id hash: $per_hash ms; hashing capacity $capacity logins/s ($cost)"
  echo "[$name] POST /api/v1/auth/token (password grant): $(field "$login" 1) req/s, p99 $(field "$login" 2) ms (16 connections), non-2xx $(field "$login" 3)"
  echo "[$name] login / hashing capacity: $(ratio "$(field "$login" 1)" "$capacity") (target >= 0.90)"

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

  local tokens=""
  for _ in 1 2 3 4; do tokens="$tokens $(login_json | json_field refresh_token)"; done
  REFRESH_TOKENS=$tokens
  local refresh
  refresh=$(load 4 4 refresh.lua /api/v1/auth/token)
  echo "[$name] POST /api/v1/auth/token (refresh grant, rotating): $(field "$refresh" 1) req/s, p99 $(field "$refresh" 2) ms (4 sessions), non-2xx $(field "$refresh" 3)"
  stop_server
}

echo "gatehouse load benchmark: $(nproc) cores, ${SECONDS_EACH} s per measurement, $(date -u +%FT%TZ)"
if [ "$WHICH" = all ] || [ "$WHICH" = sqlite ]; then
  bench sqlite "sqlite://$WORK/data-sqlite/gatehouse.db"
fi
if [ "$WHICH" = all ] || [ "$WHICH" = postgres ]; then
  eval "$(bash .ci/postgres.sh)"
  PGDATA_DIR=$GATEHOUSE_PGDATA
  bench postgres "$TEST_DATABASE_URL"
fi
