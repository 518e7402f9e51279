#!/usr/bin/env bash
# A catalogue of PACKAGES packages × VERSIONS versions (default 50,000 × 20), written
# straight into the database, and a customer in 3 groups with 2,000 grants. Prints, in
# one run on this machine:
#   - start-up: from `packyard serve` to /readyz answering 200;
#   - packages.json, list.json, search.json?q= and the web UI's package list (/) for an
#     admin and for the customer: the first answer and the median of REPEAT warm ones;
#   - packyard's resident memory after all of them;
#   - a second replica on the same database: how long after an upload to the first it
#     serves the new version, and its CPU time per second (one refresh) while nothing changes
#     (work that would grow with the catalogue) and around the upload.
#
#   bench/catalogue.sh [PACKAGES] [VERSIONS] [REPEAT]
#
# With PACKYARD_BENCH_DATABASE_URL (postgres://..., an empty database), it runs on
# PostgreSQL (loaded with psql's \copy); otherwise on SQLite.
# Targets (issue 26): start-up < 2 s; RSS < 256 MiB; each answer < 50 ms warm; the new
# version on the other replica < 2 s, with work proportional to the change.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
PACKAGES=${1:-50000}
VERSIONS=${2:-20}
REPEAT=${3:-10}

need_commands zip
build_packyard
make_workdir catalogue-bench

export PACKYARD_DATA_DIR=$WORK/data PACKYARD_LISTEN=127.0.0.1:0 RUST_LOG=warn
ENGINE=sqlite
if [ -n "${PACKYARD_BENCH_DATABASE_URL:-}" ]; then
    export DATABASE_URL=$PACKYARD_BENCH_DATABASE_URL
    ENGINE=postgresql
    command -v psql > /dev/null || { echo "psql is required for PostgreSQL" >&2; exit 1; }
fi
PASSWORD="benchmark password"
ADMIN_TOKEN=$(echo "$PASSWORD" | "$BIN" user add admin --admin --password-stdin | tail -n 1)
CUSTOMER_TOKEN=$(echo "$PASSWORD" | "$BIN" user add customer --password-stdin | tail -n 1)

# The catalogue and the customer's rules, as CSV files and SQL both engines take.
python3 - "$WORK" "$PACKAGES" "$VERSIONS" <<'PY'
import csv, hashlib, json, random, sys, time
work, packages, versions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(26)
now = int(time.time() * 1000) // 1000 * 1000 - 86_400_000
words = ["yaml", "http", "cache", "queue", "mailer", "logger", "router", "console", "orm", "event"]
per_vendor = 100
names = [f"vendor{n // per_vendor:04d}/package{n % per_vendor:02d}" for n in range(packages)]
with open(f"{work}/packages.csv", "w", newline="") as out:
    rows = csv.writer(out)
    for n, name in enumerate(names, start=1):
        rows.writerow([n, name, "artifact", now, now + n])
with open(f"{work}/versions.csv", "w", newline="") as out:
    rows = csv.writer(out)
    for n, name in enumerate(names, start=1):
        word = words[n % len(words)]
        for i in range(versions):
            version = f"{1 + i // 10}.{i % 10}.0"
            reference = hashlib.sha1(f"{name}{version}".encode()).hexdigest()
            metadata = json.dumps({
                "description": f"A {word} library number {n}", "type": "library", "license": "MIT",
                "require": {"php": ">=8.1", "psr/log": "^3.0"},
                "autoload": {"psr-4": {f"Vendor{n}\\\\": "src/"}},
            }, separators=(",", ":"))
            rows.writerow([n, version, version + ".0", reference, reference, "artifact",
                           reference + ".zip", metadata, now - (versions - i) * 86_400_000, now])
grants = {
    "licences": (None, [(name, "^1.0") for name in random.sample(names, 1500)]),
    "vendors": (None, [(f"vendor{v:04d}/*", None) for v in range(50)] +
                      [(name, None) for name in random.sample(names, 400)]),
    "yearly": (now - 45 * 86_400_000, [(name, None) for name in random.sample(names, 50)]),
}
def literal(value):
    return "NULL" if value is None else ("'" + str(value).replace("'", "''") + "'" if isinstance(value, str) else str(value))
with open(f"{work}/rules.sql", "w") as sql:
    for group, (until, rules) in grants.items():
        sql.write(f"INSERT INTO groups (name, updates_until, mirrors, created_at) VALUES ('{group}', {literal(until)}, '[]', {now});\n")
        for package, constraint in dict(rules).items():
            sql.write(f"INSERT INTO group_grants (group_id, package, versions) SELECT id, {literal(package)}, {literal(constraint)} FROM groups WHERE name = '{group}';\n")
        sql.write(f"INSERT INTO group_members (group_id, user_id) SELECT g.id, u.id FROM groups g, users u WHERE g.name = '{group}' AND u.name = 'customer';\n")
    sql.write(f"UPDATE access_stamp SET changed_at = {now} WHERE id = 1;\n")
    sql.write(f"UPDATE catalogue_stamp SET last_stamp = {now + packages} WHERE id = 1;\n")
PY
LOAD_START=$(date +%s.%N)
if [ "$ENGINE" = sqlite ]; then
    python3 - "$WORK" <<'PY'
