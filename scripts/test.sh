#!/usr/bin/env bash
# Runs tally's whole test suite. Works on a fresh machine with the Rust toolchain: the tests of
# this version need no external server (the Redis, MariaDB, PostgreSQL and Kafka tests arrive
# with the connectors, and this script will start those servers first).
set -euo pipefail
cd "$(dirname "$0")/.."
# Rust links with cc, and mimalloc builds with it: install a C compiler when it is missing.
if ! command -v cc >/dev/null 2>&1; then
  apt-get update && apt-get install -y build-essential
fi
cargo test --workspace --all-targets "$@"
