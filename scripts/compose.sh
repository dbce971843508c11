#!/usr/bin/env bash
# Composes the supervising actors of guest-adapter/ with the guest adapter, using the wac CLI:
#   wac plug    target/adapter/{example,test,http}-supervisor.wasm -> target/compose/<name>.wasm
#   wac compose compose/example-supervisor.wac                -> target/compose/example-supervisor.wac.wasm
# then checks with `wasm-tools component wit` that no composed parent imports theater:supervision.
# Run scripts/build-adapter.sh first (`just compose` does both).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IN="$ROOT/target/adapter"
OUT="$ROOT/target/compose"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"

tool() {
    if command -v "$1" >/dev/null; then
        command -v "$1"
    elif [ -x "$CARGO_BIN/$1" ]; then
        echo "$CARGO_BIN/$1"
    else
        echo "error: $1 not found; run scripts/setup.sh --with-wac (or: cargo install --locked $2)" >&2
        exit 1
    fi
}
WAC="$(tool wac wac-cli)"
WASM_TOOLS="$(tool wasm-tools wasm-tools)"

ADAPTER="$IN/supervision-adapter.wasm"
mkdir -p "$OUT"
for parent in example-supervisor test-supervisor http-supervisor; do
    echo "==> wac plug: $parent"
    "$WAC" plug --plug "$ADAPTER" "$IN/$parent.wasm" -o "$OUT/$parent.wasm"
done
echo "==> wac compose: compose/example-supervisor.wac"
"$WAC" compose "$ROOT/compose/example-supervisor.wac" \
    --dep "theater:adapter=$ADAPTER" \
    --dep "example:supervisor=$IN/example-supervisor.wasm" \
    -o "$OUT/example-supervisor.wac.wasm"

for composed in "$OUT"/*.wasm; do
    if "$WASM_TOOLS" component wit "$composed" | grep -E '^\s*import theater:supervision' >&2; then
        echo "error: $composed still imports theater:supervision" >&2
        exit 1
    fi
done
echo "==> composed (imports: theater:simple/* and theater:extension/* only):"
(cd "$ROOT" && ls -1 target/compose/*.wasm)
