#!/usr/bin/env bash
# The HTTP demo (`just demo-http`): runs demo/http/supervisor.toml, an SDK supervisor keeping an
# HTTP worker alive on 127.0.0.1:8089, then drives it with curl: two requests, a request that
# crashes the worker (500), the restart in the supervisor's log, the next request answered by
# the restarted worker on the same address, and a Ctrl-C (SIGINT) that stops the tree.
# Run `just guests compose` first (the recipe does).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ADDR=127.0.0.1:8089
DATA="$ROOT/target/demo-http"
command -v curl >/dev/null || { echo "error: the demo needs curl (apt-get install -y curl)" >&2; exit 1; }

cargo build -q -p theater-supervisor
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/theater-supervisor"
rm -rf "$DATA"
"$BIN" run demo/http/supervisor.toml --data "$DATA" &
HOST=$!
trap 'kill "$HOST" 2>/dev/null || true' EXIT

# Wait until the worker listens (compiling the components takes a moment the first time).
for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/health")" = 200 ] && break
    sleep 0.1
done

show() {
    echo "\$ curl -i http://$ADDR$1"
    curl -s -i "http://$ADDR$1" | tr -d '\r' | grep -v -i -E '^(date|content-type|content-length):'
    echo
}
show /
show /
show /crash
sleep 0.2
show /
kill -INT "$HOST"
status=0
wait "$HOST" || status=$?
trap - EXIT
echo "host exited with status $status (130: stopped by Ctrl-C, children first)"
"$BIN" verify --data "$DATA"
