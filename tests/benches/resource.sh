#!/usr/bin/env bash
# Benchmark of gatehouse in front of another API, release builds on loopback, with wrk:
# - client credentials grants per second (each one: the client's secret checked and its
#   throttle reserved and given back, its API access read, an EdDSA token signed, an audit
#   row written), on SQLite and on PostgreSQL, against Keycloak's published sizing figure
#   (120 client credentials grants per second per vCPU; target >= 10x that per core);
# - the example orders service (examples/orders): GET /orders, each request's token checked
#   by gatehouse-verifier, against GET /catalog of the same service without a token
#   (target >= 0.9), in turns, the median of ROUNDS.
# Prints one line per figure.
#
#   bash tests/benches/resource.sh sqlite|postgres|all
#
# Environment: BENCH_SECONDS (per measurement, default 10), ROUNDS (default 3),
# GATEHOUSE_BIN and ORDERS_BIN (skip the build).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BENCH_DIR=$ROOT/tests/benches
WHICH=${1:-all}
SECONDS_EACH=${BENCH_SECONDS:-10}
ROUNDS=${ROUNDS:-3}

# source-path=SCRIPTDIR
. "$BENCH_DIR/lib.sh"
if [ -z "${GATEHOUSE_BIN:-}" ] || [ -z "${ORDERS_BIN:-}" ]; then
  cargo build --release --locked -q -p gatehouse-server -p orders-example
  GATEHOUSE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/gatehouse"
  ORDERS_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/orders-example"
fi

WORK=$(mktemp -d /tmp/gatehouse-resource-bench.XXXXXX)
PIDS=()
PGDATA_DIR=
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "$PGDATA_DIR" ] && bash "$ROOT/.ci/postgres.sh" stop "$PGDATA_DIR"
  rm -rf "$WORK"
}
trap cleanup EXIT
bench_init "$WORK"
{ cat "$WORK/report.lua"; cat <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BASIC")
wrk.body = "grant_type=client_credentials"
EOF
} >"$WORK/grant.lua"
{ cat "$WORK/report.lua"; echo 'wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")'; } >"$WORK/bearer.lua"

load() { wrk_run 2 "$1" "$WORK/$2" "$3"; } # CONNECTIONS SCRIPT URL

# The command line, quietly (the server logs as shipped).
cli() { RUST_LOG=warn "$GATEHOUSE_BIN" "$@" 2>/dev/null; }

bench() { # NAME DATABASE_URL
  local name=$1 data="$WORK/data-$1" port orders_port
  mkdir -p "$data"
  "$GATEHOUSE_BIN" gen-key --dir "$data" --name signing --type ed25519 >/dev/null
  port=$(free_port 18700)
  export GATEHOUSE__SERVER__PORT=$port GATEHOUSE__DATA_DIR="$data" GATEHOUSE__DATABASE__URL="$2" \
    GATEHOUSE__SERVER__PUBLIC_URL="http://127.0.0.1:$port" \
    GATEHOUSE__JWT__ALGORITHM=EdDSA GATEHOUSE__JWT__PRIVATE_KEY_FILE="$data/signing.pem"

  cli migrate up >/dev/null
  cli apis add --identifier https://orders.example.test --name Orders \
    --scope "orders:read=Read orders" >/dev/null
  local secret
  secret=$(cli clients add --id worker --name Worker --client-credentials \
    | awk '/^client_secret:/ {print $2}')
  cli clients set-apis worker --api "https://orders.example.test=orders:read" >/dev/null
  "$GATEHOUSE_BIN" serve >"$data/server.log" 2>&1 &
  PIDS+=($!)
  wait_for "http://127.0.0.1:$port/health/ready" "$data/server.log"
  local basic grants per_core
  basic=$(printf 'worker:%s' "$secret" | base64 -w0)
  grants=$(BASIC=$basic load 16 grant.lua "http://127.0.0.1:$port/api/v1/auth/token")
  per_core=$(awk -v r="$(field "$grants" 1)" -v c="$(nproc)" 'BEGIN { printf "%.0f", r / c }')
  echo "[$name] client credentials grants: $(field "$grants" 1)/s on $(nproc) cores, p99 $(field "$grants" 2) ms, non-2xx $(field "$grants" 3); $per_core per core = $(ratio "$per_core" 120)x Keycloak's 120 per vCPU (target >= 10x)"

  if [ "$name" = sqlite ]; then
    orders_port=$(free_port 18750)
    GATEHOUSE_ISSUER="http://127.0.0.1:$port" ORDERS_AUDIENCE=https://orders.example.test \
      ORDERS_ADDRESS="127.0.0.1:$orders_port" "$ORDERS_BIN" >"$data/orders.log" 2>&1 &
    PIDS+=($!)
    wait_for "http://127.0.0.1:$orders_port/catalog" "$data/orders.log"
    local token i open shut
    token=$(curl -fs -u "worker:$secret" -d grant_type=client_credentials \
      "http://127.0.0.1:$port/api/v1/auth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$orders_port/orders")" = 200
    : >"$WORK/pairs"
    for i in $(seq 1 "$ROUNDS"); do
      open=$(load 64 report.lua "http://127.0.0.1:$orders_port/catalog")
      shut=$(TOKEN=$token load 64 bearer.lua "http://127.0.0.1:$orders_port/orders")
      echo "$(ratio "$(field "$shut" 1)" "$(field "$open" 1)") $shut $open" >>"$WORK/pairs"
    done
    read -r r shut_rps shut_p99 shut_non2xx _ open_rps open_p99 _ < <(sort -n "$WORK/pairs" | sed -n "$(( (ROUNDS + 1) / 2 ))p")
    echo "[example] GET /catalog without a token: $open_rps req/s, p99 $open_p99 ms"
    echo "[example] GET /orders, the token checked by gatehouse-verifier: $shut_rps req/s, p99 $shut_p99 ms, non-2xx $shut_non2xx"
    echo "[example] verifier-protected ÷ unprotected: $r (median of $ROUNDS turns; spread $(cut -d' ' -f1 "$WORK/pairs" | sort -n | tr '\n' ' '); target >= 0.90)"
  fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  PIDS=()
}

echo "gatehouse resource-server benchmark: $(nproc) cores, ${SECONDS_EACH} s per measurement, $(date -u +%FT%TZ)"
on_databases "$WHICH"
