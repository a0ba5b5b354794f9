#!/usr/bin/env bash
# gatehouse as an OpenID Connect provider, checked by a relying party we did not write
# (openid-client, from npm): discovery, code + PKCE, ID tokens verified against the JWKS,
# userinfo, refresh, introspection, revocation and logout; then a service behind it: tokens
# by the client credentials grant (openid-client), verified by jose and by the example orders
# service (examples/orders) — once with an Ed25519 key (EdDSA) and once with an RSA key
# (RS256), each on a fresh release build's SQLite database.
#
#   bash tests/oidc/run.sh
#
# Environment: GATEHOUSE_BIN and ORDERS_BIN (skip the builds), OIDC_WORK (keep logs there), CODE_REUSE_WAIT
# (seconds before the late code reuse; 30 as the suite does).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

if [ -z "${GATEHOUSE_BIN:-}" ]; then
  cargo build --release --locked -q -p gatehouse-server
  GATEHOUSE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/gatehouse"
fi
if [ -z "${ORDERS_BIN:-}" ]; then
  cargo build --release --locked -q -p orders-example
  ORDERS_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/orders-example"
fi
# A working directory of our own is deleted at the end; one given in OIDC_WORK is kept.
OWN_WORK=
if [ -z "${OIDC_WORK:-}" ]; then OWN_WORK=$(mktemp -d /tmp/gatehouse-oidc.XXXXXX); fi
WORK=${OIDC_WORK:-$OWN_WORK}
mkdir -p "$WORK"
SERVER_PID=
ORDERS_PID=
cleanup() {
  for pid in $SERVER_PID $ORDERS_PID; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$OWN_WORK" ]; then wait 2>/dev/null || true; rm -rf "$OWN_WORK"; fi
}
trap cleanup EXIT

(cd tests/oidc && npm ci --silent --no-audit --no-fund)