import csv, sqlite3, sys
work = sys.argv[1]
con = sqlite3.connect(f"{work}/data/packyard.db")
con.executemany("INSERT INTO packages (id, name, kind, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                csv.reader(open(f"{work}/packages.csv")))
con.executemany("INSERT INTO versions (package_id, version, version_normalized, reference, shasum, dist_store,"
                " dist_key, metadata, released_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                csv.reader(open(f"{work}/versions.csv")))
con.executescript(open(f"{work}/rules.sql").read())
con.commit()
PY
else
    psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" <<SQL
\copy packages (id, name, kind, created_at, updated_at) FROM '$WORK/packages.csv' WITH (FORMAT csv)
\o /dev/null
SELECT setval(pg_get_serial_sequence('packages', 'id'), (SELECT MAX(id) FROM packages));
\o
\copy versions (package_id, version, version_normalized, reference, shasum, dist_store, dist_key, metadata, released_at, updated_at) FROM '$WORK/versions.csv' WITH (FORMAT csv)
\i $WORK/rules.sql
ANALYZE;
SQL
fi
LOADED=$(python3 -c "print(f'{$(date +%s.%N) - $LOAD_START:.1f}')")
echo "$ENGINE: $PACKAGES packages x $VERSIONS versions and 2,000 grants written in $LOADED s"

# Start-up: from exec to /readyz.
STARTED=$(date +%s.%N)
start_packyard
until curl -fsS -o /dev/null "$BASE/readyz" 2>/dev/null; do sleep 0.01; done
READY=$(python3 -c "print(f'{$(date +%s.%N) - $STARTED:.2f}')")

log_in admin
log_in customer
ADMIN_AUTH="admin:$ADMIN_TOKEN"
CUSTOMER_AUTH="customer:$CUSTOMER_TOKEN"

# "first ms / median ms" of PATH for WHO (admin|customer): the API with the token,
# the web UI (paths not ending in .json) with the session.
timed() {
    local path=$1 who=$2 credentials
    if [[ "$path" == *.json* ]]; then
        [ "$who" = admin ] && credentials=(-u "$ADMIN_AUTH") || credentials=(-u "$CUSTOMER_AUTH")
    else
        credentials=(-b "$WORK/$who.jar")
    fi
    local first
    first=$(curl -fsS "${credentials[@]}" -o /dev/null -w '%{time_total}' "$BASE$path")
    for _ in $(seq "$REPEAT"); do
        curl -fsS "${credentials[@]}" -o /dev/null -w '%{time_total}\n' "$BASE$path"
    done | sort -n | awk -v first="$first" '{t[NR] = $1} END {printf "%7.1f ms first, %6.1f ms median\n", first * 1000, t[int((NR + 1) / 2)] * 1000}'
}
echo "start-up to ready: $READY s (target < 2 s)"
for who in admin customer; do
    for path in /packages.json /packages/list.json '/search.json?q=package07' /; do
        printf '%-9s %-26s %s\n' "$who" "$path" "$(timed "$path" "$who")"
    done
done
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER/status")
PEAK=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")
echo "RSS after these: $((RSS / 1024)) MiB, peak $((PEAK / 1024)) MiB (target < 256 MiB); each warm answer: target < 50 ms"

# A second replica on the same database (and, on SQLite, the same data directory).
FIRST=$BASE
FIRST_SERVER=$SERVER
start_packyard
SECOND=$BASE
SECOND_SERVER=$SERVER
until curl -fsS -o /dev/null "$SECOND/readyz" 2>/dev/null; do sleep 0.01; done
PACKAGE=vendor0003/package07
curl -fsS -u "$ADMIN_AUTH" -o /dev/null "$SECOND/p2/$PACKAGE.json"
sleep 2
IDLE_BEFORE=$(cpu_ticks "$SECOND_SERVER")
sleep 10
IDLE_AFTER=$(cpu_ticks "$SECOND_SERVER")
IDLE_MS=$(python3 -c "print(f'{($IDLE_AFTER - $IDLE_BEFORE) * 1000 / $(getconf CLK_TCK) / 10:.1f}')")

mkdir -p "$WORK/pkg/src"
echo '<?php // new release' > "$WORK/pkg/src/Lib.php"
echo "{\"name\":\"$PACKAGE\",\"type\":\"library\",\"license\":\"MIT\"}" > "$WORK/pkg/composer.json"
(cd "$WORK/pkg" && zip -qr ../new.zip .)
CHANGE_BEFORE=$(cpu_ticks "$SECOND_SERVER")
UPLOADED=$(date +%s.%N)
curl -fsS -u "$ADMIN_AUTH" -X PUT --data-binary @"$WORK/new.zip" -o /dev/null "$FIRST/api/packages/upload/$PACKAGE/9.9.9"
until curl -fsS -u "$ADMIN_AUTH" "$SECOND/p2/$PACKAGE.json" | grep -q '"9.9.9"'; do sleep 0.01; done
SEEN=$(python3 -c "print(f'{$(date +%s.%N) - $UPLOADED:.2f}')")
sleep 4
CHANGE_AFTER=$(cpu_ticks "$SECOND_SERVER")
CHANGE_MS=$(python3 -c "print(f'{($CHANGE_AFTER - $CHANGE_BEFORE) * 1000 / $(getconf CLK_TCK):.0f}')")
echo "second replica: the upload's version served $SEEN s after the upload began (target < 2 s)"
echo "second replica CPU: $IDLE_MS ms per second (a refresh) while nothing changes; $CHANGE_MS ms over the 4+ s around the upload"
kill "$FIRST_SERVER" "$SECOND_SERVER" 2>/dev/null || true
