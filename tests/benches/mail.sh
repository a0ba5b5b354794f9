#!/usr/bin/env bash
# Benchmark of password-reset requests, a release build on loopback, with wrk:
# `POST /api/v1/auth/password-reset` for an address that has an account against one that has
# none, in turns, the median of ROUNDS ratios and their spread. Both answer 202 after storing
# one sealed row in the mail queue; the courier looks the address up afterwards (and, for the
# known one, makes and delivers the email meanwhile, to the file outbox). Prints one line per
# database.
#
#   bash tests/benches/mail.sh sqlite|postgres|all
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
bench_start mail
{ cat "$WORK/report.lua"; cat <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"' .. os.getenv("EMAIL") .. '"}'
LUA
} >"$WORK/reset.lua"

bench() { # NAME DATABASE_URL
  local name=$1 data="$WORK/data-$1" port base i known unknown
  mkdir -p "$data"
  port=$(free_port 18800)
  base="http://127.0.0.1:$port"
  GATEHOUSE__SERVER__PORT=$port GATEHOUSE__DATA_DIR="$data" GATEHOUSE__DATABASE__URL="$2" \
    GATEHOUSE__SERVER__PUBLIC_URL="$base" GATEHOUSE__AUTH__PASSWORD_RESETS_PER_IP=1000000000 \
    RUST_LOG=warn "$GATEHOUSE_BIN" serve >"$data/server.log" 2>&1 &
  SERVER_PID=$!
  wait_for "$base/health/ready" "$data/server.log"
  curl -fs -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"a benchmark passphrase 1"}' \
    "$base/api/v1/auth/register" >/dev/null
  : >"$WORK/ratios"
  for i in $(seq 1 "$ROUNDS"); do
    # In alternating order: whichever runs first in a turn is favoured on this machine.
    if [ $((i % 2)) = 1 ]; then
      known=$(EMAIL=bench@example.com wrk_run 2 16 "$WORK/reset.lua" "$base/api/v1/auth/password-reset")
      unknown=$(EMAIL=nobody@example.com wrk_run 2 16 "$WORK/reset.lua" "$base/api/v1/auth/password-reset")
    else
      unknown=$(EMAIL=nobody@example.com wrk_run 2 16 "$WORK/reset.lua" "$base/api/v1/auth/password-reset")
      known=$(EMAIL=bench@example.com wrk_run 2 16 "$WORK/reset.lua" "$base/api/v1/auth/password-reset")
    fi
    test "$(field "$known" 3)" = 0 && test "$(field "$unknown" 3)" = 0
    echo "$(ratio "$(field "$known" 1)" "$(field "$unknown" 1)") $(field "$known" 1) $(field "$unknown" 1) $(field "$known" 2) $(field "$unknown" 2)" >>"$WORK/ratios"
  done
  echo "[$name] password-reset requests, a known address ÷ an unknown one: $(cut -d' ' -f1 "$WORK/ratios" | median_spread) in $ROUNDS turns; req/s known $(cut -d' ' -f2 "$WORK/ratios" | median_spread), unknown $(cut -d' ' -f3 "$WORK/ratios" | median_spread); p99 ms known $(cut -d' ' -f4 "$WORK/ratios" | median_spread), unknown $(cut -d' ' -f5 "$WORK/ratios" | median_spread)"
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

echo "gatehouse password-reset benchmark: $(nproc) cores, ${SECONDS_EACH} s per measurement, $(date -u +%FT%TZ)"
on_databases "$WHICH"
