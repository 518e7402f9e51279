#!/usr/bin/env bash
# Peak memory of packyard while CLIENTS clients download one large artifact stored on
# S3 (s3s-fs), streamed through without a local cache. Prints the peak RSS of the
# download phase (VmHWM after resetting it) against the 64 MiB target.
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
BEFORE=$(rss_kib VmRSS)
echo 5 > "/proc/$SERVER/clear_refs"   # resets VmHWM to the current RSS
START=$(date +%s.%N)
seq "$CLIENTS" | xargs -P "$CLIENTS" -I{} \
    curl -fsS -u "bench:$TOKEN" -o /dev/null -w '%{size_download}\n' "$BASE/zipball/acme/big/$REFERENCE.zip" > "$WORK/sizes"
END=$(date +%s.%N)
PEAK=$(rss_kib VmHWM)
COMPLETE=$(grep -cx "$ARCHIVE_BYTES" "$WORK/sizes" || true)

python3 - <<PY
seconds = $END - $START
total = $ARCHIVE_BYTES * $COMPLETE
print(f"archive: {$ARCHIVE_BYTES / 2**20:.0f} MiB on S3 (s3s-fs), {$CLIENTS} concurrent clients, {$COMPLETE} complete downloads")
print(f"transferred: {total / 2**30:.1f} GiB in {seconds:.1f} s ({total / 2**20 / seconds:.0f} MiB/s)")
print(f"packyard RSS before: {$BEFORE / 1024:.1f} MiB; peak during downloads: {$PEAK / 1024:.1f} MiB (target < 64 MiB)")
PY
[ "$COMPLETE" -eq "$CLIENTS" ] || { echo "only $COMPLETE of $CLIENTS downloads completed" >&2; exit 1; }
