#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time and prints a summary table.
#   scripts/fuzz.sh [SECONDS]        (default 60 s per target; `just fuzz [SECONDS]`)
#   FUZZ_TARGETS="manifest chain"    runs only those targets
#   FUZZ_SANITIZER=none              builds without AddressSanitizer (faster; default: address)
# Seeds are fuzz/corpus/<target>/ (committed, never written); what a run discovers goes to
# fuzz/target/corpus/<target>/ (ignored by git, reused by the next run); fuzz/dict/<target>.dict,
# when present, is passed as a libFuzzer dictionary. A crash leaves its input
# in fuzz/artifacts/<target>/crash-<sha1>; reproduce it with
#   cd fuzz && cargo +nightly fuzz run -a <target> artifacts/<target>/crash-<sha1>
# Exits non-zero when a target crashed, naming the artifact.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECS="${1:-60}"
if ! [[ "$SECS" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS]  (a positive number of seconds per target)" >&2
    exit 2
fi
SANITIZER="${FUZZ_SANITIZER:-address}"

# Tools: a nightly toolchain (libFuzzer instrumentation needs -Z flags) and cargo-fuzz.
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "==> installing the nightly toolchain (minimal profile)"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

cd "$ROOT/fuzz"
read -r -a TARGETS <<<"${FUZZ_TARGETS:-$(cargo +nightly fuzz list | tr '\n' ' ')}"
[[ ${#TARGETS[@]} -gt 0 ]] || { echo "no fuzz targets in fuzz/fuzz_targets" >&2; exit 2; }

echo "==> building ${TARGETS[*]} (nightly, sanitizer: $SANITIZER, debug assertions on)"
start=$(date +%s%N)
cargo +nightly fuzz build -s "$SANITIZER" --debug-assertions
build_secs=$(awk "BEGIN { printf \"%.1f\", ($(date +%s%N) - $start) / 1e9 }")
echo "    built in $build_secs s"

mkdir -p target/fuzz-logs
rows=()
crashed=()
for t in "${TARGETS[@]}"; do
    seeds="corpus/$t"
    grown="target/corpus/$t"
    mkdir -p "$seeds" "$grown"
    log="target/fuzz-logs/$t.log"
    echo "==> fuzzing $t for ${SECS} s (log: fuzz/$log)"
    opts=(-max_total_time="$SECS" -print_final_stats=1)
    [[ -f "dict/$t.dict" ]] && opts+=(-dict="dict/$t.dict")
    rc=0
    # The writable corpus comes first: libFuzzer adds new inputs to the first directory only.
    cargo +nightly fuzz run -s "$SANITIZER" --debug-assertions "$t" "$grown" "$seeds" -- \
        "${opts[@]}" >"$log" 2>&1 || rc=$?

    stat() { sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$log" | tail -1; }
    execs=$(stat number_of_executed_units)
    per_sec=$(stat average_exec_per_sec)
    rss=$(stat peak_rss_mb)
    # The last status line: "#N DONE cov: C ft: F corp: K/SIZE ..." (or the line before a crash).
    last=$(grep -E '^#[0-9]+.*cov: [0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
    artifact=$(sed -n 's/.*Test unit written to \(\S*\).*/\1/p' "$log" | tail -1)
    artifact="${artifact#"$ROOT/"}"   # cargo-fuzz passes an absolute -artifact_prefix
    [[ -z "$artifact" || "$artifact" == /* || "$artifact" == fuzz/* ]] || artifact="fuzz/$artifact"
    crashes=0
    if [[ $rc -ne 0 || -n "$artifact" ]]; then
        crashes=1
        if [[ -n "$artifact" ]]; then
            crashed+=("$t: $artifact  (reproduce: cd fuzz && cargo +nightly fuzz run -s $SANITIZER -a $t ${artifact#fuzz/})")
        else
            crashed+=("$t: no artifact, exit $rc (see fuzz/$log)")
        fi
        echo "    CRASHED (exit $rc):"
        { grep -m1 -A8 -E 'panicked at|==[0-9]+==ERROR|ERROR: libFuzzer' "$log" \
            || grep -v '^#[0-9]' "$log" | tail -15; } | sed 's/^/    | /'
    fi
    rows+=("$(printf '%-12s %11s %9s %7s %7s %12s %7s %7s' "$t" "${execs:--}" "${per_sec:--}" \
        "${cov:--}" "${ft:--}" "${corp:--}" "${rss:--}" "$crashes")")
done

echo
echo "fuzz summary: ${SECS} s per target, sanitizer $SANITIZER, build $build_secs s"
printf '%-12s %11s %9s %7s %7s %12s %7s %7s\n' target execs exec/s cov ft corpus rss_mb crashes
printf '%s\n' "${rows[@]}"
if [[ ${#crashed[@]} -gt 0 ]]; then
    echo
    echo "CRASHES:" >&2
    printf '  %s\n' "${crashed[@]}" >&2
    exit 1
fi
