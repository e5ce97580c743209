#!/usr/bin/env bash
# The benchmark suite of benchmarks.md on this machine: q1-q5 over a file of generated
# EasyCount events, q1 also over a CSV and a JSON-lines copy of that file (every input
# format), beside the baselines (q1 hand-written against timely/differential, and ingest only:
# parse and count), each the median of RUNS runs, one machine-readable line each:
#   bench=q1 rows=N workers=W seconds=S events_per_s=E peak_rss_kb=K
# then the ratios the targets are stated in, and a markdown table in benches/out/results.md.
# Usage: benches/run.sh [ROWS] [WORKERS] [RUNS]      (defaults: 2000000 2 3)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-2000000}
workers=${2:-2}
runs=${3:-3}
cargo build --release --quiet
cargo bench --quiet --bench baselines --no-run 2>/dev/null
mkdir -p benches/data benches/out
data=benches/data/events.txt
if [ ! -f "$data" ] || [ "$(wc -l < "$data")" -ne "$rows" ]; then
  ./target/release/tally generate --rows "$rows" --seed 42 -o "$data"
fi
# The same rows as CSV (commas) and as JSON lines, for q1 in every input format.
if [ "$data" -nt benches/data/events.csv ] || [ ! -f benches/data/events.csv ]; then
  tr ';' ',' < "$data" > benches/data/events.csv
fi
if [ "$data" -nt benches/data/events.json ] || [ ! -f benches/data/events.json ]; then
  awk -F';' '{printf "{\"appId\":\"%s\",\"qq\":\"%s\",\"dTime\":%s}\n", $1, $2, $3}' \
    "$data" > benches/data/events.json
fi
# q4's dimension: 100 apps in 10 categories.
for i in $(seq 0 99); do echo "app$i;cat$((i % 10))"; done > benches/data/apps.txt

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

results=()
# One tally query: median wall time of the process (start-up included) and its peak RSS.
tally_query() { # name workers
  local name=$1 w=$2 secs=() rss=()
  for _ in $(seq 1 "$runs"); do
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o benches/out/rss.txt \
      ./target/release/tally run "benches/$name.ec" -w "$w" --progress 0 2>/dev/null
    end=$(date +%s.%N)
    secs+=("$(echo "$end - $start" | bc -l)")
    rss+=("$(tail -1 benches/out/rss.txt)")
  done
  local s r
  s=$(printf '%s\n' "${secs[@]}" | median)
  r=$(printf '%s\n' "${rss[@]}" | sort -g | tail -1)
  line=$(printf 'bench=%s rows=%s workers=%s seconds=%.3f events_per_s=%.0f peak_rss_kb=%s' \
    "$name" "$rows" "$w" "$s" "$(echo "$rows / $s" | bc -l)" "$r")
  echo "$line"
  results+=("$line")
}

# q1 on a cluster of two processes on localhost, one worker each: wall time until both end.
tally_cluster() { # name
  local name=$1 secs=() rss=()
  for _ in $(seq 1 "$runs"); do
    local p0 p1 start end
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o benches/out/rss1.txt ./target/release/tally run "benches/$name.ec" \
      -w 1 -n 2 -p 1 --progress 0 >/dev/null 2>&1 &
    p1=$!
    /usr/bin/time -f "%M" -o benches/out/rss0.txt ./target/release/tally run "benches/$name.ec" \
      -w 1 -n 2 -p 0 --progress 0 >/dev/null 2>&1 &
    p0=$!
    wait "$p0" "$p1"
    end=$(date +%s.%N)
    secs+=("$(echo "$end - $start" | bc -l)")
    rss+=("$(( $(tail -1 benches/out/rss0.txt) + $(tail -1 benches/out/rss1.txt) ))")
  done
  local s r
  s=$(printf '%s\n' "${secs[@]}" | median)
  r=$(printf '%s\n' "${rss[@]}" | sort -g | tail -1)
  line=$(printf 'bench=%s_n2 rows=%s workers=2x1 seconds=%.3f events_per_s=%.0f peak_rss_kb=%s' \
    "$name" "$rows" "$s" "$(echo "$rows / $s" | bc -l)" "$r")
  echo "$line"
  results+=("$line")
}

