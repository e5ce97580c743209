#!/usr/bin/env bash
# Runs tally's whole test suite. Works on a fresh Debian machine with the Rust toolchain: it
# installs a C compiler when missing, then starts (installing when missing) the servers the
# integration tests talk to: Redis, MariaDB, PostgreSQL and the Kafka-compatible broker tansu
# (scripts/services.sh). A test whose server is missing fails; none is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
# Rust links with cc; mimalloc and librdkafka build with cc, c++ and make.
if ! command -v cc >/dev/null 2>&1 || ! command -v c++ >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
  apt-get update && apt-get install -y build-essential
fi
./scripts/services.sh
cargo test --workspace --all-targets "$@"
