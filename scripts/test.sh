#!/usr/bin/env bash
# Runs tally's whole test suite. Works on a fresh machine with the Rust toolchain: the tests of
# this version need no external server (the Redis, MariaDB, PostgreSQL and Kafka tests arrive
# with the connectors, and this script will start those servers first).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets "$@"
