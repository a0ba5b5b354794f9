#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for the test suite.
#   eval "$(bash .ci/postgres.sh)"          starts one; exports TEST_DATABASE_URL and GATEHOUSE_PGDATA
#   bash .ci/postgres.sh stop "$GATEHOUSE_PGDATA"   stops it and deletes its files
#   bash .ci/postgres.sh pause DATA / resume DATA     stops it keeping its files / starts it again (fault tests)
set -euo pipefail

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}

# PostgreSQL refuses to run as root: run it as the `postgres` user when we are root.
if [ "$(id -u)" = 0 ]; then
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

# Tests need no durability: fsync and synchronous commit are off, unless GATEHOUSE_PG_DURABLE=1
# (benchmarks, which must wait for the disk as production does, and are given the shared
# buffers of a production server: 1 GB, where PostgreSQL's default of 128 MB is meant for
# machines with little memory).
start_cluster() { # DATA PORT
  local durability="-c fsync=off -c synchronous_commit=off"
  if [ "${GATEHOUSE_PG_DURABLE:-}" = 1 ] || [ -e "$1/gatehouse.durable" ]; then
    durability="-c shared_buffers=1GB"
  fi
  as_pg "$PGBIN/pg_ctl" -D "$1" -l "$1/server.log" -w -o \
    "-p $2 -k $1 -c listen_addresses=127.0.0.1 $durability -c max_connections=1000" \
    start >/dev/null
}

case "${1:-}" in
  stop)
    as_pg "$PGBIN/pg_ctl" -D "$2" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$2"
    exit 0
    ;;
  pause)
    as_pg "$PGBIN/pg_ctl" -D "$2" -m fast -w stop >/dev/null
    exit 0
    ;;
  resume)
    start_cluster "$2" "$(cat "$2/gatehouse.port")"
    exit 0
    ;;
esac

# Below Linux's ephemeral range (32768-60999), so that no client connection of a test run
# holds the port as its local end.
PORT=${GATEHOUSE_PG_PORT:-15432}
DATA=$(mktemp -d /tmp/gatehouse-pg.XXXXXX)
if [ "$(id -u)" = 0 ]; then chown postgres: "$DATA"; fi

as_pg "$PGBIN/initdb" -D "$DATA" -A trust -U postgres >/dev/null
if [ "${GATEHOUSE_PG_DURABLE:-}" = 1 ]; then touch "$DATA/gatehouse.durable"; fi
# Skip ports something else already listens on (another cluster, a second run), and try the
# next one if the port could not be bound all the same.
for attempt in $(seq 1 20); do
  while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do PORT=$((PORT + 1)); done
  echo "$PORT" >"$DATA/gatehouse.port"
  if start_cluster "$DATA" "$PORT" 2>/dev/null; then break; fi
  if [ "$attempt" = 20 ]; then
    echo "could not start PostgreSQL:" >&2
    cat "$DATA/server.log" >&2
    exit 1
  fi
  PORT=$((PORT + 1))
done

echo "export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/postgres"
echo "export GATEHOUSE_PGDATA=$DATA"
