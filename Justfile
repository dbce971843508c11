# theater-supervisor: supervision for WebAssembly component actors.
# `just test` builds the guest actors and runs every test.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Install what a fresh machine lacks (just, wasm-tools, the guest toolchain, PostgreSQL).
setup:
    scripts/setup.sh

# Build the guest test actors (tests/actors for wasm32-unknown-unknown, tests/wasi-actors for
# wasm32-wasip2) into target/actors/*.wasm components.
guests:
    scripts/build-guests.sh

# Build the guest adapter workspace (adapter, guest SDK, examples, test supervisor) into
# target/adapter/*.wasm components.
adapter:
    scripts/build-adapter.sh

# Plug the adapter into the supervising actors with the wac CLI (`wac plug`, `wac compose`)
# into target/compose/*.wasm, and check that no composed parent imports theater:supervision.
compose: adapter
    scripts/compose.sh

# Build the host and its CLI.
build:
    cargo build --workspace

# Install the CLI (release build) as ~/.cargo/bin/theater-supervisor (ARGS go to cargo install,
# e.g. `just install --root ~/.local`), then build the guest adapter that the projects of
# `theater-supervisor new` plug into their supervisors (target/adapter/).
install *args:
    cargo install --path host --locked {{args}}
    scripts/build-adapter.sh

# The PostgreSQL store's tests get a private cluster (scripts/pg-test-cluster.sh, URL in
# THEATER_TEST_PG_URL), stopped again afterwards, also when tests fail.
# Build the guests and the compositions, then run every host unit test and end-to-end test.
test: guests compose
    #!/usr/bin/env bash
    set -euo pipefail
    url="$(scripts/pg-test-cluster.sh start)"
    trap 'scripts/pg-test-cluster.sh stop' EXIT
    export THEATER_TEST_PG_URL="$url" THEATER_TEST_REQUIRE_PG=1
    cargo test --workspace --no-fail-fast -- --test-threads 2 --show-output

# For running the PostgreSQL tests by hand: `eval "$(just pg-start)"`, then cargo test.
# Start a private PostgreSQL cluster; prints the `export THEATER_TEST_PG_URL=...` line.
pg-start:
    @echo "export THEATER_TEST_PG_URL=$(scripts/pg-test-cluster.sh start)"

# Stop the cluster of `just pg-start`.
pg-stop:
    scripts/pg-test-cluster.sh stop

# Format check and clippy with warnings denied.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cd guest-adapter && cargo fmt --all -- --check
    cd tests/actors && cargo fmt --all -- --check
    cd tests/wasi-actors && cargo fmt --all -- --check

# Benchmarks on real components vs raw wasmtime in the same run: prints a table and writes
# target/bench/results.json. Raises vm.max_map_count for the 100,000-children run when root.
# Arguments go to theater-bench: `just bench --quick`, `just bench --only-store`, `--only-http`.
bench *args: guests
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release -p theater-bench -p theater-supervisor
    url="$(scripts/pg-test-cluster.sh start)"
    trap 'scripts/pg-test-cluster.sh stop' EXIT
    THEATER_BENCH_PG_URL="$url" ./target/release/theater-bench {{args}}

# Crash inputs land in fuzz/artifacts/<target>/; the corpus a run grows in fuzz/target/corpus/.
# Fuzz the manifest parser, events file and event chain for SECONDS per target (not in `test`).
fuzz seconds="60":
    scripts/fuzz.sh {{seconds}}

# Soak: 100,000 spawn / crash / restart / stop cycles on a durable store, RSS every 10,000;
# fails if RSS at the end is more than 10% above RSS after the first 10,000 (a leak).
soak cycles="100000": guests
    cargo build --release -p theater-bench --bin theater-soak
    ./target/release/theater-soak --cycles {{cycles}}

# Run the demo supervision tree (spawn, crash, restart, resume, event chain).
demo: guests
    cargo run -q -p theater-supervisor -- run demo/root.toml --events target/demo-events.json
    cargo run -q -p theater-supervisor -- verify target/demo-events.json

# Run the embedding example: a host of the built-in handlers plus its own `kv` handler
# (examples/kv). `--workspace` so it reuses the artifacts of `cargo test --workspace`.
kv-example: guests
    cargo build -q --workspace --bin theater-kv-example
    ./target/debug/theater-kv-example

# The HTTP demo: an SDK supervisor keeps an HTTP worker (wasm32-wasip2, wasi:http) alive on
# 127.0.0.1:8089; curl it, crash it (500), see the restart, curl it again, stop the tree.
demo-http: guests compose
    scripts/demo-http.sh

# Run the guest SDK's example supervisor, composed with the adapter by `just compose`.
example: compose
    cargo run -q -p theater-supervisor -- run demo/supervised/supervisor.toml
