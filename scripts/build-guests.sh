#!/usr/bin/env bash
# Builds the guest test actors (tests/actors, its own workspace and target dir) for
# wasm32-unknown-unknown and turns each core module into a component:
#   tests/actors/<name>/  ->  target/actors/<name>.wasm
# The guest toolchain is chosen by scripts/guest-toolchain.sh; missing tools are installed by
# scripts/setup.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ACTORS="$ROOT/tests/actors"
names=()
for manifest in "$ACTORS"/*/Cargo.toml; do
    names+=("$(basename "$(dirname "$manifest")")")
done
exec "$ROOT/scripts/build-wasm-workspace.sh" "$ACTORS" "$ROOT/target/actors" "guest actors" "${names[@]}"
