#!/usr/bin/env bash
# Decides how the wasm guests (tests/actors, guest-adapter) are built and prints, on stdout, the
# shell lines that describe it:
#
#   GUEST_CARGO_ENV   environment for the guest `cargo build` only (empty with rustup's target)
#   GUEST_CARGO_FLAGS extra cargo flags (empty with rustup's target)
#   GUEST_TOOLCHAIN   `rustup` or `debian-rustc-web`, for messages
#
# Use it as `eval "$(scripts/guest-toolchain.sh)"`, then
#   env $GUEST_CARGO_ENV cargo build --release --target wasm32-unknown-unknown $GUEST_CARGO_FLAGS
# RUSTC is never exported globally: only that one guest cargo invocation sees it.
#
# Order:
#   1. rustup has `wasm32-unknown-unknown` installed                  -> plain cargo
#   2. `rustup target add wasm32-unknown-unknown` succeeds within 15 s -> plain cargo
#      (a failed attempt is remembered for a day in tests/actors/target, so offline machines do
#      not wait 15 s on every build; delete that file to retry sooner)
#   3. Debian's rustc-web + rust-web-src + lld-22 are installed        -> build std with them
#   4. root on Debian: apt-get install those three, then as 3.
#   5. otherwise: exit 1 saying exactly what to install.
# Progress and errors go to stderr. GUEST_TOOLCHAIN=rustup|debian-rustc-web in the environment
# skips the detection and insists on that toolchain.
#
# `--target wasm32-wasip2` asks for the WASI 0.2 target instead (tests/wasi-actors). Only
# rustup's target can build it (its std needs wasi-libc, which Debian's rust-web-src lacks), so
# steps 3-4 do not apply: installed, or added by `rustup target add` within 60 s, or an error.
set -euo pipefail

TARGET=wasm32-unknown-unknown
if [ "${1:-}" = "--target" ]; then
    TARGET="${2:?--target needs a target name}"
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MARKER="$ROOT/tests/actors/target/.rustup-target-add-failed"
[ "$TARGET" = wasm32-unknown-unknown ] || MARKER="$MARKER-$TARGET"
WEB_RUSTC=/usr/bin/rustc
WEB_STD_SRC=/usr/lib/rustlib/src/rust/library
DEBIAN_PACKAGES="rustc-web rust-web-src lld-22"

say() { echo "==> $*" >&2; }

use_rustup() {
    echo "GUEST_TOOLCHAIN=rustup"
    echo "GUEST_CARGO_ENV="
    echo "GUEST_CARGO_FLAGS="
}

use_debian() {
    echo "GUEST_TOOLCHAIN=debian-rustc-web"
    echo "GUEST_CARGO_ENV='RUSTC=$WEB_RUSTC RUSTC_BOOTSTRAP=1'"
    echo "GUEST_CARGO_FLAGS='-Z build-std=std,panic_abort'"
}

rustup_has_target() {
    command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$TARGET"
}

# rustc-web (a rustc with its std sources) and the linker it calls for wasm.
debian_ready() {
    [ -x "$WEB_RUSTC" ] && [ -f "$WEB_STD_SRC/Cargo.lock" ] || return 1
    command -v lld-22 >/dev/null || return 1
    if command -v dpkg-query >/dev/null; then
        dpkg-query -W -f='${Status}' rustc-web 2>/dev/null | grep -q "install ok installed" || return 1
    fi
}

if ! command -v cargo >/dev/null; then
    say "error: cargo not found. Install rustup (https://rustup.rs), then run: rustup target add $TARGET"
    exit 1
fi

if [ "$TARGET" = wasm32-wasip2 ] && [ "${GUEST_TOOLCHAIN:-}" = debian-rustc-web ]; then
    GUEST_TOOLCHAIN=  # Debian's compiler cannot build wasm32-wasip2: detect rustup's instead
fi
case "${GUEST_TOOLCHAIN:-}" in
    rustup) use_rustup; exit 0 ;;
    debian-rustc-web) use_debian; exit 0 ;;
    "") ;;
    *) say "error: GUEST_TOOLCHAIN must be rustup or debian-rustc-web, not '$GUEST_TOOLCHAIN'"; exit 1 ;;
esac

if rustup_has_target; then
    use_rustup
    exit 0
fi

if [ "$TARGET" = wasm32-wasip2 ]; then
    if command -v rustup >/dev/null; then
        say "trying: rustup target add $TARGET (60 s timeout)"
        if timeout 60 rustup target add "$TARGET" 1>&2; then
            use_rustup
            exit 0
        fi
    fi
    say "error: the $TARGET guests (tests/wasi-actors) need rustup's target: rustup target add $TARGET"
    exit 1
fi

if command -v rustup >/dev/null; then
    if [ -f "$MARKER" ] && [ -n "$(find "$MARKER" -mmin -1440 2>/dev/null)" ]; then
        say "rustup target add $TARGET failed recently; not retrying (delete $MARKER to retry)"
    else
        say "trying: rustup target add $TARGET (15 s timeout)"
        if timeout 15 rustup target add "$TARGET" 1>&2; then
            rm -f "$MARKER"
            use_rustup
            exit 0
        fi
        say "rustup could not add $TARGET; falling back to Debian's rustc-web"
        mkdir -p "$(dirname "$MARKER")" && touch "$MARKER"
    fi
fi

if debian_ready; then
    use_debian
    exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $DEBIAN_PACKAGES with apt-get"
    apt-get update >&2
    # shellcheck disable=SC2086 # the package list is meant to split
    DEBIAN_FRONTEND=noninteractive apt-get install -y $DEBIAN_PACKAGES >&2
    if debian_ready; then
        use_debian
        exit 0
    fi
fi

say "error: no toolchain can build $TARGET guests. Install one of:"
say "  - rustup's target:  rustup target add $TARGET"
say "  - on Debian 12 (as root):  apt-get install -y $DEBIAN_PACKAGES"
say "    (rustc-web gives $WEB_RUSTC, rust-web-src gives $WEB_STD_SRC, lld-22 the wasm linker)"
exit 1
