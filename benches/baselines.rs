//! The baselines of benchmarks.md, run beside tally by `benches/run.sh`:
//!
//! - `ingest FILE WORKERS`: the ceiling the source sets. Each worker reads its chunks of the
//!   file (chunk `c` of 8192 lines to worker `c % WORKERS`, as tally's file source deals them)
//!   and parses every line with tally's own record parser into typed rows, then counts them.
//!   No dataflow.
//! - `q1 FILE WORKERS`: q1 (count and exact distinct users per app per minute) written by hand
//!   directly against timely and differential dataflow, with the same parsing. It is meant as
//!   the engine's ceiling, not a straw man: compact keys (an app and a user each as the 64-bit
//!   FxHash of its id, a window as a `u64` minute), one epoch per
//!   chunk as tally does, a single `reduce` over one arrangement of `((app, minute), user)`
//!   (its distinct users and the sum of their multiplicities give both aggregates), and the
//!   same few epochs of pipelining before waiting for the probe. It keeps every window (no
//!   lateness, nothing freed), which only helps it on these inputs.
//!
//! Each prints one line: `bench=... rows=... workers=... seconds=... events_per_s=...`.
//! `cargo bench --bench baselines -- q1 benches/data/events.txt 2`. Under `cargo test` (no
//! `--bench` argument) both run on a small generated file and must agree with a direct count.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use differential_dataflow::input::InputSession;
use tally_connectors::format::RecordParser;
use tally_connectors::Metrics;
use tally_sql::catalog::{easycount_schema, Format};
use tally_sql::{Row, Value};
use timely::dataflow::operators::probe::Handle as ProbeHandle;

const CHUNK: usize = 8192;

fn parser() -> RecordParser {
    RecordParser::new(
        "src",
        Format::Delimited {
            splitter: ";".into(),
            nested: Default::default(),
        },
        easycount_schema(),
        Arc::new(Metrics::default()),
    )
}

/// The lines of `path` in chunks, the ones worker `index` of `peers` reads.
fn my_chunks(text: &str, index: usize, peers: usize) -> Vec<Vec<&str>> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(CHUNK)
        .enumerate()
        .filter(|(c, _)| c % peers == index)
        .map(|(_, c)| c.to_vec())
        .collect()
}

