#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of every parser in crates/fuzzing: runs
# each TARGET (default: all of them) for MINUTES (default 1) on its committed corpus
# (fuzz/corpus/<target>) and prints, per target, the executions, executions per second,
# coverage (edges and features), corpus size and crashes, with the paths of the inputs
# that crashed.
#
#   bench/fuzz.sh [MINUTES] [TARGET...]
#   FUZZ_GROW=1 bench/fuzz.sh 10 zip    # keep what was found: merge it into the corpus
#   FUZZ_MAX_LEN=65536 bench/fuzz.sh 5 zip  # longer inputs (default 2048 bytes)
#
# New inputs go to a scratch copy of each corpus unless FUZZ_GROW=1, which adds them to
# fuzz/corpus/<target> and minimizes it (libFuzzer's -merge=1, what `cargo fuzz cmin`
# runs); files named regression-* (crashes found and fixed) always stay. Crashing
# inputs are kept in fuzz/artifacts/<target>/. Exits 1 when a target crashed.
#
# cargo-fuzz wants a nightly toolchain for its -Z flags; RUSTC_BOOTSTRAP=1 lets the
# stable one take them. No sanitizer: the code is safe Rust (unsafe_code is forbidden),
# so AddressSanitizer would only halve the speed; debug assertions (overflow checks)
# are on.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
MINUTES=${1:-1}
shift || true
TARGETS=("$@")
MAX_LEN=${FUZZ_MAX_LEN:-2048}  # bytes of the longest input tried
if [ ${#TARGETS[@]} -eq 0 ]; then
    mapfile -t TARGETS < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^packyard-fuzz$')
fi

cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet
export RUSTC_BOOTSTRAP=1
FLAGS=(--sanitizer none --debug-assertions)
(cd fuzz && cargo fuzz build "${FLAGS[@]}")
BIN_DIR=fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release

make_workdir fuzz
status=0
printf '%-16s %12s %9s %7s %7s %14s %s\n' target executions exec/s cov ft corpus crashes
for target in "${TARGETS[@]}"; do
    corpus=fuzz/corpus/$target
    [ -x "$BIN_DIR/$target" ] || { echo "no fuzz target $target" >&2; exit 1; }
    [ -d "$corpus" ] || { echo "no corpus $corpus" >&2; exit 1; }
    if [ "${FUZZ_GROW:-0}" = 1 ]; then
        into=$corpus
    else
        into=$WORK/corpus/$target
        mkdir -p "$into"
        cp "$corpus"/* "$into"/
    fi
    artifacts=fuzz/artifacts/$target
    mkdir -p "$artifacts"
    log=$WORK/$target.log
    "$BIN_DIR/$target" "$into" -max_total_time=$((MINUTES * 60)) -max_len="$MAX_LEN" -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" > "$log" 2>&1 || status=1
    if [ "${FUZZ_GROW:-0}" = 1 ]; then
        merged=$WORK/merged-$target
        mkdir -p "$merged"
        # Inputs longer than the fuzzer may write (seeds) are not kept.
        find "$corpus" -maxdepth 1 -type f -size +"$MAX_LEN"c ! -name 'regression-*' -delete
        "$BIN_DIR/$target" -merge=1 -max_len="$MAX_LEN" "$merged" "$corpus" \
            > "$WORK/$target.merge.log" 2>&1
        find "$corpus" -maxdepth 1 -type f ! -name 'regression-*' -delete
        cp "$merged"/* "$corpus"/ 2>/dev/null || true
    fi
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
    coverage=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$coverage")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$coverage")
    files=$(find "$into" -maxdepth 1 -type f | wc -l)
    bytes=$(du -sb "$into" | cut -f1)
    crashes=$(grep -oE "Test unit written to \S+" "$log" | sed 's/Test unit written to //' | tr '\n' ' ' || true)
    printf '%-16s %12s %9s %7s %7s %14s %s\n' "$target" "$(stat number_of_executed_units)" \
        "$(stat average_exec_per_sec)" "${cov:-?}" "${ft:-?}" "$files/${bytes}b" "${crashes:-none}"
    if [ -n "$crashes" ]; then
        grep -m 1 -A 3 -E "panicked at|ERROR: libFuzzer" "$log" >&2 || true
    fi
done
exit "$status"
