#!/usr/bin/env bash
# Benchmark of the personal access token check, a release build on loopback, with wrk:
# `GET /api/v1/users/me` with a personal access token against the same with a session's
# access token (a JWT), in turns, the median of ROUNDS ratios and their spread. Both are
# checked against the session as stored (served from the session cache); a token is first
# found by its digest. Prints one line per database.
#
#   bash tests/benches/tokens.sh sqlite|postgres|all
#
# Environment: BENCH_SECONDS (per measurement, default 5), ROUNDS (default 5),
# GATEHOUSE_BIN (skip the build).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BENCH_DIR=$ROOT/tests/benches
WHICH=${1:-all}
SECONDS_EACH=${BENCH_SECONDS:-5}
ROUNDS=${ROUNDS:-5}

# source-path=SCRIPTDIR
. "$BENCH_DIR/lib.sh"
bench_start tokens
{ cat "$WORK/report.lua"; echo 'wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")'; } >"$WORK/bearer.lua"

json() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

bench() { # NAME DATABASE_URL
  local name=$1 data="$WORK/data-$1" port base
  mkdir -p "$data"
  port=$(free_port 18700)
  base="http://127.0.0.1:$port"
  GATEHOUSE__SERVER__PORT=$port GATEHOUSE__DATA_DIR="$data" GATEHOUSE__DATABASE__URL="$2" \
    GATEHOUSE__SERVER__PUBLIC_URL="$base" RUST_LOG=warn "$GATEHOUSE_BIN" serve >"$data/server.log" 2>&1 &
  SERVER_PID=$!
  wait_for "$base/health/ready" "$data/server.log"
  local password='a benchmark passphrase 1' access pat i jwt personal
  curl -fs -H 'content-type: application/json' \
    -d "{\"email\":\"bench@example.com\",\"password\":\"$password\"}" "$base/api/v1/auth/register" >/dev/null
  access=$(curl -fs --data-urlencode grant_type=password --data-urlencode username=bench@example.com \
    --data-urlencode "password=$password" "$base/api/v1/auth/token" | json access_token)
  pat=$(curl -fs -H "authorization: Bearer $access" -H 'content-type: application/json' \
    -d "{\"name\":\"bench\",\"scope\":\"me\",\"current_password\":\"$password\"}" \
    "$base/api/v1/users/me/tokens" | json token)
  : >"$WORK/ratios"
  for i in $(seq 1 "$ROUNDS"); do
    # In alternating order: whichever runs first in a turn is favoured on this machine.
    if [ $((i % 2)) = 1 ]; then
      jwt=$(TOKEN=$access wrk_run 2 32 "$WORK/bearer.lua" "$base/api/v1/users/me")
      personal=$(TOKEN=$pat wrk_run 2 32 "$WORK/bearer.lua" "$base/api/v1/users/me")
    else
      personal=$(TOKEN=$pat wrk_run 2 32 "$WORK/bearer.lua" "$base/api/v1/users/me")
      jwt=$(TOKEN=$access wrk_run 2 32 "$WORK/bearer.lua" "$base/api/v1/users/me")
    fi
    test "$(field "$jwt" 3)" = 0 && test "$(field "$personal" 3)" = 0
    echo "$(ratio "$(field "$personal" 1)" "$(field "$jwt" 1)") $(field "$personal" 1) $(field "$jwt" 1)" >>"$WORK/ratios"
  done
  echo "[$name] /users/me with a personal access token ÷ with a JWT: $(cut -d' ' -f1 "$WORK/ratios" | median_spread) in $ROUNDS turns; req/s with the token $(cut -d' ' -f2 "$WORK/ratios" | median_spread), with the JWT $(cut -d' ' -f3 "$WORK/ratios" | median_spread)"
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

echo "gatehouse personal access token benchmark: $(nproc) cores, ${SECONDS_EACH} s per measurement, $(date -u +%FT%TZ)"
on_databases "$WHICH"
