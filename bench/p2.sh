#!/usr/bin/env bash
# Authenticated /p2/ requests per second, in one run on this machine: packyard's own
# package, the same document through packyard's mirror (warm), and nginx serving the very
# same JSON file statically. Prints the figures and the ratios to nginx.
#
#   bench/p2.sh [DURATION_SECONDS] [CONNECTIONS]
#
# Target (issue 2): packyard >= 0.8 x nginx.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNECTIONS=${2:-32}
VERSIONS=${VERSIONS:-30}

need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
command -v zip >/dev/null || need+=(zip)
if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --quiet -p packyard
BIN=$PWD/target/release/packyard

WORK=$(mktemp -d /tmp/packyard-bench.XXXXXX)
chmod 755 "$WORK"  # nginx workers run unprivileged
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

NGINX_PORT=$(free_port)
# The mirror's upstream is nginx itself, serving a static Composer repository.
cat > "$WORK/config.yaml" <<YAML
mirrors:
  packagist: false
  bench: {url: "http://127.0.0.1:$NGINX_PORT/upstream"}
YAML
export PACKYARD_DATA_DIR=$WORK/data PACKYARD_LISTEN=127.0.0.1:0 RUST_LOG=warn PACKYARD_CONFIG=$WORK/config.yaml
TOKEN=$("$BIN" user add bench --admin | tail -n 1)
"$BIN" serve > "$WORK/serve.out" &
PIDS+=($!)
for _ in $(seq 50); do grep -q listening "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
BASE=$(sed -n 's/^packyard listening on //p' "$WORK/serve.out")

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
cat > "$WORK/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    default_type application/json;
    client_body_temp_path $WORK/nginx-tmp;
    proxy_temp_path $WORK/nginx-tmp;
    fastcgi_temp_path $WORK/nginx-tmp;
    uwsgi_temp_path $WORK/nginx-tmp;
    scgi_temp_path $WORK/nginx-tmp;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/static;
    }
}
CONF
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
sleep 0.5
cmp <(curl -fsS "http://127.0.0.1:$NGINX_PORT/p2/acme/lib.json") "$WORK/static/p2/acme/lib.json"

AUTH="Authorization: Basic $(printf 'bench:%s' "$TOKEN" | base64 -w0)"
rps() { wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
MIRRORED="$BASE/mirror/bench/p2/acme/mirrored.json"
cmp <(curl -fsS -u "bench:$TOKEN" "$MIRRORED") "$WORK/static/p2/acme/lib.json"
# Warm all three, then measure.
wrk -t1 -c4 -d1s -H "$AUTH" "$BASE/p2/acme/lib.json" > /dev/null
wrk -t1 -c4 -d1s -H "$AUTH" "$MIRRORED" > /dev/null
wrk -t1 -c4 -d1s "http://127.0.0.1:$NGINX_PORT/p2/acme/lib.json" > /dev/null
PACKYARD=$(rps -H "$AUTH" "$BASE/p2/acme/lib.json")
MIRROR=$(rps -H "$AUTH" "$MIRRORED")
NGINX=$(rps -H "$AUTH" "http://127.0.0.1:$NGINX_PORT/p2/acme/lib.json")

echo "document: /p2/acme/lib.json, $VERSIONS versions, $SIZE bytes; wrk -t2 -c$CONNECTIONS -d${DURATION}s"
printf 'packyard own package (authenticated):  %10.0f req/s\n' "$PACKYARD"
printf 'packyard mirror, warm (authenticated): %10.0f req/s\n' "$MIRROR"
printf 'nginx (static file):                   %10.0f req/s\n' "$NGINX"
python3 -c "print(f'ratio own/nginx: {$PACKYARD/$NGINX:.2f} (target >= 0.80); mirror/nginx: {$MIRROR/$NGINX:.2f}')"
