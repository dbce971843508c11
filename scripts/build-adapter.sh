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
TARGET=wasm32-unknown-unknown
# The cdylib crates (the SDK is a library), by package name.
COMPONENTS=(supervision-adapter example-supervisor example-worker test-supervisor)

WASM_TOOLS="$(command -v wasm-tools || true)"
if [ -z "$WASM_TOOLS" ] && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/wasm-tools" ]; then
    WASM_TOOLS="${CARGO_HOME:-$HOME/.cargo}/bin/wasm-tools"
fi
if [ -z "$WASM_TOOLS" ]; then
    echo "error: wasm-tools not found; run scripts/setup.sh (or: cargo install --locked wasm-tools)" >&2
    exit 1
fi

eval "$("$ROOT/scripts/guest-toolchain.sh")"

echo "==> building the guest adapter, SDK and examples ($GUEST_TOOLCHAIN)"
# shellcheck disable=SC2086 # GUEST_CARGO_ENV / GUEST_CARGO_FLAGS are meant to split into words
(cd "$GUESTS" && env $GUEST_CARGO_ENV cargo build --release --target "$TARGET" \
    --target-dir "$GUESTS/target" $GUEST_CARGO_FLAGS)

mkdir -p "$OUT"
for name in "${COMPONENTS[@]}"; do
    core="$GUESTS/target/$TARGET/release/${name//-/_}.wasm"
    echo "==> componentizing $name"
    "$WASM_TOOLS" component new "$core" -o "$OUT/$name.wasm"
done
