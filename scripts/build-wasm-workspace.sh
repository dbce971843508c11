#!/usr/bin/env bash
# Builds one guest Cargo workspace for wasm32-unknown-unknown with the toolchain chosen by
# scripts/guest-toolchain.sh, then turns the named cdylibs' core modules into components.
# With GUEST_TARGET=wasm32-wasip2 it builds for WASI 0.2 instead, where rustc already produces
# components: they are copied as they are.
#
# Usage: [GUEST_TARGET=wasm32-wasip2] scripts/build-wasm-workspace.sh WORKSPACE_DIR OUT_DIR LABEL CRATE...
#   WORKSPACE_DIR/target/<target>/release/<crate>.wasm -> OUT_DIR/<crate>.wasm
# The workspace's own target dir is kept warm: this script never cleans it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKSPACE="$1"
OUT="$2"
LABEL="$3"
shift 3
TARGET="${GUEST_TARGET:-wasm32-unknown-unknown}"

WASM_TOOLS="$(command -v wasm-tools || true)"
if [ -z "$WASM_TOOLS" ] && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/wasm-tools" ]; then
    WASM_TOOLS="${CARGO_HOME:-$HOME/.cargo}/bin/wasm-tools"
fi
if [ -z "$WASM_TOOLS" ]; then
    echo "error: wasm-tools not found; run scripts/setup.sh (or: cargo install --locked wasm-tools)" >&2
    exit 1
fi

eval "$("$ROOT/scripts/guest-toolchain.sh" --target "$TARGET")"

echo "==> building $LABEL ($GUEST_TOOLCHAIN)"
# --target-dir: the core modules must land where the loop below looks, whatever CARGO_TARGET_DIR
# says. GUEST_CARGO_ENV / GUEST_CARGO_FLAGS are meant to split into words.
# shellcheck disable=SC2086
(cd "$WORKSPACE" && env $GUEST_CARGO_ENV cargo build --release --target "$TARGET" \
    --target-dir "$WORKSPACE/target" $GUEST_CARGO_FLAGS)

mkdir -p "$OUT"
for name in "$@"; do
    core="$WORKSPACE/target/$TARGET/release/${name//-/_}.wasm"
    if [ "$TARGET" = wasm32-wasip2 ]; then
        cp "$core" "$OUT/$name.wasm"
    else
        echo "==> componentizing $name"
        "$WASM_TOOLS" component new "$core" -o "$OUT/$name.wasm"
    fi
done
