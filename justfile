# Recipes for working on gatehouse. `just --list` shows them.

# Serve on 127.0.0.1:8000 (SQLite under ./data).
run:
    cargo run --release

# The whole test suite on SQLite.
test:
    cargo test --workspace

# The black-box suite on a throwaway PostgreSQL cluster.
test-pg:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(bash .ci/postgres.sh)"
    trap 'bash .ci/postgres.sh stop "$GATEHOUSE_PGDATA"' EXIT
    cargo test -p gatehouse-tests

# Formatting and clippy, as CI runs them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Print the OpenAPI document.
openapi:
    cargo run -q -- openapi

# Everything CI runs.
ci:
    bash .ci/run

# Load benchmark (release build, wrk on loopback) on SQLite and PostgreSQL; prints figures.
bench which="all":
    bash tests/benches/load.sh {{which}}
