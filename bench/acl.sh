#!/usr/bin/env bash
# Access control at catalogue scale, in one run on this machine: 10,000 packages × 5
# versions, and a customer in 3 groups holding 2,000 grants (exact names, patterns,
# version constraints, one frozen group). Prints:
#   - packages.json for that customer: first (cold) render and median latency;
#   - authenticated /p2/ req/s for that customer over DOCUMENTS rotating documents the
#     customer sees through a version constraint only (filtered), and for an admin over
#     the same documents (unfiltered), next to nginx serving the same bytes from disk,
#     with the ratios;
#   - packyard's resident memory with that catalogue.
#
#   bench/acl.sh [DURATION_SECONDS] [CONNECTIONS] [DOCUMENTS]
#
# Default settings, the request log included (written to a file, as to a collector).
# Targets: packages.json < 10 ms median (issue 10); /p2/ >= 1.0 x nginx (issues 10, 26).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${1:-10}
CONNECTIONS=${2:-64}
DOCUMENTS=${3:-200}
PACKAGES=${PACKAGES:-10000}

need_commands nginx:nginx-light wrk
build_packyard
make_workdir acl-bench

export PACKYARD_DATA_DIR=$WORK/data PACKYARD_LISTEN=127.0.0.1:0
ADMIN_TOKEN=$("$BIN" user add admin --admin | tail -n 1)   # creates the database
TOKEN=$("$BIN" user add customer | tail -n 1)      # a plain user: sees what groups grant

# The catalogue and the rules, written straight into the database (uploading 50,000
# archives would measure the upload path, not access control).
python3 - "$WORK/data/packyard.db" "$PACKAGES" <<'PY'
import hashlib, json, random, sqlite3, sys, time
db, packages = sys.argv[1], int(sys.argv[2])
random.seed(42)
con = sqlite3.connect(db)
now = int(time.time() * 1000)
day = 86_400_000
names = [f"vendor{v:03d}/package{p:04d}" for v in range(100) for p in range(packages // 100)]
for name in names:
    cur = con.execute(
        "INSERT INTO packages (name, kind, created_at, updated_at) VALUES (?, 'artifact', ?, ?)",
        (name, now, now))
    package_id = cur.lastrowid
    for i, version in enumerate(["1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0"]):
        reference = hashlib.sha1(f"{name}{version}".encode()).hexdigest()
        metadata = json.dumps({
            "description": f"{name} for the access benchmark", "type": "library", "license": "MIT",
            "require": {"php": ">=8.1", "psr/log": "^3.0"},
            "autoload": {"psr-4": {"Vendor\\\\Package\\\\": "src/"}},
            "authors": [{"name": "Bench", "email": "bench@example.com"}],
        })
        con.execute(
            "INSERT INTO versions (package_id, version, version_normalized, reference, shasum, dist_store,"
            " dist_key, metadata, released_at, updated_at) VALUES (?, ?, ?, ?, ?, 'artifact', ?, ?, ?, ?)",
            (package_id, version, version + ".0", reference, reference, reference + ".zip", metadata,
             now - (5 - i) * 30 * day, now))
customer = con.execute("SELECT id FROM users WHERE name = 'customer'").fetchone()[0]
groups = {
    "licences": (None, [(n, "^1.0") for n in random.sample(names, 1500)]),
    "vendors": (None, [(f"vendor{v:03d}/*", None) for v in range(40, 90)] +
                      [(n, None) for n in random.sample(names, 400)]),
    "yearly": (now - 45 * day, [(n, None) for n in random.sample(names, 50)]),
}
for name, (until, grants) in groups.items():
    group = con.execute(
        "INSERT INTO groups (name, updates_until, mirrors, created_at) VALUES (?, ?, '[]', ?)",
        (name, until, now)).lastrowid
    con.executemany("INSERT OR REPLACE INTO group_grants (group_id, package, versions) VALUES (?, ?, ?)",
                    [(group, p, v) for p, v in grants])
    con.execute("INSERT INTO group_members (group_id, user_id) VALUES (?, ?)", (group, customer))
con.execute("UPDATE access_stamp SET changed_at = ? WHERE id = 1", (now,))
covered = {package for group_name, (_until, grants) in groups.items() if group_name != "licences"
           for package, _versions in grants}
only_constrained = sorted(p for p, _v in groups["licences"][1]
                          if p not in covered and not (40 <= int(p[6:9]) < 90))
open(sys.argv[1].replace("data/packyard.db", "filtered-packages"), "w").write("\n".join(only_constrained) + "\n")
con.commit()
grants = con.execute("SELECT COUNT(*) FROM group_grants").fetchone()[0]
print(f"catalogue: {len(names)} packages x 5 versions; customer in {len(groups)} groups with {grants} grants")
PY

start_packyard
AUTH="Authorization: Basic $(printf 'customer:%s' "$TOKEN" | base64 -w0)"

COLD=$(curl -fsS -o "$WORK/root.json" -w '%{time_total}' -H "$AUTH" "$BASE/packages.json")
VISIBLE=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['available-packages']))" "$WORK/root.json")
# Packages the customer sees through a ^1.0 grant only: filtered documents.
head -n "$DOCUMENTS" "$WORK/filtered-packages" > "$WORK/packages"
PACKAGE=$(head -n 1 "$WORK/packages")

