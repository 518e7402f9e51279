#!/usr/bin/env bash
# What a flood of requests for package names that do not exist costs a replica now that
# it reads the catalogue's change counter once more before answering 404 (issue 24:
# replicas must not say "unknown" from a cache that is behind). wrk asks, with an
# admin's credentials, for /p2/ documents of names nobody has, a new name each request;
# the script prints req/s, the counter reads made (packyard_stamp_rechecks_total) per
# request, and the same flood's req/s for a known package's document for comparison.
#
#   bench/unknown_flood.sh [DURATION_SECONDS] [CONNECTIONS]
#
# With PACKYARD_BENCH_DATABASE_URL (postgres://...), the replica runs on PostgreSQL;
# otherwise on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${1:-10}
CONNECTIONS=${2:-32}

need_commands wrk zip
build_packyard
make_workdir unknown-flood

export PACKYARD_DATA_DIR=$WORK/data PACKYARD_LISTEN=127.0.0.1:0 RUST_LOG=warn
if [ -n "${PACKYARD_BENCH_DATABASE_URL:-}" ]; then
    export DATABASE_URL=$PACKYARD_BENCH_DATABASE_URL
fi
TOKEN=$("$BIN" user add bench --admin | tail -n 1)
start_packyard

mkdir -p "$WORK/pkg"
echo '{"name":"acme/lib","description":"Benchmark package","type":"library","license":"MIT"}' > "$WORK/pkg/composer.json"
(cd "$WORK/pkg" && zip -qr ../lib.zip .)
curl -fsS -u "bench:$TOKEN" -X PUT --data-binary @"$WORK/lib.zip" \
    "$BASE/api/packages/upload/acme/lib/1.0.0" > /dev/null

AUTH="Authorization: Basic $(printf 'bench:%s' "$TOKEN" | base64 -w0)"
rechecks() {
    curl -fsS -H "$AUTH" "$BASE/metrics" | awk '/^packyard_stamp_rechecks_total / {print $2}'
}
# A different unknown name on every request, as a scanner's would be.
cat > "$WORK/unknown.lua" <<'LUA'
local counter = 0
request = function()
    counter = counter + 1
    return wrk.format("GET", "/p2/nobody/missing-" .. math.random(1, 1000000000) .. "-" .. counter .. ".json")
end
LUA
test "$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "$BASE/p2/nobody/missing.json")" = 404

BEFORE=$(rechecks)
read -r UNKNOWN REQUESTS < <(rps_and_requests -H "$AUTH" -s "$WORK/unknown.lua" "$BASE")
AFTER=$(rechecks)
KNOWN=$(rps -H "$AUTH" "$BASE/p2/acme/lib.json")

ENGINE=sqlite
[ -n "${DATABASE_URL:-}" ] && ENGINE=postgresql
echo "database: $ENGINE; wrk -t2 -c$CONNECTIONS -d${DURATION}s"
printf 'unknown names (404):          %10.0f req/s\n' "$UNKNOWN"
printf 'known package (200):          %10.0f req/s\n' "$KNOWN"
python3 -c "print(f'counter reads: {$AFTER - $BEFORE:.0f} for {$REQUESTS} requests: {($AFTER - $BEFORE) / $REQUESTS:.3f} per request')"
