#!/usr/bin/env bash
# benchmarks.md's scale runs, beside `benches/run.sh`:
# 1. size steps: q1 at -w 2 over 1M, 10M and 100M generated events read from a file (the same
#    events for each step: the first N of the generator's stream), one line each:
#      bench=q1_size rows=N workers=2 seconds=S events_per_s=E peak_rss_kb=K
# 2. an endless run: q5 (every aggregate kind) over the generator with no row limit at a steady
#    rate (the key count is steady: 100 apps x 200,000 users), for DURATION seconds, with the
#    resident memory sampled every 10 s:
#      bench=endless_rss t=SECONDS rss_kb=K rows=ROWS
#    then the verdict on benchmarks.md's target (RSS flat within 10% once windows close; the
#    first minute is the warm-up in which the first windows fill and close):
#      bench=endless_rss_summary seconds=D min_kb=... max_kb=... spread=... drift=... target<=0.10
#    spread = (max - min) / min over the samples after the warm-up: open windows fill and close
#    all the time, so samples taken at random phases of that cycle differ; drift = the mean of
#    the second half of those samples against the first half: growth, which must be nil.
# Usage: benches/scale.sh [STEPS] [DURATION] [RATE]   (defaults: "1000000 10000000 100000000" 300 200000;
# STEPS "" runs the endless run alone, DURATION 0 the size steps alone)
# The 100M file takes about 4.5 GB in benches/data (deleted at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1-"1000000 10000000 100000000"}
duration=${2:-300}
rate=${3:-200000}
cargo build --release --quiet
tally="${CARGO_TARGET_DIR:-target}/release/tally"
mkdir -p benches/data benches/out
out=benches/out/scale.txt
: > "$out"

for rows in $steps; do
  data=benches/data/scale_events.txt
  "$tally" generate --rows "$rows" --seed 42 -o "$data"
  sed "s#data/events.txt#data/scale_events.txt#; s#out/q1.csv#out/q1_scale.csv#" benches/q1.ec \
    > benches/q1_scale.ec
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o benches/out/rss.txt \
    "$tally" run benches/q1_scale.ec -w 2 --progress 0 2>/dev/null
  end=$(date +%s.%N)
  secs=$(echo "$end - $start" | bc -l)
  printf 'bench=q1_size rows=%s workers=2 seconds=%.3f events_per_s=%.0f peak_rss_kb=%s\n' \
    "$rows" "$secs" "$(echo "$rows / $secs" | bc -l)" "$(tail -1 benches/out/rss.txt)" | tee -a "$out"
done
rm -f benches/data/scale_events.txt benches/q1_scale.ec
# DURATION 0: the size steps alone.
[ "$duration" -gt 0 ] || exit 0

# The endless run: q5's query over the generator, rate-limited, printed to a changes CSV that
# is thrown away (the sink's cost is part of the run).
cat > benches/out/endless.ec <<JOB
[system]
sql=INSERT INTO dest SELECT appId, AGGRTIME, count(qq), count(qq ACCU), count(qq SW), countd(qq) \\
FROM src GROUP BY appId COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS \\
WITH ACCU INTERVAL 3600 SECONDS WITH SW INTERVAL 1800 SECONDS

[tabledesc-src]
table.name=src
table.type=generator
table.generator.workload=easycount
table.generator.rate=$rate

[tabledesc-dest]
table.name=dest
table.type=csv
table.csv.path=endless.csv
table.csv.mode=changes
JOB
"$tally" run benches/out/endless.ec -w 2 --progress 0 2>benches/out/endless.log &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f benches/out/endless.csv' EXIT
samples=()
for t in $(seq 10 10 "$duration"); do
  sleep 10
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  echo "bench=endless_rss t=$t rss_kb=$rss" | tee -a "$out"
  # Windows close after the first minute of event time (seconds of wall time at this rate).
  if [ "$t" -gt 60 ]; then samples+=("$rss"); fi
done
min=$(printf '%s\n' "${samples[@]}" | sort -g | head -1)
max=$(printf '%s\n' "${samples[@]}" | sort -g | tail -1)
drift=$(printf '%s\n' "${samples[@]}" | awk '{v[NR]=$1} END {h=int(NR/2); a=0; b=0;
  for (i=1;i<=h;i++) a+=v[i]; for (i=NR-h+1;i<=NR;i++) b+=v[i]; printf "%.3f", (b-a)/a}')
printf 'bench=endless_rss_summary seconds=%s rate=%s min_kb=%s max_kb=%s spread=%.3f drift=%s target<=0.10\n' \
  "$duration" "$rate" "$min" "$max" "$(echo "($max - $min) / $min" | bc -l)" "$drift" | tee -a "$out"
