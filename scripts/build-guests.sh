#!/usr/bin/env bash
# Builds the guest test actors (tests/actors, its own workspace and target dir) for
# wasm32-unknown-unknown and turns each core module into a component, then the WASI 0.2 actors
# (tests/wasi-actors) for wasm32-wasip2:
#   tests/actors/<name>/, tests/wasi-actors/<name>/  ->  target/actors/<name>.wasm
# The guest toolchain is chosen by scripts/guest-toolchain.sh; missing tools are installed by
# scripts/setup.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ACTORS="$ROOT/tests/actors"
names=()
for manifest in "$ACTORS"/*/Cargo.toml; do
    names+=("$(basename "$(dirname "$manifest")")")
done
"$ROOT/scripts/build-wasm-workspace.sh" "$ACTORS" "$ROOT/target/actors" "guest actors" "${names[@]}"

WASI_ACTORS="$ROOT/tests/wasi-actors"
names=()
for manifest in "$WASI_ACTORS"/*/Cargo.toml; do
    names+=("$(basename "$(dirname "$manifest")")")
done
GUEST_TARGET=wasm32-wasip2 exec "$ROOT/scripts/build-wasm-workspace.sh" "$WASI_ACTORS" \
    "$ROOT/target/actors" "WASI 0.2 guest actors" "${names[@]}"
