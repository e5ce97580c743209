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

# Benchmark q1 (count + exact countd per app per minute) from a file of generated events.
bench rows="2000000" workers="2":
    ./benches/q1.sh {{rows}} {{workers}}
