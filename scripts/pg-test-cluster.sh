#!/usr/bin/env bash
# A private PostgreSQL cluster for the tests: on 127.0.0.1, a free port, trust authentication,
# its data directory under target/pg-test/ (or under /tmp when the `postgres` user cannot reach
# target/, e.g. a checkout under /root). Never touches a packaged cluster or its service.
#
# Usage:
#   scripts/pg-test-cluster.sh start   start a fresh cluster (stopping one left by an earlier run);
#                                      prints its URL on stdout (postgres://postgres@127.0.0.1:PORT/postgres)
#   scripts/pg-test-cluster.sh stop    stop it (immediate) and delete its data directory; the server
#                                      log is kept as target/pg-test/server.log
#   scripts/pg-test-cluster.sh url     print the URL of the running cluster
#
# The server refuses to run as root: as root, the data directory is chowned to `postgres` and
# initdb/pg_ctl run through `runuser -u postgres --`. The binaries come from PG_BIN if set, else
# the newest /usr/lib/postgresql/*/bin, else PATH (`scripts/setup.sh` installs Debian's package).
# Progress and errors go to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/target/pg-test"

say() { echo "==> pg-test-cluster: $*" >&2; }
die() { echo "error: pg-test-cluster: $*" >&2; exit 1; }

pg_bin() {
    if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
    local newest
    newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$newest" ] && [ -x "$newest/pg_ctl" ]; then echo "$newest"; return; fi
    if command -v pg_ctl >/dev/null; then dirname "$(command -v pg_ctl)"; return; fi
    die "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/pg_ctl, no pg_ctl on PATH): run scripts/setup.sh (installs Debian's postgresql) or set PG_BIN"
}

# as_pg CMD...: run as the cluster's owner (the `postgres` user when we are root).
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop_cluster() {
    [ -f "$STATE/datadir" ] || return 0
    local dir bin
    dir="$(cat "$STATE/datadir")"
    bin="$(pg_bin)"
    if [ -f "$dir/postmaster.pid" ]; then
        as_pg "$bin/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ -f "$dir/server.log" ]; then cp "$dir/server.log" "$STATE/server.log" || true; fi
    rm -rf "$dir"
    rm -f "$STATE/datadir" "$STATE/url"
}

start_cluster() {
    local bin dir port url
    bin="$(pg_bin)"
    [ -x "$bin/initdb" ] || die "$bin/initdb not found (set PG_BIN to the server's bin directory)"
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        die "running as root and there is no \`postgres\` user to run the server as (the server refuses root): install Debian's postgresql package (scripts/setup.sh) or create the user"
    fi
    stop_cluster
    mkdir -p "$STATE"
    dir="$STATE/data"
    if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$STATE"; then
        # The postgres user cannot traverse the checkout's path (e.g. under /root).
        dir="$(mktemp -d /tmp/theater-pg-test.XXXXXX)/data"
        say "postgres cannot reach $STATE; data directory $dir"
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$dir"
        chmod 700 "$dir"
    fi
    echo "$dir" >"$STATE/datadir"
    say "initdb $dir"
    as_pg "$bin/initdb" -D "$dir" -A trust -U postgres -E UTF8 --no-sync --no-instructions >"$STATE/initdb.log" 2>&1 ||
        die "initdb failed; see $STATE/initdb.log"
    local attempt
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + (RANDOM % 20000)))
        port_in_use "$port" && continue
        if as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 \
            -o "-p $port -c unix_socket_directories= -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null; then
            url="postgres://postgres@127.0.0.1:$port/postgres"
            echo "$url" >"$STATE/url"
            say "running on 127.0.0.1:$port (log $dir/server.log)"
            echo "$url"
            return 0
        fi
        say "start on port $port failed (attempt $attempt); last log lines:"
        tail -n 3 "$dir/server.log" >&2 || true
    done
    die "the server did not start; see $dir/server.log"
}

case "${1:-}" in
    start) start_cluster ;;
    stop) stop_cluster; say "stopped" ;;
    url) [ -f "$STATE/url" ] || die "no cluster running (scripts/pg-test-cluster.sh start)"; cat "$STATE/url" ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) echo "usage: scripts/pg-test-cluster.sh start|stop|url" >&2; exit 2 ;;
esac
