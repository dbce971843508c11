#!/usr/bin/env bash
# Builds the guest test actors (tests/actors, its own workspace and target dir) for
# wasm32-unknown-unknown and turns each core module into a component:
#   tests/actors/<name>/  ->  target/actors/<name>.wasm
# The guest toolchain is chosen by scripts/guest-toolchain.sh; missing tools are installed by
# scripts/setup.sh. The guest target dir is kept warm: this script never cleans it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ACTORS="$ROOT/tests/actors"
OUT="$ROOT/target/actors"
TARGET=wasm32-unknown-unknown

WASM_TOOLS="$(command -v wasm-tools || true)"
if [ -z "$WASM_TOOLS" ] && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/wasm-tools" ]; then
    WASM_TOOLS="${CARGO_HOME:-$HOME/.cargo}/bin/wasm-tools"
fi
if [ -z "$WASM_TOOLS" ]; then
    echo "error: wasm-tools not found; run scripts/setup.sh (or: cargo install --locked wasm-tools)" >&2
    exit 1
fi

eval "$("$ROOT/scripts/guest-toolchain.sh")"

echo "==> building guest actors ($GUEST_TOOLCHAIN)"
# --target-dir: the core modules must land where the loop below looks, whatever CARGO_TARGET_DIR
# says. GUEST_CARGO_ENV / GUEST_CARGO_FLAGS are meant to split into words.
# shellcheck disable=SC2086
(cd "$ACTORS" && env $GUEST_CARGO_ENV cargo build --release --target "$TARGET" \
    --target-dir "$ACTORS/target" $GUEST_CARGO_FLAGS)

mkdir -p "$OUT"
for manifest in "$ACTORS"/*/Cargo.toml; do
    name="$(basename "$(dirname "$manifest")")"
    core="$ACTORS/target/$TARGET/release/${name//-/_}.wasm"
    echo "==> componentizing $name"
    "$WASM_TOOLS" component new "$core" -o "$OUT/$name.wasm"
done
