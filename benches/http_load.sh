#!/usr/bin/env bash
# What watching a job costs (issue 16's load check): q1 over ROWS generated events at WORKERS
# threads, medians of RUNS, in three modes that alternate run by run:
#   none    no --http;
#   idle    --http, nobody connected;
#   loaded  --http with 50 clients polling /metrics once a second and 10 holding the query's
#           change stream (benches/http_clients.py, started before the job and stopped after).
#           The clients run under SCHED_IDLE (`chrt --idle`): in production they run on
#           other machines, and here their Python would otherwise take the job's two cores.
#           What is measured is what serving them costs the job (whose HTTP thread runs at
#           nice 10, below its workers).
# Prints `bench=http_load ...` lines (seconds, events/s, ratio to none) and writes them to
# benches/out/http_load.txt. Target: loaded at least 0.95 of none.
set -euo pipefail
cd "$(dirname "$0")/.."
# 40M events by default: a run of about 10 s. In a 2 s run, the 60 clients connecting at once
# as the job starts and each stream's first snapshot weigh as much as the rest of the run.
rows=${1:-40000000}
workers=${2:-2}
runs=${3:-3}
cargo build --release --quiet
bin=./target/release/tally
mkdir -p benches/data benches/out
data=benches/data/events.txt
[ "$rows" != 10000000 ] && data=benches/data/events-$rows.txt
if [ ! -f "$data" ] || [ "$(wc -l < "$data")" -ne "$rows" ]; then
  $bin generate --rows "$rows" --seed 42 -o "$data"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=benches/out/http_load.txt
: > "$out"
say() { echo "$1" | tee -a "$out"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
sed -e "s#^table.file.path=data/events.txt#table.file.path=$PWD/$data#" \
    -e "s#^table.csv.path=out/#table.csv.path=$work/#" benches/q1.ec > "$work/q1.ec"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

run() { # mode; prints seconds
  local mode=$1 s e clients=
  local http=()
  [ "$mode" != none ] && http=(--http "127.0.0.1:$port")
  if [ "$mode" = loaded ]; then
    chrt --idle 0 python3 benches/http_clients.py "127.0.0.1:$port" dest 50 10 >> "$work/clients" &
    clients=$!
    sleep 1
  fi
  s=$(date +%s.%N)
  $bin run "$work/q1.ec" -w "$workers" --progress 0 "${http[@]}" 2>>"$work/log"
  e=$(date +%s.%N)
  if [ -n "$clients" ]; then kill -TERM "$clients"; wait "$clients" || true; fi
  echo "$e - $s" | bc -l
}

declare -A times=() secs=()
for mode in none idle loaded; do times[$mode]=""; done
for _ in $(seq "$runs"); do
  for mode in none idle loaded; do
    times[$mode]+="$(run $mode) "
  done
done
for mode in none idle loaded; do
  secs[$mode]=$(printf '%s\n' ${times[$mode]} | median)
done
for mode in none idle loaded; do
  s=${secs[$mode]}
  say "$(printf 'bench=http_load query=q1 mode=%s rows=%s workers=%s seconds=%.3f events_per_s=%.0f ratio=%.3f runs=%s' \
    "$mode" "$rows" "$workers" "$s" "$(echo "$rows / $s" | bc -l)" "$(echo "${secs[none]} / $s" | bc -l)" "${times[$mode]% }")"
done
say "clients: $(tr '\n' ' ' < "$work/clients")"
