#!/usr/bin/env bash
# First scans next to Composer's own VCS scanner, in one run on this machine, over
# repositories served locally by `git daemon` with partial clones allowed (as GitHub and
# GitLab serve them), never from the internet. For each repository: packyard's first
# scan (`packyard package add`, whole command: process start, database, clone, scan),
# Composer's (`composer show --all` in a project whose only repository is the same URL,
# empty cache), the ratio, and whether both found the same versions. Then packyard's
# re-scan when nothing changed.
#
#   bench/vcs_scan.sh [REPOSITORY...]
#
# Each REPOSITORY is a git repository on this machine: a clone of a real package, e.g.
#   git clone --mirror https://github.com/php-fig/log       psr-log.git
#   git clone --mirror https://github.com/Seldaek/monolog   monolog.git
#   git clone --mirror https://github.com/guzzle/guzzle     guzzle.git
#   git clone --mirror https://github.com/twigphp/Twig      twig.git
#   git clone --mirror https://github.com/ramsey/uuid       uuid.git
#   git clone --mirror https://github.com/symfony/polyfill-mbstring polyfill-mbstring.git
# (made wherever there is internet, then copied here). Without any, a generated
# repository with TAGS (default 1000) releases is measured.
#
# Targets: first scan >= 5 x faster than Composer's (issue 26); no-change re-scan
# < 0.3 s (issue 4).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
TAGS=${TAGS:-1000}

for tool in git python3 php composer; do
    command -v "$tool" >/dev/null || { echo "$tool is required: run scripts/test first" >&2; exit 1; }
done
build_packyard
make_workdir vcs-bench
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
SERVED=$WORK/served
mkdir -p "$SERVED"

