#!/usr/bin/env bash
# Runs one example job of examples/ with what it needs, in one command:
#   scripts/example.sh NAME [tally run options]     (NAME: kafka_pv_uv_redis, easycount, ...)
# - The Kafka examples: a tansu broker (in memory) is started on 127.0.0.1:9092 when nothing
#   listens there (and stopped when this script ends), the example's topic is created, and a
#   small sample input is produced to it with `cargo run --release --example produce`.
# - MySQL (3306), PostgreSQL (5432) and Redis (6379) are started, installed when missing, by
#   scripts/services.sh when they are not listening.
# Then the job runs in release mode until Ctrl-C. What it writes and how to look at it: the
# README's Connectors section, and the lines printed before the job starts.
# EXAMPLE_PROFILE=dev uses the debug build instead of the release one.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo_run() {
  if [ "${EXAMPLE_PROFILE:-release}" = dev ]; then
    cargo run --quiet "$@"
  else
    cargo run --release --quiet "$@"
  fi
}

log() { echo "example: $*" >&2; }
listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

name=${1:-}
if [ -z "$name" ]; then
  echo "usage: scripts/example.sh NAME [tally run options]; NAME is one of:" >&2
  ls examples | sed -n 's/\.\(ec\|sql\)$//p' | sort -u | sed 's/^/  /' >&2
  exit 2
fi
shift
job=""
for candidate in "examples/$name" "examples/$name.ec" "examples/$name.sql"; do
  if [ -f "$candidate" ]; then job=$candidate; break; fi
done
[ -n "$job" ] || { log "no job examples/$name(.ec|.sql)"; exit 1; }

topic="" sample="" servers="" look=""
case "$(basename "$job")" in
  weblog_to_mysql.ec)
    servers="3306"
    look="mariadb -h 127.0.0.1 -u root test -e 'SELECT * FROM weblog_minute'   (append lines to examples/data/access.log to see the current minute change)" ;;
  kafka_to_mysql_sync.ec)
    topic=orders sample=examples/data/orders.jsonl servers="3306"
    look="mariadb -h 127.0.0.1 -u root test -e 'SELECT * FROM orders_sync'" ;;
  kafka_pv_uv_redis.ec)
    topic=clicks sample=generated servers="6379"
    look="redis-cli HGETALL flink_pv_uv   (written every 20 s)" ;;
  wordcount_kafka_redis.ec)
    topic=lines sample=examples/data/lines.txt servers="6379"
    look="redis-cli --scan --pattern 'wc:*'; redis-cli HGET wc:the n" ;;
  teg_acct_test.ec)
    topic=teg_acct sample=generated servers="3306"
    look="mariadb -h 127.0.0.1 -u root test -e 'SELECT * FROM teg_acct_test'" ;;
  teg_acct_test_pg.ec)
    topic=teg_acct sample=generated servers="5432"
    look="psql -h 127.0.0.1 -U postgres test -c 'SELECT * FROM teg_acct_test'" ;;
esac

for port in $servers; do
  if ! listening 127.0.0.1 "$port"; then
    log "nothing listens on 127.0.0.1:$port: starting the servers with scripts/services.sh"
    ./scripts/services.sh
    break
  fi
done

tmp=$(mktemp -d)
broker_pid=""
cleanup() {
  if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ -n "$topic" ]; then
  TANSU="${TANSU:-${CARGO_HOME:-$HOME/.cargo}/bin/tansu}"
  [ -x "$TANSU" ] || TANSU=$(command -v tansu || true)
  if ! listening 127.0.0.1 9092; then
    if [ -z "$TANSU" ]; then
      log "no broker on 127.0.0.1:9092 and no tansu to start one: cargo install tansu --version 0.6.0 --locked --features dynostore (or run scripts/services.sh)"
      exit 1
    fi
    log "starting a tansu broker (in memory) on 127.0.0.1:9092; it stops when this script ends"
    "$TANSU" broker --listener-url tcp://127.0.0.1:9092 \
      --advertised-listener-url tcp://127.0.0.1:9092 --storage-engine memory://tansu/ \
      >"$tmp/tansu.log" 2>&1 &
    broker_pid=$!
    for _ in $(seq 1 100); do listening 127.0.0.1 9092 && break; sleep 0.1; done
    listening 127.0.0.1 9092 || { log "the broker did not start:"; cat "$tmp/tansu.log" >&2; exit 1; }
  fi
  if [ -n "$TANSU" ]; then
    # An existing topic is fine.
    "$TANSU" topic create "$topic" --partitions 2 --broker tcp://127.0.0.1:9092 >/dev/null 2>&1 \
      || log "topic $topic not created (it may exist already)"
  else
    log "no tansu binary to create the topic $topic: the broker must create it or have it"
  fi
  if [ "$sample" = generated ]; then
    log "generating 20000 click events (appId;qq;dTime)"
    cargo_run -- generate --rows 20000 -o "$tmp/events.txt"
    sample="$tmp/events.txt"
  fi
  cargo_run --example produce -- "$topic" "$sample" 127.0.0.1:9092
fi

log "running $job (Ctrl-C to stop)"
if [ -n "$look" ]; then log "to see the result: $look"; fi
cargo_run -- run "$job" "$@"
