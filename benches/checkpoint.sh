#!/usr/bin/env bash
# What checkpoints cost (issue 14's benchmarks), on ROWS generated events at WORKERS threads,
# medians of RUNS:
#   1. q1 and q2 with no checkpoints, with `execution.checkpointing.interval=10 s` and with 1 s:
#      seconds, events/s and the ratio to no checkpoints;
#   2. a whole-stream GROUP BY of ~1M keys, each with an exact distinct set: the size and time of
#      its final checkpoint, and the time to restore it (a run that resumes at the end);
#   3. the same keys followed, with checkpoints every 2 s: the whole checkpoint against the
#      incremental one after 1% of the rows are appended again;
#   4. an endless generator run (RATE events/s for SECONDS) with checkpoints every 10 s: RSS at a
#      third of the time and at the end, peak RSS, and the state directory's size at the end.
# Prints `bench=...` lines and writes them to benches/out/checkpoint.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-10000000}
workers=${2:-2}
runs=${3:-3}
endless_secs=${4:-60}
rate=${5:-200000}
cargo build --release --quiet
bin=./target/release/tally
mkdir -p benches/data benches/out
data=benches/data/events.txt
if [ ! -f "$data" ] || [ "$(wc -l < "$data")" -ne "$rows" ]; then
  $bin generate --rows "$rows" --seed 42 -o "$data"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=benches/out/checkpoint.txt
: > "$out"
say() { echo "$1" | tee -a "$out"; }

# A copy of a bench job (paths made absolute) with extra [system] lines.
job_with() {
  local src=$1 dst=$2 extra=$3
  sed -e "s#^table.file.path=data/#table.file.path=$PWD/benches/data/#" \
      -e "s#^table.csv.path=out/#table.csv.path=$work/#" \
      -e "s#^\[system\]#[system]\n$extra#" "$src" > "$dst"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

timed_run() { # job; prints seconds
  local s e
  s=$(date +%s.%N)
  $bin run "$1" -w "$workers" --progress 0 2>>"$work/log"
  e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}

# The three modes alternate run by run, so that a drift of the machine's speed over the minutes
# is spread over all of them.
for q in q1 q2; do
  declare -A secs=() times=()
  for mode in none 10s 1s; do
    case $mode in
      none) extra="" ;;
      10s) extra="execution.checkpointing.interval=10 s" ;;
      1s) extra="execution.checkpointing.interval=1 s" ;;
    esac
    job="$work/$q-$mode.ec"
    job_with "benches/$q.ec" "$job" "$extra"
    [ -n "$extra" ] && sed -i "s#^execution.checkpointing.interval=.*#&\nexecution.checkpointing.dir=$work/state-$q-$mode#" "$job"
    times[$mode]=""
  done
  for _ in $(seq "$runs"); do
    for mode in none 10s 1s; do
      rm -rf "$work/state-$q-$mode"
      times[$mode]+="$(timed_run "$work/$q-$mode.ec") "
    done
  done
  for mode in none 10s 1s; do
    secs[$mode]=$(printf '%s\n' ${times[$mode]} | median)
  done
  for mode in none 10s 1s; do
    s=${secs[$mode]}
    say "$(printf 'bench=checkpoint query=%s interval=%s rows=%s workers=%s seconds=%.3f events_per_s=%.0f ratio=%.3f runs=%s' \
      "$q" "$mode" "$rows" "$workers" "$s" "$(echo "$rows / $s" | bc -l)" "$(echo "${secs[none]} / $s" | bc -l)" "${times[$mode]% }")"
  done
  unset secs times
done

# ~1M keys (app and user), each with an exact distinct set of event times: the first 1.2M
# events hold about that many app:user pairs (all ROWS would give several times more).
head -n 1200000 "$data" > "$work/keys.txt"
keys_job="$work/keys.ec"
cat > "$keys_job" <<EOF
[system]
sql=INSERT INTO dest SELECT concat(appId, ':', qq), count(1), countd(dTime) FROM src GROUP BY concat(appId, ':', qq)
execution.checkpointing.interval=1 h
execution.checkpointing.dir=$work/state-keys

[tabledesc-src]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=file
table.file.path=$work/keys.txt
table.field.splitter=;

