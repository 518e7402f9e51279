#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into fuzz/corpus/<target>/seed-<sha1>.

The seeds are real inputs taken from the repository itself: the version strings and
constraints of composer/semver's tables (crates/composer/tests), the composer.json
objects, version lists and URLs the unit tests use, a few composer.json files shaped
like well-known packages', and tiny zips, p2 documents, roots and advisories answers
built from them here. Run again after adding tests; existing files are kept (bench/fuzz.sh
and `cargo fuzz cmin` maintain the rest of each corpus).

    fuzz/seed.py
"""

import hashlib
import io
import json
import pathlib
import re
import stat
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"

STRING = re.compile(r'(?<![A-Za-z0-9_#])b?"((?:[^"\\]|\\.)*)"', re.S)
RAW = re.compile(r'b?r(#+)"(.*?)"\1', re.S)
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}


def unescape(literal):
    out, i = [], 0
    while i < len(literal):
        c = literal[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = literal[i + 1]
        if nxt in ESCAPES:
            out.append(ESCAPES[nxt])
            i += 2
        elif nxt == "x":
            out.append(chr(int(literal[i + 2 : i + 4], 16)))
            i += 4
        elif nxt == "u":
            end = literal.index("}", i)
            out.append(chr(int(literal[i + 3 : end], 16)))
            i = end + 1
        elif nxt == "\n":  # line continuation
            i += 2
            while i < len(literal) and literal[i] in " \t\n":
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def literals(path):
    text = path.read_text()
    found = [m.group(2) for m in RAW.finditer(text)]
    found += [unescape(m.group(1)) for m in STRING.finditer(RAW.sub("", text))]
    return found


def json_macros(path):
    """The JSON inside each `json!(...)` of a Rust file that is plain JSON."""
    text, values = path.read_text(), []
    for start in (m.end() for m in re.finditer(r"json!\(", text)):
        depth, i = 1, start
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        try:
            values.append(json.loads(text[start : i - 1]))
        except ValueError:
            pass
    return values


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{hashlib.sha1(data).hexdigest()}").write_bytes(data)


def zipped(entries, compression=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries:
            if data is None:  # a symlink
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, "/etc/passwd")
            else:
                archive.writestr(name, data)
    return buffer.getvalue()


def minified(versions):
    """composer/metadata-minifier's minify()."""
    out, last = [], {}
    for version in versions:
        if not last:
            last = dict(version)
            out.append(version)
            continue
        diff = {k: v for k, v in version.items() if last.get(k, object()) != v}
        last.update(diff)
        for key in [k for k in last if k not in version]:
            del last[key]
            diff[key] = "__unset"
        out.append(diff)
    return out


