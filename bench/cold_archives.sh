#!/usr/bin/env bash
# Memory under a burst of cold mirror downloads: 500 concurrent requests for 500
# distinct archives of about 1 MiB each, through a mirror whose upstream answers each
# after 200 ms. Prints the server's RSS before and at its peak; the test fails at 256 MiB.
#
#   bench/cold_archives.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -p packyard --test integration \
    mirror::five_hundred_concurrent_cold_archive_requests_stay_under_256_mib -- --ignored --nocapture 2>&1 \
    | grep -E 'RSS|test result|panicked'