[tabledesc-dest]
table.name=dest
table.fields=k,string,:pv,bigint,:distinct_times,bigint,
table.type=csv
table.csv.path=$work/keys.csv
EOF
rm -rf "$work/state-keys"
: > "$work/log"
timed_run "$keys_job" > /dev/null
line=$(grep "checkpoint complete" "$work/log" | tail -1)
bytes=$(echo "$line" | sed -n 's/.*bytes=\([0-9]*\).*/\1/p')
ms=$(echo "$line" | sed -n 's/.*ms=\([0-9]*\).*/\1/p')
keys=$(($(wc -l < "$work/keys.csv") - 1))
restore=$(timed_run "$keys_job")
say "$(printf 'bench=checkpoint_state keys=%s checkpoint_bytes=%s checkpoint_ms=%s restore_run_seconds=%.3f' \
  "$keys" "$bytes" "$ms" "$restore")"

# Incremental checkpoints: the same keys, the file followed, a checkpoint every 2 s. Once the
# load's checkpoints are in, 1% of the rows are appended again (changing about 1% of the keys):
# the checkpoint after holds only those keys. Reported: the largest whole checkpoint and the
# incremental one after the append (bytes; stall_ms = how long serializing stopped a worker).
cp "$work/keys.txt" "$work/inc.txt"
inc_job="$work/inc.ec"
sed -e "s#^table.file.path=.*#table.file.path=$work/inc.txt\ntable.file.follow=true#" \
    -e "s#^execution.checkpointing.interval=.*#execution.checkpointing.interval=2 s#" \
    -e "s#^execution.checkpointing.dir=.*#execution.checkpointing.dir=$work/state-inc#" \
    -e "s#^table.csv.path=.*#table.csv.path=$work/inc.csv#" "$keys_job" > "$inc_job"
: > "$work/inc.log"
$bin run "$inc_job" -w "$workers" --progress 0 2>"$work/inc.log" &
inc_pid=$!
completed() { grep -c "checkpoint complete" "$work/inc.log" || true; }
for _ in $(seq 120); do [ "$(completed)" -ge 4 ] && break; sleep 1; done
loaded=$(completed)
head -n 12000 "$work/keys.txt" >> "$work/inc.txt"
for _ in $(seq 60); do [ "$(completed)" -ge $((loaded + 2)) ] && break; sleep 1; done
kill -TERM "$inc_pid"; wait "$inc_pid" || true
field() { sed -n "s/.*$1=\([0-9a-z]*\).*/\1/p"; }
whole=$(grep "checkpoint complete" "$work/inc.log" | grep "incremental=false" | sort -t= -k1 | \
  awk '{for(i=1;i<=NF;i++) if ($i ~ /^bytes=/) {split($i,a,"="); if (a[2]>m) {m=a[2]; l=$0}}} END {print l}')
inc=$(grep "checkpoint complete" "$work/inc.log" | tail -n +$((loaded + 1)) | grep "incremental=true" | \
  awk '{for(i=1;i<=NF;i++) if ($i ~ /^bytes=/) {split($i,a,"="); if (a[2]>=m) {m=a[2]; l=$0}}} END {print l}')
say "$(printf 'bench=checkpoint_incremental keys=%s whole_bytes=%s whole_stall_ms=%s changed_rows=12000 incremental_bytes=%s incremental_stall_ms=%s' \
  "$keys" "$(echo "$whole" | field bytes)" "$(echo "$whole" | field stall_ms)" \
  "$(echo "$inc" | field bytes)" "$(echo "$inc" | field stall_ms)")"

# An endless run with checkpoints every 10 s.
endless="$work/endless.ec"
sed -e "s#^table.generator.rows=.*#table.generator.rate=$rate#" \
    -e "s#^table.csv.path=.*#table.csv.path=$work/endless.csv#" \
    -e "s#^execution.checkpointing.interval=.*#execution.checkpointing.interval=10 s#" \
    -e "s#^execution.checkpointing.dir=.*#execution.checkpointing.dir=$work/state-endless#" \
    examples/checkpointed.ec > "$endless"
$bin run "$endless" -w "$workers" --progress 0 2>>"$work/log" &
endless_pid=$!
rss() { awk '/^'"$1"':/ {print $2}' "/proc/$endless_pid/status"; }
sleep $((endless_secs / 3))
rss_early=$(rss VmRSS)
sleep $((endless_secs - endless_secs / 3))
rss_late=$(rss VmRSS)
peak=$(rss VmHWM)
# SIGTERM: a last checkpoint, then the process exits.
kill -TERM "$endless_pid"; wait "$endless_pid" || true
state_kb=$(du -sk "$work/state-endless" | cut -f1)
say "$(printf 'bench=checkpoint_endless seconds=%s rate=%s rss_kb_at_%ss=%s rss_kb_at_%ss=%s peak_rss_kb=%s state_dir_kb=%s' \
  "$endless_secs" "$rate" $((endless_secs / 3)) "$rss_early" "$endless_secs" "$rss_late" "$peak" "$state_kb")"
