#!/usr/bin/env bash
# The OpenAPI document as a contract, checked against a live release build on SQLite by
# clients we did not write:
#   1. schemathesis (PyPI): every check, every phase, for a bounded time; zero failures;
#   2. a TypeScript client generated from the served document by openapi-typescript and used
#      through openapi-fetch (clients/typescript): `tsc --strict` and the example, run by node.
#
#   bash tests/contract/run.sh [schemathesis|typescript|all]
#
# Environment: GATEHOUSE_BIN (skip the build), CONTRACT_SECONDS (schemathesis's time budget,
# default 150), CONTRACT_WORK (keep the server's log and the reports there).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
WHICH=${1:-all}
SECONDS_BUDGET=${CONTRACT_SECONDS:-150}
SCHEMATHESIS_VERSION=4.32.5

if [ -z "${GATEHOUSE_BIN:-}" ]; then
  cargo build --release --locked -q -p gatehouse-server
  GATEHOUSE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/gatehouse"
fi
# A working directory of our own is deleted at the end (its virtualenv and node modules
# weigh about 100 MB); one given in CONTRACT_WORK is kept.
OWN_WORK=
if [ -z "${CONTRACT_WORK:-}" ]; then OWN_WORK=$(mktemp -d /tmp/gatehouse-contract.XXXXXX); fi
WORK=${CONTRACT_WORK:-$OWN_WORK}
mkdir -p "$WORK"
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$OWN_WORK" ]; then wait 2>/dev/null || true; rm -rf "$OWN_WORK"; fi
}
trap cleanup EXIT

free_port() {
  local port=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

# A fresh service: its own SQLite database, the development profile, logging to a file. The
# brute-force limits are lifted: every request comes from one address and one admin, whom
# they would lock out after a handful of the wrong passwords a fuzzer sends, leaving the
# rest of the run unauthenticated. The limits have tests of their own (races, throttling).
start_server() {
  PORT=$(free_port 18700)
  BASE="http://127.0.0.1:$PORT"
  rm -rf "$WORK/data"
  export GATEHOUSE__SERVER__PORT=$PORT GATEHOUSE__DATA_DIR="$WORK/data" \
    GATEHOUSE__SERVER__PUBLIC_URL="$BASE" \
    GATEHOUSE__JWT__SECRET=contract-secret-0123456789abcdef0123456789 \
    GATEHOUSE__AUTH__LOGIN_FAILURES_PER_ACCOUNT=1000000 GATEHOUSE__AUTH__LOGIN_FAILURES_PER_IP=1000000 \
    GATEHOUSE__AUTH__REGISTRATIONS_PER_IP=1000000 GATEHOUSE__AUTH__PASSWORD_RESETS_PER_IP=1000000 \
    GATEHOUSE__AUTH__VERIFICATION_EMAILS_PER_USER=1000000 \
    GATEHOUSE__AUTH__CLIENT_SECRET_FAILURES_PER_CLIENT=1000000 \
    GATEHOUSE__AUTH__CLIENT_SECRET_FAILURES_PER_IP=1000000 \
    GATEHOUSE__DEVICE__STARTS_PER_IP=1000000 GATEHOUSE__PERSONAL_TOKENS__PER_USER_PER_HOUR=1000000
  "$GATEHOUSE_BIN" serve >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    if curl -fs "$BASE/health/ready" >/dev/null 2>&1; then return; fi
    sleep 0.1
  done
  echo "gatehouse did not start; its log:" >&2
  cat "$WORK/server.log" >&2
  exit 1
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

run_schemathesis() {
  if [ ! -x "$WORK/venv/bin/schemathesis" ]; then
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  start_server
  ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD='contract admin passphrase 7'
  printf '%s\n' "$ADMIN_PASSWORD" | "$GATEHOUSE_BIN" create-admin --email "$ADMIN_EMAIL" >/dev/null
  export ADMIN_EMAIL ADMIN_PASSWORD
  echo "schemathesis $SCHEMATHESIS_VERSION: every check, every phase, ${SECONDS_BUDGET}s, against $BASE"
  local status=0
  "$WORK/venv/bin/schemathesis" --config-file "$ROOT/tests/contract/schemathesis.toml" run \
    "$BASE/api-docs/openapi.json" \
    --phases examples,coverage,fuzzing,stateful \
    --max-time "$SECONDS_BUDGET" \
    --workers 1 \
    --report junit --report-dir "$WORK/reports" \
    --no-color || status=$?
  stop_server
  if [ "$status" != 0 ]; then
    echo "schemathesis found failures (exit $status); the server's log is $WORK/server.log" >&2
    return "$status"
  fi
}

# The generated client: types from the served document, `tsc --strict`, then the example
# against the same server. An API change that breaks generated clients fails here.
run_typescript() {
  start_server
  (
    cd clients/typescript
    npm ci --no-audit --no-fund --loglevel=error
    GATEHOUSE_URL=$BASE npm run -s generate
    npm run -s check
    npm run -s build
    GATEHOUSE_URL=$BASE npm run -s example
  )
  stop_server
}

case "$WHICH" in
  schemathesis) run_schemathesis ;;
  typescript) run_typescript ;;
  all) run_schemathesis && run_typescript ;;
  *) echo "usage: $0 [schemathesis|typescript|all]" >&2; exit 2 ;;
esac
