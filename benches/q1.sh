#!/usr/bin/env bash
# q1 of benchmarks.md: generates ROWS EasyCount events into benches/data/events.txt (once),
# runs q1 on them with WORKERS threads, and prints one machine-readable line:
#   bench=q1 rows=N workers=W seconds=S events_per_s=E peak_rss_kb=K
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-2000000}
workers=${2:-2}
cargo build --release --quiet
mkdir -p benches/data
data=benches/data/events.txt
if [ ! -f "$data" ] || [ "$(wc -l < "$data")" -ne "$rows" ]; then
  ./target/release/tally generate --rows "$rows" --seed 42 -o "$data"
fi
start=$(date +%s.%N)
/usr/bin/time -f "%M" -o benches/data/rss.txt ./target/release/tally run benches/q1.ec -w "$workers" --progress 0 2>/dev/null
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc -l)
rss=$(tail -1 benches/data/rss.txt)
printf 'bench=q1 rows=%s workers=%s seconds=%.3f events_per_s=%.0f peak_rss_kb=%s\n' \
  "$rows" "$workers" "$secs" "$(echo "$rows / $secs" | bc -l)" "$rss"