# composer.json files shaped like those of well-known packages (written here, not copied).
MANIFESTS = [
    {
        "name": "acme/log",
        "description": "Sends your logs to files, sockets, inboxes, databases and web services",
        "keywords": ["log", "logging", "psr-3"],
        "homepage": "https://example.com/acme/log",
        "type": "library",
        "license": "MIT",
        "authors": [{"name": "Jane Doe", "email": "jane@example.com", "homepage": "https://example.com"}],
        "require": {"php": ">=8.1", "psr/log": "^2.0 || ^3.0"},
        "require-dev": {"phpunit/phpunit": "^10.5.17", "phpstan/phpstan": "^1.10"},
        "provide": {"psr/log-implementation": "3.0.0"},
        "suggest": {"ext-mbstring": "Allow to work properly with unicode symbols"},
        "autoload": {"psr-4": {"Acme\\Log\\": "src/Acme/Log"}},
        "autoload-dev": {"psr-4": {"Acme\\Log\\": "tests/Acme/Log"}},
        "extra": {"branch-alias": {"dev-main": "3.x-dev"}},
        "scripts": {"test": "phpunit"},
        "config": {"lock": False, "allow-plugins": {"php-http/discovery": True}},
        "support": {"issues": "https://example.com/acme/log/issues", "source": "https://example.com/acme/log"},
        "funding": [{"type": "github", "url": "https://github.com/sponsors/jane"}],
        "minimum-stability": "dev",
        "prefer-stable": True,
    },
    {
        "name": "acme/console",
        "type": "library",
        "description": "Eases the creation of beautiful and testable command line interfaces",
        "keywords": ["console", "cli", "command-line", "terminal"],
        "homepage": "https://example.com",
        "license": "MIT",
        "authors": [{"name": "John Roe", "email": "john@example.com"}, {"name": "Community", "homepage": "https://example.com/contributors"}],
        "require": {"php": ">=8.2", "acme/polyfill-mbstring": "~1.0", "acme/service-contracts": "^2.5|^3", "acme/string": "^6.4|^7.0"},
        "require-dev": {"acme/config": "^6.4|^7.0", "psr/log": "^1|^2|^3"},
        "provide": {"psr/log-implementation": "1.0|2.0|3.0"},
        "conflict": {"acme/dependency-injection": "<6.4", "acme/dotenv": "<6.4"},
        "autoload": {"psr-4": {"Acme\\Component\\Console\\": ""}, "exclude-from-classmap": ["/Tests/"]},
        "minimum-stability": "dev",
        "version": "7.1.0",
        "time": "2024-05-31T14:57:53+00:00",
        "bin": ["bin/console"],
    },
    {
        "name": "acme/polyfill-php80",
        "type": "library",
        "license": "MIT",
        "require": {"php": ">=7.2"},
        "autoload": {"psr-4": {"Acme\\Polyfill\\Php80\\": ""}, "files": ["bootstrap.php"], "classmap": ["Resources/stubs"]},
        "extra": {"thanks": {"name": "acme/polyfill", "url": "https://example.com/acme/polyfill"}},
        "abandoned": "acme/polyfill-php81",
    },
    {"name": "acme/plugin", "type": "composer-plugin", "require": {"composer-plugin-api": "^2.0"}, "extra": {"class": "Acme\\Plugin"}, "target-dir": "Acme/Plugin", "autoload": {"psr-0": {"Acme\\Plugin": ""}}},
    {"name": "acme/ext", "type": "php-ext", "php-ext": {"extension-name": "acme", "configure-options": [{"name": "enable-acme", "description": "Enable acme"}]}, "include-path": ["lib/"], "replace": {"acme/old-ext": "self.version"}},
    {"name": "Acme/Bad Name", "require": {"Acme/Lib": "not a constraint"}, "type": "bad type!", "bin": "../escape"},
]

URLS = [
    "https://github.com/acme/lib.git",
    "https://bot:token@git.example.com/acme/lib.git",
    "https://bot:p%40ss@git.example.com/acme/lib.git",
    "http://user:pw@127.0.0.1:8080/x.git",
    "ssh://git@github.com/acme/lib",
    "ssh://git@[::1]:2222/x",
    "git@github.com:acme/lib.git",
    "git://example.com/x",
    "file:///srv/git/lib.git",
    "/srv/git/lib",
    "postgres://app:secret@db:5432/packyard",
    "https://git.example.com/a@b/lib.git",
    "  https://GitHub.com/Acme/Lib/  ",
    "--upload-pack=touch /tmp/x",
]


