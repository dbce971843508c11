#!/usr/bin/env bash
# Builds the guest adapter workspace (guest-adapter/: the adapter, the guest SDK, its examples
# and the adapter's test supervisor; its own workspace and target dir) for
# wasm32-unknown-unknown and turns each cdylib's core module into a component:
#   guest-adapter/<path>/  ->  target/adapter/<crate-name>.wasm
# The components built here are not composed yet: scripts/compose.sh (`just compose`) plugs the
# adapter into the supervising actors with the wac CLI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GUESTS="$ROOT/guest-adapter"
OUT="$ROOT/target/adapter"
# The cdylib crates (the SDK is a library), by package name.
COMPONENTS=(supervision-adapter example-supervisor example-worker test-supervisor http-supervisor)

exec "$ROOT/scripts/build-wasm-workspace.sh" "$GUESTS" "$OUT" "the guest adapter, SDK and examples" \
    "${COMPONENTS[@]}"
