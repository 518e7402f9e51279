#!/usr/bin/env bash
# Authenticated /p2/ requests per second, in one run on this machine: packyard's own
# package, the same document through packyard's mirror (warm), and nginx serving the very
# same JSON file statically. Prints the figures and the ratios to nginx.
#
#   bench/p2.sh [DURATION_SECONDS] [CONNECTIONS]
#
# Default settings, the request log included (written to a file, as to a collector).
# Targets: >= 0.8 x nginx (issue 2), >= 1.0 x nginx (issue 26).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${1:-10}
CONNECTIONS=${2:-32}
VERSIONS=${VERSIONS:-30}

need_commands nginx:nginx-light wrk zip
build_packyard
make_workdir bench

NGINX_PORT=$(free_port)
# The mirror's upstream is nginx itself, serving a static Composer repository.
cat > "$WORK/config.yaml" <<YAML
mirrors:
  packagist: false
  bench: {url: "http://127.0.0.1:$NGINX_PORT/upstream"}
YAML
# The mirror's upstream is on this machine, which the outbound policy refuses by default.
export PACKYARD_DATA_DIR=$WORK/data PACKYARD_LISTEN=127.0.0.1:0 PACKYARD_CONFIG=$WORK/config.yaml PACKYARD_ALLOW_NETWORKS=127.0.0.0/8
TOKEN=$("$BIN" user add bench --admin | tail -n 1)
start_packyard

# A package with $VERSIONS versions, so the document has a realistic size.
mkdir -p "$WORK/pkg/src"
echo '<?php // bench' > "$WORK/pkg/src/Lib.php"
for i in $(seq 1 "$VERSIONS"); do
    cat > "$WORK/pkg/composer.json" <<JSON
{"name":"acme/lib","description":"Benchmark package","type":"library","license":"MIT",
 "require":{"php":">=8.1","psr/log":"^3.0"},"autoload":{"psr-4":{"Acme\\\\Lib\\\\":"src/"}},
 "authors":[{"name":"Bench","email":"bench@example.com"}],"extra":{"build":$i}}
JSON
    (cd "$WORK/pkg" && rm -f ../lib.zip && zip -qr ../lib.zip .)
    curl -fsS -u "bench:$TOKEN" -X PUT --data-binary @"$WORK/lib.zip" \
        "$BASE/api/packages/upload/acme/lib/1.$i.0" > /dev/null
done

# nginx serves the bytes packyard serves, from disk.
mkdir -p "$WORK/static/p2/acme"
curl -fsS -u "bench:$TOKEN" "$BASE/p2/acme/lib.json" > "$WORK/static/p2/acme/lib.json"
SIZE=$(stat -c %s "$WORK/static/p2/acme/lib.json")
mkdir -p "$WORK/static/upstream/p2/acme"
echo '{"packages":[],"metadata-url":"/upstream/p2/%package%.json"}' > "$WORK/static/upstream/packages.json"
cp "$WORK/static/p2/acme/lib.json" "$WORK/static/upstream/p2/acme/mirrored.json"
start_static_nginx "$NGINX_PORT"
cmp <(curl -fsS "http://127.0.0.1:$NGINX_PORT/p2/acme/lib.json") "$WORK/static/p2/acme/lib.json"

AUTH="Authorization: Basic $(printf 'bench:%s' "$TOKEN" | base64 -w0)"
MIRRORED="$BASE/mirror/bench/p2/acme/mirrored.json"
cmp <(curl -fsS -u "bench:$TOKEN" "$MIRRORED") "$WORK/static/p2/acme/lib.json"
# Warm all three, then measure.
wrk -t1 -c4 -d1s -H "$AUTH" "$BASE/p2/acme/lib.json" > /dev/null
wrk -t1 -c4 -d1s -H "$AUTH" "$MIRRORED" > /dev/null
wrk -t1 -c4 -d1s "http://127.0.0.1:$NGINX_PORT/p2/acme/lib.json" > /dev/null
# packyard's CPU time per request (from /proc, user + system) varies less than req/s on
# a machine where wrk competes for the same cores: the figure to compare builds by.
TICKS_BEFORE=$(cpu_ticks "$SERVER")
read -r PACKYARD REQUESTS < <(rps_and_requests -H "$AUTH" "$BASE/p2/acme/lib.json")
TICKS_AFTER=$(cpu_ticks "$SERVER")
MIRROR=$(rps -H "$AUTH" "$MIRRORED")
NGINX=$(rps -H "$AUTH" "http://127.0.0.1:$NGINX_PORT/p2/acme/lib.json")

echo "document: /p2/acme/lib.json, $VERSIONS versions, $SIZE bytes; wrk -t2 -c$CONNECTIONS -d${DURATION}s"
printf 'packyard own package (authenticated):  %10.0f req/s\n' "$PACKYARD"
printf 'packyard mirror, warm (authenticated): %10.0f req/s\n' "$MIRROR"
printf 'nginx (static file):                   %10.0f req/s\n' "$NGINX"
python3 -c "print(f'packyard CPU per own-package request: {($TICKS_AFTER - $TICKS_BEFORE) * 1e6 / $(getconf CLK_TCK) / $REQUESTS:.2f} us')"
python3 -c "print(f'ratio own/nginx: {$PACKYARD/$NGINX:.2f} (target >= 0.80); mirror/nginx: {$MIRROR/$NGINX:.2f}')"