# A baseline: median of the seconds it reports itself.
baseline() { # what workers
  local what=$1 w=$2 secs=() name=""
  for _ in $(seq 1 "$runs"); do
    local out
    out=$(cargo bench --quiet --bench baselines -- "$what" "$data" "$w" 2>/dev/null | grep '^bench=')
    name=$(echo "$out" | sed 's/^bench=\([^ ]*\).*/\1/')
    secs+=("$(echo "$out" | sed 's/.*seconds=\([0-9.]*\).*/\1/')")
  done
  local s
  s=$(printf '%s\n' "${secs[@]}" | median)
  line=$(printf 'bench=%s rows=%s workers=%s seconds=%.3f events_per_s=%.0f' \
    "$name" "$rows" "$w" "$s" "$(echo "$rows / $s" | bc -l)")
  echo "$line"
  results+=("$line")
}

rate() { echo "$1" | sed 's/.*events_per_s=\([0-9]*\).*/\1/'; }

tally_query q1 "$workers"; q1=${results[-1]}
tally_query q1 1
tally_cluster q1
tally_query q2 "$workers"
tally_query q3 "$workers"
tally_query q4 "$workers"
tally_query q5 "$workers"
tally_query q1_csv "$workers"; q1_csv=${results[-1]}
tally_query q1_json "$workers"; q1_json=${results[-1]}
baseline q1 "$workers"; hand=${results[-1]}
baseline ingest "$workers"; ingest=${results[-1]}