def main():
    composer_tests = ROOT / "crates" / "composer" / "tests"
    strings = sorted({s for f in composer_tests.glob("**/*.rs") for s in literals(f) if len(s) < 300})
    for s in strings:
        write("version", s)
        write("constraint", s)
    # Constraint and version together: `constraint\0version`.
    for constraint, version in [("^1.2 || ~2.0", "1.5.0"), (">=1.0,<2.0", "2.0.0-beta1"), ("dev-main", "dev-main"), ("1.0 - 2.0", "2.0.1")]:
        write("constraint", f"{constraint}\0{version}")

    sources = list((ROOT / "crates").glob("*/src/**/*.rs")) + list((ROOT / "crates").glob("*/tests/**/*.rs"))
    objects = [v for f in sources for v in json_macros(f) if isinstance(v, dict)]
    objects += [json.loads(s) for f in sources for s in literals(f) if s.startswith("{") and is_json(s)]
    manifests = [o for o in objects if "name" in o or "require" in o] + MANIFESTS
    for manifest in manifests:
        write("manifest", json.dumps(manifest, indent=4))
    write("manifest", "{}")
    write("manifest", "\ufeff{}")

    for manifest in MANIFESTS[:3]:
        text = json.dumps(manifest, indent=4)
        write("zip", zipped([("composer.json", text), ("src/A.php", "<?php\n"), ("README.md", "# Lib\n")]))
    text = json.dumps(MANIFESTS[0])
    write("zip", zipped([("lib-1.0/", ""), ("lib-1.0/composer.json", text), ("lib-1.0/readme.txt", "hi")], zipfile.ZIP_STORED))
    write("zip", zipped([("composer.json", text), ("link", None)]))
    write("zip", zipped([("composer.json", text), ("../escape.php", "x")]))
    write("zip", zipped([("a/composer.json", text), ("b/x.php", "x")]))
    write("zip", zipped([("README.md", "no manifest")]))
    write("zip", zipped([]))

    versions = []
    for i, manifest in enumerate(MANIFESTS[:5]):
        for version, normalized in [("1.0.0", "1.0.0.0"), ("v1.1.0-RC1", "1.1.0.0-RC1"), ("dev-main", "dev-main"), ("2.x-dev", "2.9999999.9999999.9999999-dev")]:
            entry = {k: v for k, v in manifest.items() if k not in ("config", "scripts", "minimum-stability", "prefer-stable", "autoload-dev")}
            entry.update({"version": version, "version_normalized": normalized, "time": f"2024-0{1 + i}-01T00:00:00+00:00",
                          "dist": {"type": "zip", "url": f"https://example.com/{manifest['name']}/{version}.zip", "reference": f"{i:040x}", "shasum": ""}})
            versions.append(entry)
    lists = [versions[:4], versions[4:8], versions, [versions[0], {}, versions[1]]]
    lists += [v for f in sources for v in json_macros(f) if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
    for versions_list in lists:
        write("minify", json.dumps(versions_list))
        package = versions_list[0].get("name", "acme/lib") if versions_list and versions_list[0] else "acme/lib"
        write("mirror_document", json.dumps({"packages": {package: minified(versions_list)}, "minified": "composer/2.0"}))
        write("mirror_document", json.dumps({"packages": {package: versions_list}}))
    root = {
        "packages": [], "notify-batch": "https://example.org/downloads/", "providers-url": "/p/%package%$%hash%.json",
        "metadata-url": "/p2/%package%.json", "metadata-changes-url": "https://example.org/metadata/changes.json",
        "search": "https://example.org/search.json?q=%query%&type=%type%", "list": "https://example.org/packages/list.json",
        "security-advisories": {"metadata": True, "api-url": "https://example.org/api/security-advisories/"},
        "providers-api": "https://example.org/providers/%package%.json", "warning": "Support for Composer 1 is deprecated",
        "provider-includes": {"p/provider-2024$%hash%.json": {"sha256": "ab" * 32}},
        "mirrors": [{"dist-url": "https://mirror.example.org/dists/%package%/%version%/r%reference%.%type%", "preferred": True}],
    }
    write("mirror_document", json.dumps(root))
    write("mirror_document", json.dumps({"packages": [], "metadata-url": "/p2/%package%.json", "available-packages": ["acme/lib"]}))
    advisories = {"advisories": {"acme/lib": [
        {"advisoryId": "PKSA-1", "packageName": "acme/lib", "remoteId": "GHSA-xxxx", "title": "XSS", "link": "https://example.org/a",
         "cve": "CVE-2024-0001", "affectedVersions": ">=1.0,<1.2.3|>=2.0,<2.0.1", "source": "GitHub", "reportedAt": "2024-01-01 00:00:00",
         "composerRepository": "https://packagist.org", "severity": "high", "sources": [{"name": "GitHub", "remoteId": "GHSA-xxxx"}]},
        {"advisoryId": "PKSA-2", "affectedVersions": "not a constraint"}]}}
    write("mirror_document", json.dumps(advisories))
    write("mirror_document", json.dumps({"advisories": []}))
    write("mirror_document", json.dumps({"fetched_at": 1718000000000, "last_modified": "Mon, 10 Jun 2024 06:13:20 GMT",
                                         "body": json.dumps({"packages": {"acme/lib": versions[:2]}})}))
    write("mirror_document", json.dumps({"fetched_at": 1, "last_modified": None, "body": "{}", "gone_upstream_at": 2}))

    packyard_sources = list((ROOT / "crates" / "packyard" / "src").glob("*.rs"))
    found_urls = {s for f in packyard_sources for s in literals(f) if "://" in s or re.match(r"^[\w.-]+@[\w.-]+:", s)}
    for url in sorted(found_urls) + URLS:
        write("url", url)


def is_json(text):
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


if __name__ == "__main__":
    main()
