#!/usr/bin/env bash
# Write benchmark of a release build on loopback, with wrk: gatehouse's write paths against
# what its database itself allows, measured in one run, on SQLite and on PostgreSQL (a
# cluster of its own with fsync and synchronous commit on, as in production):
# - the commit-rate probe (lib.sh `commit_probe`): one update and one insert per
#   transaction on the same database, no gatehouse;
# - rotating refresh grants, 16 sessions, each refresh with the token the last one returned:
#   ÷ the probe (target >= 0.5);
# - authorization-code exchanges (a first-party public client with PKCE, 16 connections;
#   the codes made beforehand through the hosted pages): ÷ the probe;
# - password logins (16 connections) ÷ hashing capacity (target >= 0.9).
# Probe and figures are taken in turns ROUNDS times; the medians and spreads are printed.
#
#   bash tests/benches/writes.sh sqlite|postgres|all
#
# Environment: BENCH_SECONDS (per measurement, default 10), ROUNDS (default 3), SESSIONS
# (refresh chains, default 16), GATEHOUSE_BIN (skip the build).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BENCH_DIR=$ROOT/tests/benches
WHICH=${1:-all}
SECONDS_EACH=${BENCH_SECONDS:-10}
ROUNDS=${ROUNDS:-3}
SESSIONS=${SESSIONS:-16}
EMAIL=bench@example.com
PASSWORD='correct horse battery staple'
# source-path=SCRIPTDIR
. "$BENCH_DIR/lib.sh"

bench_start writes

# Each thread exchanges every THREADS-th code of CODES_FILE from its own first, and stops when
# they run out. wrk's run lasts its whole duration whenever its threads stop, so the rate is
# the connections over the mean latency (Little's law: each connection sends its next
# exchange as soon as the last is answered), on the `RESULT` line as usual.
{ cat <<'EOF_LUA'
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.1f %.2f %d %d\n", tonumber(os.getenv("THREADS")) / (latency.mean / 1e6),
    latency:percentile(99) / 1000, summary.errors.status, errors))
end
local codes = {}
for code in io.lines(os.getenv("CODES_FILE")) do table.insert(codes, code) end
local threads = tonumber(os.getenv("THREADS"))
local first = 1
setup = function(thread)
  thread:set("turn", first)
  first = first + 1
end
request = function()
  local code = codes[turn] or codes[1]
  turn = turn + threads
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"},
    "grant_type=authorization_code&client_id=bench&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback"
    .. "&code_verifier=" .. os.getenv("VERIFIER") .. "&code=" .. code)
end
response = function(status, headers, body)
  if turn > #codes then wrk.thread:stop() end
end
EOF_LUA
} >"$WORK/exchange.lua"

