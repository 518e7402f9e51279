#!/usr/bin/env bash
# The web UI's server time, in one run on this machine: the package list with 10,000
# packages (first page, a search, a later page; for an admin and for a customer who sees
# only some versions of each), a package page with 500 versions (whole, and filtered by
# a constraint), the page of a package every other one requires (its "required by"
# reads the whole catalogue), the admin dashboard, and the weight of `/`. Server time
# is curl's time to the first byte over loopback; each figure is the median of REPEAT
# requests after one warm-up.
#
#   bench/web.sh [PACKAGES] [VERSIONS] [REPEAT]
#
# Targets (issue 11): list < 50 ms, package page < 100 ms, `/` < 100 KB.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
PACKAGES=${1:-10000}
VERSIONS=${2:-500}
REPEAT=${3:-20}

build_packyard
make_workdir web-bench

export PACKYARD_DATA_DIR=$WORK/data PACKYARD_LISTEN=127.0.0.1:0 RUST_LOG=warn
PASSWORD="benchmark password"
echo "$PASSWORD" | "$BIN" user add admin --admin --password-stdin > /dev/null   # creates the database

# The catalogue, written straight into the database (uploading 10,500 archives would
# measure uploads): PACKAGES packages with 3 versions each, and acme/big with VERSIONS.
python3 - "$WORK/data/packyard.db" "$PACKAGES" "$VERSIONS" <<'PY'
import hashlib, json, sqlite3, sys, time
db, packages, big_versions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
con = sqlite3.connect(db)
now = int(time.time() * 1000)
words = ["yaml", "http", "cache", "queue", "mailer", "logger", "router", "console", "orm", "event"]

def add(name, versions, description):
    package_id = con.execute(
        "INSERT INTO packages (name, kind, created_at, updated_at) VALUES (?, 'artifact', ?, ?)",
        (name, now, now)).lastrowid
    rows = []
    for i, version in enumerate(versions):
        reference = hashlib.sha1(f"{name}{version}".encode()).hexdigest()
        metadata = json.dumps({
            "description": description, "type": "library", "license": "MIT",
            "keywords": description.split()[:2],
            "require": {"php": ">=8.1", "psr/log": "^3.0", "symfony/yaml": "^6.0",
                        "vendor000/package00": "^1.0"},
            "require-dev": {"phpunit/phpunit": "^10.0"},
            "authors": [{"name": "Bench", "email": "bench@example.com"}],
        })
        rows.append((package_id, version, version + ".0", reference, reference, reference + ".zip",
                     metadata, now - (len(versions) - i) * 3_600_000, now))
    con.executemany(
        "INSERT INTO versions (package_id, version, version_normalized, reference, shasum, dist_store,"
        " dist_key, metadata, released_at, updated_at) VALUES (?, ?, ?, ?, ?, 'artifact', ?, ?, ?, ?)",
        rows)

for n in range(packages):
    add(f"vendor{n // 100:03d}/package{n % 100:02d}", ["1.0.0", "1.1.0", "2.0.0"],
        f"A {words[n % 10]} library number {n} for the web benchmark")
add("acme/big", [f"{major}.{minor}.{patch}" for major in range(1, 6) for minor in range(10)
                 for patch in range(10)][:big_versions], "A package with many versions")
con.commit()
print(f"catalogue: {packages} packages x 3 versions, acme/big with {big_versions} versions")
PY

# A customer who sees only the 1.x versions of every package: every list entry is
# summarised from the versions it sees.
echo "$PASSWORD" | "$BIN" user add customer --password-stdin > /dev/null
"$BIN" group add everything-1x > /dev/null
"$BIN" group grant everything-1x '*/*' --versions '^1.0' > /dev/null
"$BIN" group members everything-1x --add customer > /dev/null

start_packyard
log_in admin
log_in customer

# Median time to first byte of PATH for USER (default admin) over REPEAT requests, in ms.
median_ms() {
    local jar=$WORK/${2:-admin}.jar
    curl -fsS -b "$jar" -o /dev/null "$BASE$1"   # warm-up
    for _ in $(seq "$REPEAT"); do
        curl -fsS -b "$jar" -o /dev/null -w '%{time_starttransfer}\n' "$BASE$1"
    done | sort -n | awk '{t[NR] = $1} END {printf "%.1f", t[int((NR + 1) / 2)] * 1000}'
}

COLD=$(curl -fsS -b "$WORK/admin.jar" -o "$WORK/index.html" -w '%{time_starttransfer}' "$BASE/")
WEIGHT=$(( $(stat -c %s "$WORK/index.html") + $(curl -fsS "$BASE/assets/style.css" | wc -c) + $(curl -fsS "$BASE/assets/app.js" | wc -c) ))
LISTED=$(grep -o 'class="name"' "$WORK/index.html" | wc -l)
VERSIONS_SHOWN=$(curl -fsS -b "$WORK/admin.jar" "$BASE/packages/acme/big" | grep -o '<details' | wc -l)

printf 'list /, first request (builds the catalogue): %.1f ms\n' "$(python3 -c "print($COLD*1000)")"
echo "list / ($LISTED of $((PACKAGES + 1)) on the page): $(median_ms /) ms median (target < 50 ms)"
echo "list /?q=yaml: $(median_ms '/?q=yaml') ms median"
echo "list /?page=400: $(median_ms '/?page=400') ms median"
CUSTOMER_COLD=$(curl -fsS -b "$WORK/customer.jar" -o /dev/null -w '%{time_starttransfer}' "$BASE/?q=first")
printf 'list / for a customer seeing only 1.x of every package, first request: %.1f ms\n' "$(python3 -c "print($CUSTOMER_COLD*1000)")"
echo "list / for that customer: $(median_ms / customer) ms median (target < 50 ms)"
echo "package page /packages/acme/big ($VERSIONS_SHOWN versions): $(median_ms /packages/acme/big) ms median (target < 100 ms)"
FILTERED=$(curl -fsS -b "$WORK/admin.jar" "$BASE/packages/acme/big?versions=%5E3.0" | grep -o '<details' | wc -l)
echo "package page /packages/acme/big?versions=^3.0 ($FILTERED versions): $(median_ms '/packages/acme/big?versions=%5E3.0') ms median (target < 100 ms)"
REQUIRED_BY=$(curl -fsS -b "$WORK/admin.jar" "$BASE/packages/vendor000/package00" | grep -o 'and [0-9]* more' || true)
echo "package page /packages/vendor000/package00 (required by 20 named, $REQUIRED_BY): $(median_ms /packages/vendor000/package00) ms median (target < 100 ms)"
echo "that page for the customer: $(median_ms /packages/vendor000/package00 customer) ms median (target < 100 ms)"
echo "admin dashboard /admin: $(median_ms /admin) ms median"
echo "weight of / with its CSS and JS: $((WEIGHT / 1024)) KiB (target < 100 KB)"