free_port() {
  local port=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

run_with() {
  local alg=$1 key_type=$2
  local data="$WORK/$alg"
  rm -rf "$data"
  mkdir -p "$data"
  "$GATEHOUSE_BIN" gen-key --dir "$data" --name signing --type "$key_type" >/dev/null
  local port
  port=$(free_port 18800)
  export GATEHOUSE__SERVER__PORT=$port GATEHOUSE__DATA_DIR="$data" \
    GATEHOUSE__SERVER__PUBLIC_URL="http://127.0.0.1:$port" \
    GATEHOUSE__JWT__ALGORITHM=$alg GATEHOUSE__JWT__PRIVATE_KEY_FILE="$data/signing.pem"
  "$GATEHOUSE_BIN" serve >"$data/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  local redirect="http://127.0.0.1:9/callback" logout="https://rp.example.test/signed-out"
  local email=rp-user@example.com password='relying party passphrase 3' full_name='Ada Lovelace'
  curl -fs -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\",\"full_name\":\"$full_name\"}" \
    "http://127.0.0.1:$port/api/v1/auth/register" >/dev/null
  local secret
  secret=$("$GATEHOUSE_BIN" clients add --id rp --name "Relying party" --first-party --resource-server \
    --redirect-uri "$redirect" --post-logout-redirect-uri "$logout" \
    | awk '/^client_secret:/ {print $2}')
  "$GATEHOUSE_BIN" clients add --id spa --name "Public app" --public --first-party \
    --redirect-uri "$redirect" >/dev/null
  # The conformance suite's client: another party's app, registered by an administrator.
  local logout_with_query="https://rp.example.test/signed-out?from=gatehouse" third_secret
  third_secret=$("$GATEHOUSE_BIN" clients add --id third --name "Third-party app" \
    --redirect-uri "$redirect" --post-logout-redirect-uri "$logout" \
    --post-logout-redirect-uri "$logout_with_query" \
    | awk '/^client_secret:/ {print $2}')
  GATEHOUSE_URL="http://127.0.0.1:$port" ALG=$alg EMAIL=$email PASSWORD=$password \
    RP_ID=rp RP_SECRET="$secret" SPA_ID=spa REDIRECT_URI="$redirect" LOGOUT_URI="$logout" \
    node tests/oidc/relying-party.cjs || { echo "server log:" >&2; tail -50 "$data/server.log" >&2; exit 1; }
  GATEHOUSE_URL="http://127.0.0.1:$port" ALG=$alg EMAIL=$email PASSWORD=$password FULL_NAME=$full_name \
    THIRD_ID=third THIRD_SECRET="$third_secret" RP_ID=rp RP_SECRET="$secret" SPA_ID=spa \
    REDIRECT_URI="$redirect" LOGOUT_URI="$logout" LOGOUT_URI_WITH_QUERY="$logout_with_query" \
    node tests/oidc/conformance.cjs || { echo "server log:" >&2; tail -50 "$data/server.log" >&2; exit 1; }
  resource_server "$port" "$alg" "$data" "$redirect" "$email" "$password"
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

# A service behind gatehouse: two registered APIs, clients with the client credentials grant,
# the example orders service (gatehouse-verifier, introspection on) and resource-server.cjs.
resource_server() {
  local port=$1 alg=$2 data=$3 redirect=$4 email=$5 password=$6
  local orders=https://orders.example.test billing=urn:example:billing
  "$GATEHOUSE_BIN" apis add --identifier "$orders" --name Orders \
    --scope "orders:read=Read orders" --scope "orders:write=Place orders" >/dev/null
  "$GATEHOUSE_BIN" apis add --identifier "$billing" --name Billing --scope "billing:read=Read invoices" >/dev/null
  machine() {
    "$GATEHOUSE_BIN" clients add --id "$1" --name "Machine $1" --client-credentials | awk '/^client_secret:/ {print $2}'
    "$GATEHOUSE_BIN" clients set-apis "$1" --api "$2" >/dev/null
  }
  local worker reader biller gate
  worker=$(machine worker "$orders=orders:read,orders:write")
  reader=$(machine reader "$orders=orders:read")
  biller=$(machine biller "$billing=billing:read")
  gate=$("$GATEHOUSE_BIN" clients add --id orders-api --name "Orders API" --resource-server \
    | awk '/^client_secret:/ {print $2}')
  "$GATEHOUSE_BIN" clients add --id shop --name Shop --public --first-party --redirect-uri "$redirect" >/dev/null
  "$GATEHOUSE_BIN" clients set-apis shop --api "$orders=orders:read" >/dev/null
  local orders_port
  orders_port=$(free_port $((port + 1)))
  GATEHOUSE_ISSUER="http://127.0.0.1:$port" ORDERS_AUDIENCE="$orders" ORDERS_ADDRESS="127.0.0.1:$orders_port" \
    ORDERS_INTROSPECTION_CLIENT_ID=orders-api ORDERS_INTROSPECTION_CLIENT_SECRET="$gate" \
    "$ORDERS_BIN" >"$data/orders.log" 2>&1 &
  ORDERS_PID=$!
  for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:$orders_port/catalog" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  GATEHOUSE_URL="http://127.0.0.1:$port" ALG=$alg ORDERS_URL="http://127.0.0.1:$orders_port" \
    ORDERS="$orders" BILLING="$billing" WORKER_ID=worker WORKER_SECRET="$worker" \
    READER_ID=reader READER_SECRET="$reader" BILLER_ID=biller BILLER_SECRET="$biller" \
    KEY_FILE="$data/signing.pem" REVOKE_COMMAND="'$GATEHOUSE_BIN' clients set-apis reader" \
    SHOP_ID=shop REDIRECT_URI="$redirect" EMAIL="$email" PASSWORD="$password" \
    node tests/oidc/resource-server.cjs || {
    echo "server log:" >&2; tail -50 "$data/server.log" >&2
    echo "orders log:" >&2; tail -20 "$data/orders.log" >&2; exit 1
  }
  kill "$ORDERS_PID" 2>/dev/null || true
  wait "$ORDERS_PID" 2>/dev/null || true
  ORDERS_PID=
}

echo "openid-client $(node -p 'require("./tests/oidc/node_modules/openid-client/package.json").version') against gatehouse"
run_with EdDSA ed25519
run_with RS256 rsa
echo "OpenID Connect interop: passed with EdDSA and RS256"
