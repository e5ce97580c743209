# tally's everyday commands. `just` lists them.

# List the recipes.
default:
    @just --list

# Run a job (default: the main example on the built-in generator) in release mode.
run job="examples/easycount.ec" *args="":
    cargo run --release -- run {{job}} {{args}}

# Run the whole test suite (the README's test command).
test:
    ./scripts/test.sh

# Formatting and lints, as CI expects them.
check:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# The benchmark suite: q1-q5 and the baselines over a file of generated events, q1 also over its
# CSV and JSON-lines copies
# (medians of `runs` runs; a markdown table in benches/out/results.md).
bench rows="2000000" workers="2" runs="3":
    ./benches/run.sh {{rows}} {{workers}} {{runs}}

# The Nexmark queries of examples/nexmark on a bounded nexmark table (medians of `runs` runs;
# a markdown table in benches/out/nexmark.md).
bench-nexmark events="10000000" workers="2" runs="3":
    ./benches/nexmark.sh {{events}} {{workers}} {{runs}}

# q1 alone, one run.
bench-q1 rows="2000000" workers="2":
    ./benches/q1.sh {{rows}} {{workers}}

# Scale runs: q1 at 1M/10M/100M events and an endless run with RSS sampled every 10 s
# (lines in benches/out/scale.txt).
bench-scale steps="1000000 10000000 100000000" duration="300" rate="200000":
    ./benches/scale.sh "{{steps}}" {{duration}} {{rate}}

# Run one example pipeline with what it needs (a broker, its topic and a sample input for the
# Kafka examples; the servers of scripts/services.sh): `just example kafka_pv_uv_redis`.
example name *args="":
    ./scripts/example.sh {{name}} {{args}}

# Rewrite the expected `tally explain` output (tests/explain/*.explain) from the current build;
# review the diff before committing.
bless:
    TALLY_BLESS=1 cargo test --test explain

# What checkpoints cost: q1/q2 with checkpoints every 10 s and 1 s against none, the size and
# time of a checkpoint of ~1M keys with exact distinct sets and its restore, and an endless
# run's RSS and state directory (lines in benches/out/checkpoint.txt).
bench-checkpoint rows="10000000" workers="2" runs="3":
    ./benches/checkpoint.sh {{rows}} {{workers}} {{runs}}

# What watching a job costs: q1 with no --http, with --http and nobody connected, and with 50
# clients polling /metrics every second and 10 holding a change stream (benches/out/http_load.txt).
bench-http rows="40000000" workers="2" runs="5":
    ./benches/http_load.sh {{rows}} {{workers}} {{runs}}