cli() { RUST_LOG=warn "$GATEHOUSE_BIN" "$@" 2>/dev/null; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

bench() { # NAME DATABASE_URL
  local name=$1 url=$2 data="$WORK/data-$1" port base
  mkdir -p "$data"
  port=$(free_port 18600)
  base="http://127.0.0.1:$port"
  # Every client here is 127.0.0.1 and signs in to one account from many connections at once:
  # the brute-force limits are lifted so that the database and the hashing are measured.
  # EdDSA, as a deployment that issues ID tokens signs (the code exchanges ask for `openid`).
  "$GATEHOUSE_BIN" gen-key --dir "$data" --name signing --type ed25519 >/dev/null
  export GATEHOUSE__SERVER__PORT=$port GATEHOUSE__DATA_DIR="$data" GATEHOUSE__DATABASE__URL="$url" \
    GATEHOUSE__SERVER__PUBLIC_URL="$base" \
    GATEHOUSE__JWT__ALGORITHM=EdDSA GATEHOUSE__JWT__PRIVATE_KEY_FILE="$data/signing.pem" \
    GATEHOUSE__AUTH__REGISTRATIONS_PER_IP=1000000 GATEHOUSE__AUTH__LOGIN_FAILURES_PER_IP=1000000 \
    GATEHOUSE__AUTH__LOGIN_FAILURES_PER_ACCOUNT=1000000
  cli migrate up >/dev/null
  cli clients add --id bench --name Bench --public --first-party \
    --redirect-uri http://127.0.0.1:9/callback >/dev/null
  "$GATEHOUSE_BIN" serve >"$data/server.log" 2>&1 &
  SERVER_PID=$!
  wait_for "$base/health/ready" "$data/server.log"
  curl -fs -o /dev/null "$base/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}"
  export EMAIL REFRESH_TOKENS CODES_FILE THREADS VERIFIER PASSWORD_FORM
  PASSWORD_FORM=$(python3 -c "import urllib.parse,sys; print(urllib.parse.quote_plus(sys.argv[1]))" "$PASSWORD")
  VERIFIER=$(head -c 48 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')
  local challenge
  challenge=$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')
  CODES_FILE="$WORK/codes"
  THREADS=$SESSIONS

  : >"$WORK/refresh-ratios"
  : >"$WORK/exchange-ratios"
  : >"$WORK/login-ratios"
  local round probe refresh exchange tokens cost capacity login
  for round in $(seq 1 "$ROUNDS"); do
    settle "$url"
    probe=$(commit_probe "$url" "$SESSIONS")
    tokens=""
    for _ in $(seq 1 "$SESSIONS"); do
      tokens="$tokens $(curl -fs "$base/api/v1/auth/token" -d grant_type=password -d "username=$EMAIL" \
        --data-urlencode "password=$PASSWORD" | json_field refresh_token)"
    done
    REFRESH_TOKENS=$tokens
    settle "$url"
    refresh=$(wrk_run "$SESSIONS" "$SESSIONS" "$WORK/refresh.lua" "$base/api/v1/auth/token")
    node "$BENCH_DIR/codes.cjs" "$base" "$EMAIL" "$PASSWORD" bench http://127.0.0.1:9/callback \
      "$challenge" "${CODES:-4000}" >"$CODES_FILE"
    settle "$url"
    exchange=$(wrk_run "$SESSIONS" "$SESSIONS" "$WORK/exchange.lua" "$base/api/v1/auth/token")
    cost=$("$GATEHOUSE_BIN" hash-cost --samples 9 2>/dev/null)
    capacity=$(echo "$cost" | sed -E 's/.* ([0-9.]+) hashes\/s/\1/')
    login=$(wrk_run 2 16 "$WORK/login.lua" "$base/api/v1/auth/token")
    echo "[$name] round $round: probe $probe commits/s; refresh $(field "$refresh" 1)/s (p99 $(field "$refresh" 2) ms, non-2xx $(field "$refresh" 3)); code exchange $(field "$exchange" 1)/s (p99 $(field "$exchange" 2) ms, non-2xx $(field "$exchange" 3)); login $(field "$login" 1)/s of $capacity hashes/s"
    ratio "$(field "$refresh" 1)" "$probe" >>"$WORK/refresh-ratios"; echo >>"$WORK/refresh-ratios"
    ratio "$(field "$exchange" 1)" "$probe" >>"$WORK/exchange-ratios"; echo >>"$WORK/exchange-ratios"
    ratio "$(field "$login" 1)" "$capacity" >>"$WORK/login-ratios"; echo >>"$WORK/login-ratios"
  done
  echo "[$name] rotating refresh grants ($SESSIONS sessions) ÷ commit probe: $(median_spread <"$WORK/refresh-ratios") (median of $ROUNDS turns, spread; target >= 0.5)"
  echo "[$name] authorization-code exchanges ($SESSIONS connections) ÷ commit probe: $(median_spread <"$WORK/exchange-ratios")"
  echo "[$name] password logins ÷ hashing capacity: $(median_spread <"$WORK/login-ratios") (target >= 0.9)"
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

echo "gatehouse write benchmark: $(nproc) cores, ${SECONDS_EACH} s per measurement, $(date -u +%FT%TZ), logging as shipped (RUST_LOG=${RUST_LOG:-info})"
on_databases "$WHICH"
