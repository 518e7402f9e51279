#!/usr/bin/env bash
# Peak memory of packyard while CLIENTS clients download one large artifact stored on
# S3 (s3s-fs), streamed through without a local cache. Prints the peak RSS of the
# download phase (VmHWM after resetting it) against the 64 MiB target; then the same
# downloads with PACKYARD_DIST_REDIRECT=1 (each client is sent a presigned URL and
# fetches from s3s-fs itself), and the differences: throughput, packyard's peak RSS
# and the CPU time packyard spent.
#
#   bench/storage_rss.sh [SIZE_MIB] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SIZE_MIB=${1:-200}
CLIENTS=${2:-50}

command -v s3s-fs >/dev/null || cargo install s3s-fs@0.14.1 --locked --features binary --quiet
need_commands zip
build_packyard
make_workdir rss

S3_PORT=$(free_port)
mkdir -p "$WORK/s3/bench"
s3s-fs --host 127.0.0.1 --port "$S3_PORT" --access-key AK --secret-key SK "$WORK/s3" >/dev/null 2>&1 &
PIDS+=($!)

export PACKYARD_DATA_DIR=$WORK/data PACKYARD_LISTEN=127.0.0.1:0 RUST_LOG=warn
export STORAGE_SOURCE=s3 STORAGE_AWS_BUCKET=bench PACKYARD_ARTIFACT_CACHE_MAX=0 PACKYARD_MAX_UPLOAD=1G
export STORAGE_AWS_ARGS="{\"endpoint\":\"http://127.0.0.1:$S3_PORT\",\"accessKeyId\":\"AK\",\"accessKeySecret\":\"SK\"}"
sleep 0.3
TOKEN=$("$BIN" user add bench --admin | tail -n 1)
start_packyard

mkdir -p "$WORK/pkg"
echo '{"name":"acme/big","type":"library"}' > "$WORK/pkg/composer.json"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/pkg/blob.bin"
(cd "$WORK/pkg" && zip -q -0 ../big.zip composer.json blob.bin)
rm "$WORK/pkg/blob.bin"
REFERENCE=$(curl -fsS -u "bench:$TOKEN" -X PUT --data-binary @"$WORK/big.zip" "$BASE/api/packages/upload/acme/big/1.0.0" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["reference"])')
ARCHIVE_BYTES=$(stat -c %s "$WORK/big.zip")
rm "$WORK/big.zip"

rss_kib() { awk "/^$1:/ {print \$2}" "/proc/$SERVER/status"; }
# CPU seconds (user + system) packyard has used so far.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$SERVER/stat"; }

# One download phase: MODE is "stream" or "redirect"; prints one line of figures
# (seconds, complete downloads, RSS before, peak RSS, CPU seconds) into $WORK/MODE.
download_phase() {
    local mode=$1
    BEFORE=$(rss_kib VmRSS)
    echo 5 > "/proc/$SERVER/clear_refs"   # resets VmHWM to the current RSS
    local cpu_start start end
    cpu_start=$(cpu_seconds)
    start=$(date +%s.%N)
    # -L follows the redirect; curl sends -u only to the host it was given.
    seq "$CLIENTS" | xargs -P "$CLIENTS" -I{} \
        curl -fsSL -u "bench:$TOKEN" -o /dev/null -w '%{size_download}\n' "$BASE/zipball/acme/big/$REFERENCE.zip" > "$WORK/sizes"
    end=$(date +%s.%N)
    echo "$start $end $(grep -cx "$ARCHIVE_BYTES" "$WORK/sizes" || true) $BEFORE $(rss_kib VmHWM) $cpu_start $(cpu_seconds)" > "$WORK/$mode"
}

download_phase stream
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -u "bench:$TOKEN" "$BASE/zipball/acme/big/$REFERENCE.zip")
[ "$STATUS" = 200 ] || { echo "streaming: expected 200, got $STATUS" >&2; exit 1; }
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
export PACKYARD_DIST_REDIRECT=1
start_packyard
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -u "bench:$TOKEN" "$BASE/zipball/acme/big/$REFERENCE.zip")
[ "$STATUS" = 302 ] || { echo "PACKYARD_DIST_REDIRECT=1: expected 302, got $STATUS" >&2; exit 1; }
download_phase redirect

python3 - "$WORK/stream" "$WORK/redirect" <<PY
import sys
archive, clients = $ARCHIVE_BYTES, $CLIENTS
runs = {}
for name, path in (("streamed through packyard", sys.argv[1]), ("PACKYARD_DIST_REDIRECT=1", sys.argv[2])):
    start, end, complete, before, peak, cpu0, cpu1 = map(float, open(path).read().split())
    seconds = end - start
    total = archive * complete
    runs[name] = (total / 2**20 / seconds, peak / 1024, cpu1 - cpu0, complete)
    print(f"{name}: {int(complete)} of {clients} downloads of {archive / 2**20:.0f} MiB from S3 (s3s-fs) "
          f"in {seconds:.1f} s ({total / 2**20 / seconds:.0f} MiB/s); packyard RSS before {before / 1024:.1f} MiB, "
          f"peak {peak / 1024:.1f} MiB; packyard CPU {cpu1 - cpu0:.2f} s")
(s_rate, s_peak, s_cpu, _), (r_rate, r_peak, r_cpu, _) = runs.values()
print(f"streaming peak RSS {s_peak:.1f} MiB (target < 64 MiB)")
print(f"redirect / streaming: throughput x{r_rate / s_rate:.2f}, packyard peak RSS x{r_peak / s_peak:.2f}, "
      f"packyard CPU x{r_cpu / max(s_cpu, 0.001):.3f}")
PY
for mode in stream redirect; do
    read -r _ _ complete _ < "$WORK/$mode"
    [ "$complete" -eq "$CLIENTS" ] || { echo "$mode: only $complete of $CLIENTS downloads completed" >&2; exit 1; }
done