NGINX_PORT=$(free_port)
NGINX=http://127.0.0.1:$NGINX_PORT
ADMIN_AUTH="Authorization: Basic $(printf 'admin:%s' "$ADMIN_TOKEN" | base64 -w0)"
: > "$WORK/paths"; : > "$WORK/paths.static-customer"; : > "$WORK/paths.static-admin"
while read -r name; do
    mkdir -p "$WORK/static/customer/p2/$(dirname "$name")" "$WORK/static/admin/p2/$(dirname "$name")"
    curl -fsS -H "$AUTH" "$BASE/p2/$name.json" > "$WORK/static/customer/p2/$name.json"
    curl -fsS -H "$ADMIN_AUTH" "$BASE/p2/$name.json" > "$WORK/static/admin/p2/$name.json"
    echo "/p2/$name.json" >> "$WORK/paths"
    echo "/customer/p2/$name.json" >> "$WORK/paths.static-customer"
    echo "/admin/p2/$name.json" >> "$WORK/paths.static-admin"
done < "$WORK/packages"
SIZE=$(stat -c %s "$WORK/static/customer/p2/$PACKAGE.json")
SEEN=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(len(d['packages'][sys.argv[2]]))" "$WORK/static/customer/p2/$PACKAGE.json" "$PACKAGE")
start_static_nginx "$NGINX_PORT"
cmp <(curl -fsS "$NGINX/customer/p2/$PACKAGE.json") "$WORK/static/customer/p2/$PACKAGE.json"

# packages.json latency for the customer: one connection, wrk's median.
MEDIAN=$(wrk -t1 -c1 -d5s --latency -H "$AUTH" "$BASE/packages.json" | awk '$1 == "50%" {print $2}')
# Requests per second over the paths in file $1, with wrk's other arguments after it.
rotating() {
    local paths=$1
    shift
    PATHS=$paths rps -s bench/rotate.lua "$@"
}
PATHS=$WORK/paths wrk -t1 -c4 -d1s -s bench/rotate.lua -H "$AUTH" "$BASE" > /dev/null
PATHS=$WORK/paths wrk -t1 -c4 -d1s -s bench/rotate.lua -H "$ADMIN_AUTH" "$BASE" > /dev/null
PATHS=$WORK/paths.static-customer wrk -t1 -c4 -d1s -s bench/rotate.lua "$NGINX" > /dev/null
PACKYARD=$(rotating "$WORK/paths" -H "$AUTH" "$BASE")
FULL=$(rotating "$WORK/paths" -H "$ADMIN_AUTH" "$BASE")
NGINX_CUSTOMER=$(rotating "$WORK/paths.static-customer" -H "$AUTH" "$NGINX")
NGINX_ADMIN=$(rotating "$WORK/paths.static-admin" -H "$AUTH" "$NGINX")
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER/status")
PEAK=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")

echo "customer sees $VISIBLE of $PACKAGES packages"
printf 'packages.json for the customer: cold %.1f ms, median %s (target < 10 ms)\n' "$(python3 -c "print($COLD*1000)")" "$MEDIAN"
echo "$DOCUMENTS rotating documents such as /p2/$PACKAGE.json: $SEEN of 5 versions visible to the customer, $SIZE bytes; wrk -t2 -c$CONNECTIONS -d${DURATION}s"
printf 'packyard (customer, filtered):      %10.0f req/s\n' "$PACKYARD"
printf 'packyard (admin, unfiltered):       %10.0f req/s\n' "$FULL"
printf 'nginx (the customer documents):     %10.0f req/s\n' "$NGINX_CUSTOMER"
printf 'nginx (the admin documents):        %10.0f req/s\n' "$NGINX_ADMIN"
python3 -c "print(f'ratio to nginx (target >= 1.0): customer {$PACKYARD/$NGINX_CUSTOMER:.2f}; admin {$FULL/$NGINX_ADMIN:.2f}')"
echo "packyard memory with this catalogue: RSS $((RSS / 1024)) MiB, peak $((PEAK / 1024)) MiB"
