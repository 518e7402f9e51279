#!/usr/bin/env bash
# Scanning a git repository with TAGS tagged releases (default 1000): packyard's first
# scan (`packyard package add`), its re-scan when nothing changed (`packyard package
# update`), and Composer's own VCS scanner (`composer show --all` in a project whose only
# repository is the same one, with an empty cache), in one run. Prints the times and
# the ratio.
#
#   bench/vcs_scan.sh [TAGS]
#
# Targets (issue 4): first scan < 2 s and >= 5 x faster than Composer's; no-change
# re-scan < 0.3 s. Times are wall-clock times of whole commands, process start-up and
# database included; packyard's own figure for the scan alone is printed beside them.
set -euo pipefail
cd "$(dirname "$0")/.."
TAGS=${1:-1000}

for tool in git python3 php composer; do
    command -v "$tool" >/dev/null || { echo "$tool is required: run scripts/test first" >&2; exit 1; }
done
cargo build --release --quiet -p packyard
BIN=$PWD/target/release/packyard
"$BIN" package --help | grep -qw add || { echo "this packyard has no 'package add' command" >&2; exit 1; }

WORK=$(mktemp -d /tmp/packyard-vcs-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1

# One commit per release, each with its own composer.json, written by fast-import (a
# commit per `git commit` would take longer than what is measured).
REPO=$WORK/repo
git init --quiet --initial-branch=main "$REPO"
python3 - "$TAGS" <<'PY' | git -C "$REPO" fast-import --quiet
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
git -C "$REPO" reset --quiet --hard main
echo "repository: $(git -C "$REPO" tag | wc -l) tags and 1 branch, one commit each"

now() { date +%s.%N; }

export PACKYARD_DATA_DIR=$WORK/data RUST_LOG=warn
START=$(now)
"$BIN" package add "$REPO" > "$WORK/add.out"
FIRST=$(python3 -c "print($(now) - $START)")
START=$(now)
"$BIN" package update acme/big > "$WORK/update.out"
AGAIN=$(python3 -c "print($(now) - $START)")
grep -q unchanged "$WORK/update.out" || { echo "the re-scan was not a no-change scan:" >&2; cat "$WORK/update.out" >&2; exit 1; }

mkdir -p "$WORK/project"
cat > "$WORK/project/composer.json" <<JSON
{"repositories": [{"type": "vcs", "url": "$REPO"}, {"packagist.org": false}]}
JSON
export COMPOSER_HOME=$WORK/composer-home COMPOSER_NO_INTERACTION=1 COMPOSER_ALLOW_SUPERUSER=1
START=$(now)
(cd "$WORK/project" && composer show --all acme/big > "$WORK/composer.out")
COMPOSER=$(python3 -c "print($(now) - $START)")
SHOWN=$(sed -n 's/^versions : //p' "$WORK/composer.out" | tr ',' '\n' | grep -c .)

echo "packyard package add:    $(head -n 1 "$WORK/add.out")"
echo "packyard package update: $(head -n 1 "$WORK/update.out")"
python3 - <<PY
first, again, composer = $FIRST, $AGAIN, $COMPOSER
print(f"packyard first scan:     {first:6.3f} s (target < 2 s)")
print(f"packyard no-change scan: {again:6.3f} s (target < 0.3 s)")
print(f"composer show --all:     {composer:6.3f} s ({$SHOWN} versions, empty cache)")
print(f"ratio composer/packyard first scan: {composer / first:.1f} x (target >= 5 x)")
PY