if [ $# -eq 0 ]; then
    # One commit per release, each with its own composer.json, written by fast-import
    # (a commit per `git commit` would take longer than what is measured).
    GENERATED=$WORK/generated.git
    git init --quiet --bare --initial-branch=main "$GENERATED"
    python3 - "$TAGS" <<'PY' | git --git-dir "$GENERATED" fast-import --quiet
import json, sys
tags = int(sys.argv[1])
out = sys.stdout.buffer
def data(payload):
    out.write(b"data %d\n%s\n" % (len(payload), payload))
for i in range(1, tags + 1):
    manifest = json.dumps({
        "name": "acme/big", "description": "Benchmark package", "type": "library",
        "license": "MIT", "require": {"php": ">=8.1", "psr/log": "^3.0"},
        "autoload": {"psr-4": {"Acme\\Big\\": "src/"}}, "extra": {"build": i},
    }, indent=4).encode()
    when = 1704067200 + i * 3600
    out.write(b"commit refs/heads/main\nmark :%d\n" % i)
    out.write(b"author Bench <bench@example.com> %d +0000\n" % when)
    out.write(b"committer Bench <bench@example.com> %d +0000\n" % when)
    data(b"release %d" % i)
    out.write(b"M 644 inline composer.json\n")
    data(manifest)
    out.write(b"M 644 inline src/Big.php\n")
    data(b"<?php // release %d\n" % i)
    out.write(b"reset refs/tags/v%d.%d.%d\nfrom :%d\n\n" % (i // 100, i // 10 % 10, i % 10, i))
PY
    set -- "$GENERATED"
fi

# Branches and tags of each repository (not a forge's refs/pull/*), served with filters.
NAMES=()
for source in "$@"; do
    name=$(basename "$source" .git)
    git clone --quiet --bare --no-local "$source" "$SERVED/$name.git"
    git --git-dir "$SERVED/$name.git" config uploadpack.allowFilter true
    NAMES+=("$name")
done
PORT=$(free_port)
git daemon --export-all --reuseaddr --listen=127.0.0.1 --port="$PORT" --base-path="$SERVED" "$SERVED" 2> "$WORK/daemon.log" &
PIDS+=($!)
for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

now() { date +%s.%N; }
export RUST_LOG=warn PACKYARD_ALLOW_NETWORKS=127.0.0.0/8
export COMPOSER_NO_INTERACTION=1 COMPOSER_ALLOW_SUPERUSER=1
RESULTS=$WORK/results
: > "$RESULTS"
for name in "${NAMES[@]}"; do
    url=git://127.0.0.1:$PORT/$name.git
    package=$(git --git-dir "$SERVED/$name.git" show HEAD:composer.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')

    export PACKYARD_DATA_DIR=$WORK/data-$name
    start=$(now)
    "$BIN" package add "$url" > "$WORK/add-$name.out"
    first=$(python3 -c "print($(now) - $start)")
    start=$(now)
    "$BIN" package update "$package" > "$WORK/update-$name.out"
    again=$(python3 -c "print($(now) - $start)")
    grep -q unchanged "$WORK/update-$name.out" || { echo "$name: the re-scan was not a no-change scan:" >&2; cat "$WORK/update-$name.out" >&2; exit 1; }
    python3 - "$PACKYARD_DATA_DIR/packyard.db" "$package" > "$WORK/ours-$name" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for (version,) in con.execute(
        "SELECT v.version FROM versions v JOIN packages p ON p.id = v.package_id WHERE p.name = ?",
        (sys.argv[2],)):
    print(version)
PY

    project=$WORK/project-$name
    mkdir -p "$project"
    cat > "$project/composer.json" <<JSON
{"repositories": [{"type": "vcs", "url": "$url"}, {"packagist.org": false}],
 "config": {"secure-http": false}}
JSON
    export COMPOSER_HOME=$WORK/composer-home-$name COMPOSER_CACHE_DIR=$WORK/composer-cache-$name
    start=$(now)
    (cd "$project" && composer show --all "$package" > "$WORK/composer-$name.out" 2> "$WORK/composer-$name.err")
    composer_time=$(python3 -c "print($(now) - $start)")
    sed -n 's/^versions : //p' "$WORK/composer-$name.out" | tr ',' '\n' | sed 's/^ *\* *//; s/^ *//; s/ *$//' | grep . > "$WORK/theirs-$name" || true

    same=$(python3 - "$WORK/ours-$name" "$WORK/theirs-$name" "$PACKYARD_DATA_DIR/packyard.db" <<'PY'
import json, sqlite3, sys
ours = set(open(sys.argv[1]).read().split())
theirs = set(open(sys.argv[2]).read().split())
# Composer also lists the aliases branches declare (`extra.branch-alias`), which it
# makes on the client from the metadata; packyard publishes the metadata that declares
# them.
for (metadata,) in sqlite3.connect(sys.argv[3]).execute("SELECT metadata FROM versions"):
    aliases = (json.loads(metadata).get("extra") or {}).get("branch-alias") or {}
    if isinstance(aliases, dict):
        theirs -= set(aliases.values()) - ours
if ours == theirs:
    print(f"same {len(ours)} versions")
else:
    print(f"DIFFERENT: only packyard {sorted(ours - theirs)[:5]}, only Composer {sorted(theirs - ours)[:5]}")
PY
)
    tags=$(git --git-dir "$SERVED/$name.git" tag | wc -l)
    echo "$name $package $tags $first $composer_time $again $same" >> "$RESULTS"
done

python3 - "$RESULTS" <<'PY'
import sys
rows = [line.split(maxsplit=6) for line in open(sys.argv[1])]
print(f"{'repository':<22} {'tags':>5} {'packyard':>9} {'Composer':>9} {'ratio':>6} {'re-scan':>8}  versions")
for name, package, tags, first, composer, again, same in rows:
    first, composer, again = float(first), float(composer), float(again)
    print(f"{package:<22} {tags:>5} {first:8.2f}s {composer:8.2f}s {composer / first:5.1f}x {again:7.2f}s  {same.strip()}")
print("ratio: Composer's time / packyard's first scan (target >= 5 x); re-scan: no change (target < 0.3 s)")
PY
