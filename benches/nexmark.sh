#!/usr/bin/env bash
# The Nexmark suite of examples/nexmark on this machine: every query file run by `tally run -i
# ddl.sql` on a bounded `nexmark` table of EVENTS events (the example's DDL, Flink's rates and
# proportions), into its `blackhole` sink, each the median of RUNS runs of the whole process
# (start-up included), one machine-readable line per query:
#   bench=nexmark_q5 events=N workers=W seconds=S events_per_s=E
# and a markdown table in benches/out/nexmark.md.
# Usage: benches/nexmark.sh [EVENTS] [WORKERS] [RUNS]      (defaults: 10000000 2 3)
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-10000000}
workers=${2:-2}
runs=${3:-3}
cargo build --release --quiet
mkdir -p benches/out
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -E "s/'events.num' = '[0-9]+'/'events.num' = '$events'/" examples/nexmark/ddl.sql > "$work/ddl.sql"
cp examples/nexmark/side_input.csv "$work/"

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

table="| query | events | workers | seconds (median of $runs) | min | max | events/s |
|---|---|---|---|---|---|---|"
for file in $(ls examples/nexmark/q*.sql | sort -V); do
  q=$(basename "$file" .sql)
  cp "$file" "$work/$q.sql"
  secs=()
  for _ in $(seq 1 "$runs"); do
    start=$(date +%s.%N)
    ./target/release/tally run -i "$work/ddl.sql" "$work/$q.sql" -w "$workers" --progress 0 \
      2> "$work/$q.log" || { cat "$work/$q.log" >&2; exit 1; }
    end=$(date +%s.%N)
    secs+=("$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')")
  done
  med=$(printf '%s\n' "${secs[@]}" | median)
  min=$(printf '%s\n' "${secs[@]}" | sort -g | head -1)
  max=$(printf '%s\n' "${secs[@]}" | sort -g | tail -1)
  rate=$(awk -v n="$events" -v s="$med" 'BEGIN {printf "%.0f", n / s}')
  printf 'bench=nexmark_%s events=%s workers=%s seconds=%.3f events_per_s=%s\n' \
    "$q" "$events" "$workers" "$med" "$rate"
  table+=$'\n'"$(printf '| %s | %s | %s | %.3f | %.3f | %.3f | %s |' "$q" "$events" "$workers" "$med" "$min" "$max" "$rate")"
done
printf '%s\n' "$table" > benches/out/nexmark.md
echo "wrote benches/out/nexmark.md"
