#!/usr/bin/env bash
# What the audit log costs, measured against a build without it, on this machine:
#   - uploads: UPLOADS versions published one after another (PUT /api/packages/upload,
#     each writing one chain entry in its transaction), then UPLOADS more with
#     CONCURRENCY at once: versions per second;
#   - /p2/: wrk on one package's document as the admin (no entry: a request only sets
#     who is asking): requests per second;
#   - archive downloads (each counted per caller, version and day): wrk on one archive.
# Prints each figure for both builds and the ratio (this build / the baseline).
#
#   bench/audit.sh [UPLOADS] [DURATION_SECONDS] [CONNECTIONS]
#
# The baseline is BASELINE_BIN, or a release build of BASELINE_REV (default: the last
# commit before the audit log) made in a temporary git worktree sharing target/, and
# kept in target/bench-baseline/ for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
UPLOADS=${1:-200}
DURATION=${2:-10}
CONNECTIONS=${3:-32}
CONCURRENCY=${CONCURRENCY:-8}
BASELINE_REV=${BASELINE_REV:-fffcec2}

need_commands wrk curl
make_workdir audit
# The baseline's build is kept in target/bench-baseline/ for the next run.
CACHED="$PWD/target/bench-baseline/packyard-$BASELINE_REV"
if [ -z "${BASELINE_BIN:-}" ] && [ ! -x "$CACHED" ]; then
    ROOT=$PWD
    TREE="$WORK/baseline-tree"
    git worktree add --quiet --detach "$TREE" "$BASELINE_REV"
    (cd "$TREE" && CARGO_TARGET_DIR="$ROOT/target" cargo build --release --quiet -p packyard)
    mkdir -p "$(dirname "$CACHED")"
    cp "$ROOT/target/release/packyard" "$CACHED"
    git worktree remove --force "$TREE"
fi
BASELINE_BIN=${BASELINE_BIN:-$CACHED}
# After the baseline: the shared target dir must end with this tree's build.
build_packyard
CURRENT=$BIN

# One archive, published under many versions (the bytes do not matter here).
python3 - "$WORK/lib.zip" <<'PY'
import io, json, sys, zipfile
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w") as archive:
    archive.writestr("composer.json", json.dumps({"name": "acme/lib", "type": "library"}))
    archive.writestr("src/Lib.php", "<?php\nnamespace Acme;\nfinal class Lib {}\n" + "// x\n" * 200)
open(sys.argv[1], "wb").write(buffer.getvalue())
PY

# Runs the measurements with packyard binary $1; prints "uploads_serial uploads_parallel p2 archive".
measure() {
    local bin=$1 label=$2
    BIN=$bin
    rm -rf "$WORK/data"
    export PACKYARD_DATA_DIR=$WORK/data PACKYARD_LISTEN=127.0.0.1:0 RUST_LOG=warn
    local token
    token=$("$BIN" user add admin --admin | tail -n 1)
    start_packyard
    local auth="admin:$token"
    local start end
    start=$(date +%s.%N)
    for i in $(seq 1 "$UPLOADS"); do
        curl -sf -o /dev/null -u "$auth" -X PUT --data-binary @"$WORK/lib.zip" "$BASE/api/packages/upload/acme/lib/1.$i.0"
    done
    end=$(date +%s.%N)
    local serial
    serial=$(python3 -c "print(round($UPLOADS / ($end - $start), 1))")
    start=$(date +%s.%N)
    seq 1 "$UPLOADS" | xargs -P "$CONCURRENCY" -I{} curl -sf -o /dev/null -u "$auth" -X PUT \
        --data-binary @"$WORK/lib.zip" "$BASE/api/packages/upload/acme/lib/2.{}.0"
    end=$(date +%s.%N)
    local parallel
    parallel=$(python3 -c "print(round($UPLOADS / ($end - $start), 1))")
    local header="Authorization: Basic $(printf '%s' "$auth" | base64 -w0)"
    local p2 archive_url archive
    p2=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -H "$header" "$BASE/p2/acme/lib.json" | awk '/Requests\/sec/ {print $2}')
    archive_url=$(curl -sf -u "$auth" "$BASE/p2/acme/lib.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["packages"]["acme/lib"][0]["dist"]["url"])')
    archive=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -H "$header" "$archive_url" | awk '/Requests\/sec/ {print $2}')
    kill "$SERVER"
    wait "$SERVER" 2>/dev/null || true
    if [ "$label" = current ]; then
        local entries
        entries=$("$BIN" audit list --limit 0 --json | wc -l)
        echo "  (this build wrote $entries audit entries; $("$BIN" audit verify | head -n 1))" >&2
    fi
    echo "$serial $parallel $p2 $archive"
}

read -r B_SERIAL B_PARALLEL B_P2 B_ARCHIVE < <(measure "$BASELINE_BIN" baseline)
read -r C_SERIAL C_PARALLEL C_P2 C_ARCHIVE < <(measure "$CURRENT" current)
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
printf '%-38s %12s %12s %8s\n' "" "baseline" "audit log" "ratio"
printf '%-38s %12s %12s %8s\n' "uploads/s, one at a time ($UPLOADS)" "$B_SERIAL" "$C_SERIAL" "$(ratio "$C_SERIAL" "$B_SERIAL")"
printf '%-38s %12s %12s %8s\n' "uploads/s, $CONCURRENCY at once ($UPLOADS)" "$B_PARALLEL" "$C_PARALLEL" "$(ratio "$C_PARALLEL" "$B_PARALLEL")"
printf '%-38s %12s %12s %8s\n' "/p2/ requests/s ($CONNECTIONS connections)" "$B_P2" "$C_P2" "$(ratio "$C_P2" "$B_P2")"
printf '%-38s %12s %12s %8s\n' "archive downloads/s ($CONNECTIONS conn.)" "$B_ARCHIVE" "$C_ARCHIVE" "$(ratio "$C_ARCHIVE" "$B_ARCHIVE")"