fn ingest(path: &Path, workers: usize) -> u64 {
    let text = std::fs::read_to_string(path).expect("the events file");
    let text = &text;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|i| {
                s.spawn(move || {
                    let parser = parser();
                    let mut rows: Vec<Row> = Vec::with_capacity(CHUNK);
                    let mut n = 0u64;
                    for chunk in my_chunks(text, i, workers) {
                        for line in chunk {
                            parser.parse_into(line, &mut rows);
                        }
                        n += rows.len() as u64;
                        rows.clear();
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

fn value_hash(v: &Value) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    v.hash(&mut h);
    h.finish()
}

/// Returns (sum of counts, sum of distinct counts) over all (app, minute) groups.
fn q1(path: &Path, workers: usize) -> (u64, u64) {
    let text = Arc::new(std::fs::read_to_string(path).expect("the events file"));
    let totals = Arc::new(Mutex::new((0u64, 0u64)));
    let (t2, text2) = (totals.clone(), text.clone());
    let config = if workers > 1 {
        timely::Config::process(workers)
    } else {
        timely::Config::thread()
    };
    timely::execute(config, move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        let mut input: InputSession<u64, (u64, u64, u64), isize> = InputSession::new();
        let results = std::rc::Rc::new(std::cell::Cell::new((0u64, 0u64)));
        let r1 = results.clone();
        let probe: ProbeHandle<u64> = worker.dataflow(|scope| {
            // One arrangement of ((app, minute), user) with multiplicities: a key's values are
            // its distinct users, their multiplicities sum to its events.
            input
                .to_collection(scope)
                .map(|(app, minute, user)| ((app, minute), user))
                .reduce(|_key, users, out| {
                    let pv: isize = users.iter().map(|(_, n)| *n).sum();
                    out.push(((pv as u64, users.len() as u64), 1isize));
                })
                .inspect(move |((_, (pv, uv)), _, d)| {
                    let (p, u) = r1.get();
                    let d = *d as i64;
                    r1.set((
                        p.wrapping_add((*pv as i64 * d) as u64),
                        u.wrapping_add((*uv as i64 * d) as u64),
                    ));
                })
                .probe()
                .0
        });
        let parser = parser();
        let mut rows: Vec<Row> = Vec::with_capacity(CHUNK);
        let max_ahead = 4 * peers as u64;
        let all: Vec<Vec<&str>> = text2
            .lines()
            .collect::<Vec<_>>()
            .chunks(CHUNK)
            .map(|c| c.to_vec())
            .collect();
        for (c, chunk) in all.iter().enumerate() {
            let epoch = c as u64;
            if c % peers == index {
                input.advance_to(epoch);
                for line in chunk {
                    parser.parse_into(line, &mut rows);
                }
                for row in rows.drain(..) {
                    let app = value_hash(&row[0]);
                    let minute = row[2].to_i64().unwrap_or(0).div_euclid(60_000) as u64;
                    input.insert((app, minute, value_hash(&row[1])));
                }
            }
            input.advance_to(epoch + 1);
            input.flush();
            worker.step();
            while probe.less_than(&(epoch + 1).saturating_sub(max_ahead)) {
                worker.step();
            }
        }
        input.close();
        while worker.step() {}
        let r = results.get();
        let mut t = t2.lock().unwrap();
        t.0 += r.0;
        t.1 += r.1;
    })
    .expect("timely runs");
    let t = *totals.lock().unwrap();
    t
}

fn report(name: &str, rows: u64, workers: usize, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!(
        "bench={name} rows={rows} workers={workers} seconds={secs:.3} events_per_s={:.0}",
        rows as f64 / secs.max(1e-9)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        smoke();
        return;
    }
    let args: Vec<&String> = args.iter().filter(|a| *a != "--bench").collect();
    let (what, file, workers) = match args.as_slice() {
        [w, f, n] => (w.as_str(), PathBuf::from(f), n.parse().expect("WORKERS")),
        [w, f] => (w.as_str(), PathBuf::from(f), 1),
        _ => {
            eprintln!("usage: baselines ingest|q1 FILE [WORKERS]");
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    match what {
        "ingest" => {
            let n = ingest(&file, workers);
            report("ingest", n, workers, start);
        }
        "q1" => {
            let rows = std::fs::read_to_string(&file).unwrap().lines().count() as u64;
            let start = Instant::now();
            let (pv, _) = q1(&file, workers);
            assert_eq!(pv, rows, "every event counted once");
            report("q1_handwritten_differential", rows, workers, start);
        }
        other => {
            eprintln!("unknown baseline {other}: ingest or q1");
            std::process::exit(2);
        }
    }
}

/// Both baselines on 20,000 generated events, checked against a direct count.
fn smoke() {
    let dir = std::env::temp_dir().join(format!("tally-baselines-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("events.txt");
    let mut text = String::new();
    let mut expected: HashMap<(String, i64), (u64, std::collections::HashSet<String>)> =
        HashMap::new();
    for i in 0..20_000i64 {
        let (app, user, t) = (format!("app{}", i % 7), format!("u{}", i % 301), i * 37);
        text.push_str(&format!("{app};{user};{t}\n"));
        let e = expected.entry((app, t.div_euclid(60_000))).or_default();
        e.0 += 1;
        e.1.insert(user);
    }
    std::fs::write(&file, text).unwrap();
    assert_eq!(ingest(&file, 2), 20_000);
    let pv: u64 = expected.values().map(|e| e.0).sum();
    let uv: u64 = expected.values().map(|e| e.1.len() as u64).sum();
    assert_eq!(q1(&file, 1), (pv, uv));
    assert_eq!(q1(&file, 2), (pv, uv));
    std::fs::remove_dir_all(&dir).unwrap();
    println!("baselines: smoke test passed");
}
