#!/usr/bin/env bash
# Authenticated /p2/ requests per second, in one run on this machine, each over DOCUMENTS
# rotating documents (wrk, bench/rotate.lua), next to nginx serving the very same bytes
# from disk:
#   - an admin, who sees every version (the unfiltered document);
#   - a customer whose group grants every package for `<1.20` only (a filtered document);
#   - the same documents through packyard's mirror (warm), with nginx as the upstream.
# Prints the figures, packyard's CPU time per request and the ratio of each to nginx.
#
#   bench/p2.sh [DURATION_SECONDS] [CONNECTIONS] [DOCUMENTS]
#
# Default settings, the request log included (written to a file, as to a collector).
# Targets: >= 0.8 x nginx (issue 2), >= 1.0 x nginx for all three (issue 26).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${1:-10}
CONNECTIONS=${2:-64}
DOCUMENTS=${3:-200}
VERSIONS=${VERSIONS:-30}

need_commands nginx:nginx-light wrk
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
ADMIN_TOKEN=$("$BIN" user add admin --admin | tail -n 1)   # creates the database
CUSTOMER_TOKEN=$("$BIN" user add customer | tail -n 1)
"$BIN" group add early > /dev/null
"$BIN" group grant early '*/*' --versions '<1.20' > /dev/null
"$BIN" group members early --add customer > /dev/null

# DOCUMENTS packages with VERSIONS versions each, written straight into the database
# (uploading 6,000 archives would measure uploads); metadata the size of a real library's.
python3 - "$WORK/data/packyard.db" "$DOCUMENTS" "$VERSIONS" > "$WORK/packages" <<'PY'
import hashlib, json, sqlite3, sys, time
db, documents, versions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
con = sqlite3.connect(db)
now = int(time.time() * 1000)
for n in range(documents):
    name = f"acme/lib{n:03d}"
    print(name)
    package_id = con.execute(
        "INSERT INTO packages (name, kind, created_at, updated_at) VALUES (?, 'artifact', ?, ?)",
        (name, now, now)).lastrowid
    rows = []
    for i in range(1, versions + 1):
        version = f"1.{i}.0"
        reference = hashlib.sha1(f"{name}{version}".encode()).hexdigest()
        metadata = json.dumps({
            "description": "Benchmark package", "type": "library", "license": "MIT",
            "require": {"php": ">=8.1", "psr/log": "^3.0"},
            "autoload": {"psr-4": {"Acme\\Lib\\": "src/"}},
            "authors": [{"name": "Bench", "email": "bench@example.com"}],
            "extra": {"build": i},
        })
        rows.append((package_id, version, version + ".0", reference, reference, reference + ".zip",
                     metadata, now - (versions - i) * 3_600_000, now))
    con.executemany(
        "INSERT INTO versions (package_id, version, version_normalized, reference, shasum, dist_store,"
        " dist_key, metadata, released_at, updated_at) VALUES (?, ?, ?, ?, ?, 'artifact', ?, ?, ?, ?)",
        rows)
con.commit()
PY
start_packyard