# Kafka -> tally -> Redis (needs Redis on 6379 and the tansu binary, which
# scripts/services.sh installs): the path's maximum rate (LATENCY_MAX_SECONDS of records sent as
# fast as the producer can), then the arrival-to-visible delay at half of it (or at
# LATENCY_RATE records/s) for 10 s. Each on a fresh broker: an in-memory tansu slows down as
# its topic grows, so the millions of records of the first would slow the second.
tansu="${CARGO_HOME:-$HOME/.cargo}/bin/tansu"
broker=""
start_broker() {
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$tansu" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ \
    >/dev/null 2>&1 &
  broker=$!
  sleep 2
  "$tansu" topic create latency --partitions 2 --broker "tcp://127.0.0.1:$port" >/dev/null
}
stop_broker() { kill "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true; }
latency_line=""
if [ -x "$tansu" ]; then
  cargo bench --quiet --bench latency --no-run 2>/dev/null
  start_broker
  max_line=$(cargo bench --quiet --bench latency -- "127.0.0.1:$port" latency max \
    "${LATENCY_MAX_SECONDS:-5}" 2>/dev/null | grep '^bench=' || true)
  stop_broker
  echo "$max_line"
  acked=$(echo "$max_line" | sed -n 's/.*acked_per_s=\([0-9]*\).*/\1/p')
  visible=$(echo "$max_line" | sed -n 's/.*visible_per_s=\([0-9]*\).*/\1/p')
  acked=${acked:-0}; visible=${visible:-0}
  half=$(( (acked < visible ? acked : visible) / 2 ))
  latency_rate=${LATENCY_RATE:-$half}
  if [ "${latency_rate:-0}" -gt 0 ]; then
    start_broker
    latency_line=$(cargo bench --quiet --bench latency -- "127.0.0.1:$port" latency \
      "$latency_rate" 10 2>/dev/null | grep '^bench=' || true)
    stop_broker
  fi
  echo "$latency_line"
  latency_line="$max_line; $latency_line"
else
  echo "bench=kafka_redis_latency skipped: $tansu is missing (scripts/services.sh installs it)"
fi

# Sinks beside the servers' own bulk rates.
sink_rows=${SINK_ROWS:-200000}
for what in redis mysql; do
  while read -r line; do
    echo "$line"
    results+=("$line")
  done < <(cargo bench --quiet --bench sinks -- "$what" "$sink_rows" 2>/dev/null | grep '^bench=')
done
if command -v redis-benchmark >/dev/null 2>&1; then
  rps=$(redis-benchmark -q -t hset -n "$sink_rows" -P 100 -r 1000000 2>/dev/null \
    | tr '\r' '\n' | grep -o 'HSET: [0-9.]*' | tail -1 | awk '{print $2}')
  line=$(printf 'bench=redis_benchmark_hset_pipelined rows=%s rows_per_s=%.0f' "$sink_rows" "$rps")
  echo "$line"
  results+=("$line")
fi

ratio_hand=$(echo "$(rate "$hand") / $(rate "$q1")" | bc -l)
ratio_ingest=$(echo "$(rate "$q1") / $(rate "$ingest")" | bc -l)
printf 'ratio=handwritten_over_tally_q1 value=%.2f target<=1.30\n' "$ratio_hand"
printf 'ratio=tally_q1_over_ingest value=%.2f target>=0.33\n' "$ratio_ingest"
ratio_csv=$(echo "$(rate "$q1") / $(rate "$q1_csv")" | bc -l)
ratio_json=$(echo "$(rate "$q1") / $(rate "$q1_json")" | bc -l)
printf 'ratio=q1_delimited_over_csv value=%.2f target<=1.30\n' "$ratio_csv"
printf 'ratio=q1_delimited_over_json value=%.2f\n' "$ratio_json"

# What watching costs: q1 with --http under 50 pollers and 10 change streams, against none,
# over 40M events (runs of about 10 s: see benches/http_load.sh).
./benches/http_load.sh 40000000 "$workers" "$runs"
http_loaded=$(grep 'mode=loaded' benches/out/http_load.txt || true)

{
  echo "# Benchmark results"
  echo
  echo "$(date -u +%Y-%m-%d) on $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{printf "%.0f GiB", $2/1048576}');"
  echo "\`benches/run.sh $rows $workers $runs\` (median of $runs runs; tally's time includes process start-up)."
  echo
  echo "| bench | workers | seconds | events/s (rows/s for sinks) | peak RSS (MB) |"
  echo "|---|---|---|---|---|"
  field() { echo "$1" | { grep -o "$2=[0-9.x]*" || true; } | head -1 | cut -d= -f2; }
  for l in "${results[@]}"; do
    name=$(echo "$l" | sed 's/^bench=\([^ ]*\).*/\1/')
    w=$(field "$l" workers); s=$(field "$l" seconds)
    e=$(field "$l" events_per_s); [ -n "$e" ] || e=$(field "$l" rows_per_s)
    k=$(field "$l" peak_rss_kb)
    mb=$([ -n "$k" ] && echo "$((k / 1024))" || echo "-")
    echo "| $name | ${w:--} | ${s:--} | ${e:--} | $mb |"
  done
  echo
  printf 'Hand-written differential q1 / tally q1: %.2f (target: tally within 1.3x).\n\n' "$ratio_hand"
  printf 'tally q1 / ingest only: %.2f (target: at least 1/3).\n\n' "$ratio_ingest"
  printf 'q1 over delimited text / over its CSV copy: %.2f (target: CSV within 1.3x).\n\n' "$ratio_csv"
  printf 'q1 over delimited text / over its JSON-lines copy: %.2f (no target).\n\n' "$ratio_json"
  echo "Kafka -> Redis: \`${latency_line:-not measured}\`"
  echo
  echo "q1 watched (\`--http\`, 50 clients polling /metrics each second, 10 change streams): \`${http_loaded:-not measured}\` (target: ratio at least 0.95)"
} > benches/out/results.md
echo "wrote benches/out/results.md"
