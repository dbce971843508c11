#!/usr/bin/env bash
# Installs what a fresh machine lacks to build the guest actors and run the tests:
#   just, wasm-tools and wac (`cargo install --locked`, only when not already on PATH or in
#   ~/.cargo/bin), and the guest toolchain (scripts/guest-toolchain.sh: rustup's wasm target, or
#   Debian's rustc-web + rust-web-src + lld-22, installed with apt-get when run as root),
#   rustup's wasm32-wasip2 target for the WASI 0.2 guests, curl (for `just demo-http`), and the
#   PostgreSQL server the tests start a private cluster of (scripts/pg-test-cluster.sh; Debian's
#   `postgresql` package, installed with apt-get when run as root and no server is found).
#
# Usage: scripts/setup.sh [--with-wac]
#   --with-wac   accepted for compatibility: wac-cli (`just compose`, `just test`) is always
#                installed now
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"

for arg in "$@"; do
    case "$arg" in
        --with-wac) ;;
        -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

if ! command -v cargo >/dev/null; then
    echo "error: cargo not found; install rustup first (https://rustup.rs)" >&2
    exit 1
fi

# install_tool <crate> <binary>
install_tool() {
    if command -v "$2" >/dev/null || [ -x "$CARGO_BIN/$2" ]; then
        echo "==> $2 already installed"
    else
        echo "==> installing $2 (several minutes)"
        cargo install --locked "$1"
    fi
}

install_tool just just
install_tool wasm-tools wasm-tools
install_tool wac-cli wac

# curl: the HTTP demo (`just demo-http`) talks to the worker with it.
if command -v curl >/dev/null; then
    echo "==> curl already installed"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing curl with apt-get"
    apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y curl >/dev/null
else
    echo "==> note: install curl to run the HTTP demo (just demo-http)"
fi

echo "==> choosing the guest toolchain"
eval "$("$ROOT/scripts/guest-toolchain.sh")"
echo "==> guest toolchain: $GUEST_TOOLCHAIN"
"$ROOT/scripts/guest-toolchain.sh" --target wasm32-wasip2 >/dev/null
echo "==> wasm32-wasip2 target (WASI 0.2 guests): ready"

echo "==> PostgreSQL server for the tests"
if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || [ -n "${PG_BIN:-}" ]; then
    echo "==> PostgreSQL already installed"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing Debian's postgresql (about a minute)"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
else
    echo "error: no PostgreSQL server found (the tests start a private cluster): install the" >&2
    echo "       \`postgresql\` package (Debian: apt-get install postgresql) or set PG_BIN to its bin directory" >&2
    exit 1
fi

case ":$PATH:" in
    *":$CARGO_BIN:"*) ;;
    *) echo "==> note: add $CARGO_BIN to PATH to use just, wasm-tools and wac directly" ;;
esac