ADMIN="Authorization: Basic $(printf 'admin:%s' "$ADMIN_TOKEN" | base64 -w0)"
CUSTOMER="Authorization: Basic $(printf 'customer:%s' "$CUSTOMER_TOKEN" | base64 -w0)"
# nginx serves the bytes packyard serves, from disk: the admin's documents, the
# customer's, and (as the mirror's upstream) the admin's again under another name.
mkdir -p "$WORK/static/admin/p2/acme" "$WORK/static/customer/p2/acme" "$WORK/static/upstream/p2/mirrored"
echo '{"packages":[],"metadata-url":"/upstream/p2/%package%.json"}' > "$WORK/static/upstream/packages.json"
: > "$WORK/paths.admin"; : > "$WORK/paths.customer"; : > "$WORK/paths.mirror"
: > "$WORK/paths.static-admin"; : > "$WORK/paths.static-customer"
while read -r name; do
    file=${name#acme/}
    curl -fsS -H "$ADMIN" "$BASE/p2/$name.json" > "$WORK/static/admin/p2/$name.json"
    curl -fsS -H "$CUSTOMER" "$BASE/p2/$name.json" > "$WORK/static/customer/p2/$name.json"
    cp "$WORK/static/admin/p2/$name.json" "$WORK/static/upstream/p2/mirrored/$file.json"
    echo "/p2/$name.json" >> "$WORK/paths.admin"
    echo "/p2/$name.json" >> "$WORK/paths.customer"
    echo "/mirror/bench/p2/mirrored/$file.json" >> "$WORK/paths.mirror"
    echo "/admin/p2/$name.json" >> "$WORK/paths.static-admin"
    echo "/customer/p2/$name.json" >> "$WORK/paths.static-customer"
done < "$WORK/packages"
start_static_nginx "$NGINX_PORT"
NGINX_PID=$NGINX_MASTER
NGINX=http://127.0.0.1:$NGINX_PORT
FIRST=$(head -n 1 "$WORK/packages")
cmp <(curl -fsS "$NGINX/admin/p2/$FIRST.json") "$WORK/static/admin/p2/$FIRST.json"
# The mirror answers the upstream's bytes (and, once fetched, keeps them: warm).
while read -r path; do curl -fsS -o /dev/null -H "$ADMIN" "$BASE$path"; done < "$WORK/paths.mirror"
cmp <(curl -fsS -H "$ADMIN" "$BASE/mirror/bench/p2/mirrored/${FIRST#acme/}.json") "$WORK/static/admin/p2/$FIRST.json"
ADMIN_SIZE=$(stat -c %s "$WORK/static/admin/p2/$FIRST.json")
CUSTOMER_SIZE=$(stat -c %s "$WORK/static/customer/p2/$FIRST.json")

# Requests per second over the paths in file $1, with wrk's other arguments after it.
rotating() {
    local paths=$1
    shift
    PATHS=$paths rps -s bench/rotate.lua "$@"
}
# Warm every path once more, then measure.
for kind in admin customer mirror; do
    header=$ADMIN; [ "$kind" = customer ] && header=$CUSTOMER
    PATHS=$WORK/paths.$kind wrk -t1 -c4 -d1s -s bench/rotate.lua -H "$header" "$BASE" > /dev/null
done
PATHS=$WORK/paths.static-admin wrk -t1 -c4 -d1s -s bench/rotate.lua "$NGINX" > /dev/null
TICKS_BEFORE=$(cpu_ticks "$SERVER")
read -r OWN REQUESTS < <(PATHS=$WORK/paths.admin rps_and_requests -s bench/rotate.lua -H "$ADMIN" "$BASE")
TICKS_AFTER=$(cpu_ticks "$SERVER")
FILTERED=$(rotating "$WORK/paths.customer" -H "$CUSTOMER" "$BASE")
MIRROR=$(rotating "$WORK/paths.mirror" -H "$ADMIN" "$BASE")
NGINX_WORKERS=$(pgrep -d ' ' -P "$NGINX_PID")
NGINX_TICKS_BEFORE=$(for pid in $NGINX_WORKERS; do cpu_ticks "$pid"; done | awk '{s += $1} END {print s}')
read -r NGINX_ADMIN NGINX_REQUESTS < <(PATHS=$WORK/paths.static-admin rps_and_requests -s bench/rotate.lua -H "$ADMIN" "$NGINX")
NGINX_TICKS_AFTER=$(for pid in $NGINX_WORKERS; do cpu_ticks "$pid"; done | awk '{s += $1} END {print s}')
NGINX_CUSTOMER=$(rotating "$WORK/paths.static-customer" -H "$CUSTOMER" "$NGINX")

echo "$DOCUMENTS documents of $VERSIONS versions ($ADMIN_SIZE bytes; $CUSTOMER_SIZE as the customer sees them), rotating; wrk -t2 -c$CONNECTIONS -d${DURATION}s"
printf 'packyard, admin (unfiltered):       %10.0f req/s\n' "$OWN"
printf 'packyard, customer (filtered):      %10.0f req/s\n' "$FILTERED"
printf 'packyard, mirror (warm, admin):     %10.0f req/s\n' "$MIRROR"
printf 'nginx, the admin documents:         %10.0f req/s\n' "$NGINX_ADMIN"
printf 'nginx, the customer documents:      %10.0f req/s\n' "$NGINX_CUSTOMER"
python3 -c "print(f'CPU per admin request: packyard {($TICKS_AFTER - $TICKS_BEFORE) * 1e6 / $(getconf CLK_TCK) / $REQUESTS:.2f} us, nginx {($NGINX_TICKS_AFTER - $NGINX_TICKS_BEFORE) * 1e6 / $(getconf CLK_TCK) / $NGINX_REQUESTS:.2f} us')"
python3 -c "print(f'ratio to nginx (target >= 1.0): admin {$OWN/$NGINX_ADMIN:.2f}; customer {$FILTERED/$NGINX_CUSTOMER:.2f}; mirror {$MIRROR/$NGINX_ADMIN:.2f}')"
