#!/usr/bin/env bash
# Runs every cargo-fuzz target of qmac for a bounded time.
#
# Usage: fuzz/run_all.sh [SECONDS_PER_TARGET] [cargo-fuzz options...]
#   SECONDS_PER_TARGET  libFuzzer -max_total_time per target (default 30)
#   cargo-fuzz options  passed to `cargo fuzz run`, e.g. `-s none` (no sanitizer)
# Environment: TARGETS="case_json npy" restricts the run to some targets;
#   FUZZ_ARGS="-timeout=5 ..." adds libFuzzer options.
#
# New interesting inputs go to fuzz/target/fuzz-corpus/<target>/ (kept across
# runs, ignored by git); the seed corpora in fuzz/corpus/<target>/ are only
# read, so they stay small. Crashes land in fuzz/artifacts/<target>/, logs in
# fuzz/target/fuzz-logs/<target>.log. Exit status 1 if any target failed.
set -uo pipefail

cd "$(dirname "$0")"
secs="${1:-30}"
[ $# -gt 0 ] && shift
export RUSTC_BOOTSTRAP=1   # cargo-fuzz needs nightly flags (-Z sanitizer, sancov)

targets="${TARGETS:-$(cargo fuzz list)}"
mkdir -p target/fuzz-logs
status=0
summary=""
for t in $targets; do
    mkdir -p "target/fuzz-corpus/$t" "corpus/$t"
    extra=""
    # The .tflite target is seeded with the project's fixture models (read only).
    [ "$t" = tflite_model ] && extra="../tests/fixtures/models"
    log="target/fuzz-logs/$t.log"
    echo "=== $t (${secs}s) ==="
    # shellcheck disable=SC2086
    cargo fuzz run "$@" "$t" "target/fuzz-corpus/$t" "corpus/$t" $extra -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        ${FUZZ_ARGS:-} 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | tail -1 | awk '{print $2}')
    if [ "$rc" -ne 0 ]; then
        status=1
        summary+="$t: FAILED (exit $rc), see $log and artifacts/$t/"$'\n'
    else
        summary+="$t: ${execs:-?} execs; ${done_line:-no DONE line}"$'\n'
    fi
done
echo
echo "=== summary ==="
printf '%s' "$summary"
exit "$status"
