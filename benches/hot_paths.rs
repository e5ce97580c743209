//! Criterion micro benchmarks of the per-row hot paths: record parsing, expression evaluation,
//! window assignment with the aggregate's accumulators, and sink encoding.
//! `cargo bench --bench hot_paths`; under `cargo test` each runs once as a smoke test.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use tally_connectors::format::RecordParser;
use tally_connectors::{Change, Metrics};
use tally_engine::accum::Acc;
use tally_engine::render::sink::Table;
use tally_sql::catalog::{easycount_schema, Format};
use tally_sql::plan::{AggregatePlan, Node, Plan};
use tally_sql::{Row, Value};

/// Plans a job over the EasyCount schema (from a file that is never read).
fn plan(sql: &str) -> Plan {
    let dir = std::env::temp_dir().join(format!("tally-hot-paths-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let job = dir.join("job.ec");
    std::fs::write(
        &job,
        format!(
            "[system]\nsql={sql}\n[tabledesc-src]\ntable.name=src\n\
             table.fields=appId,string,:qq,string,:dTime,bigint,\ntable.type=file\n\
             table.file.path=events.txt\ntable.field.splitter=;\n\
             [tabledesc-out]\ntable.name=out\ntable.type=stdout\n"
        ),
    )
    .unwrap();
    let job = tally_sql::job::Job::load(&job).unwrap();
    let plan = tally_sql::planner::plan(&job).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    plan
}

fn aggregate(plan: &Plan) -> &AggregatePlan {
    plan.nodes
        .iter()
        .find_map(|n| match &n.node {
            Node::Aggregate(a) => Some(a),
            _ => None,
        })
        .expect("an aggregate")
}

fn event(i: i64) -> Row {
    vec![
        Value::str(&format!("app{}", i % 100)),
        Value::str(&(i * 7919 % 200_000).to_string()),
        Value::Int(1_700_000_000_000 + i * 10),
    ]
}

fn parsing(c: &mut Criterion) {
    let parser = RecordParser::new(
        "src",
        Format::Delimited {
            splitter: ";".into(),
            nested: Default::default(),
        },
        easycount_schema(),
        Arc::new(Metrics::default()),
    );
    let json = RecordParser::new(
        "src",
        Format::Json,
        easycount_schema(),
        Arc::new(Metrics::default()),
    );
    let csv = RecordParser::new(
        "src",
        Format::Csv {
            nested: Default::default(),
            delimiter: b',',
        },
        easycount_schema(),
        Arc::new(Metrics::default()),
    );
    let mut out = Vec::with_capacity(1);
    c.bench_function("parse delimited record", |b| {
        b.iter(|| {
            parser.parse_into(black_box("app17;183211;1700000012345"), &mut out);
            out.clear();
        })
    });
    // Without quotes (split at commas) and quoted (csv-core).
    c.bench_function("parse csv record", |b| {
        b.iter(|| {
            csv.parse_into(black_box("app17,183211,1700000012345"), &mut out);
            out.clear();
        })
    });
    c.bench_function("parse quoted csv record", |b| {
        b.iter(|| {
            csv.parse_into(black_box(r#""app17","183211",1700000012345"#), &mut out);
            out.clear();
        })
    });
    c.bench_function("parse json record", |b| {
        b.iter(|| {
            json.parse_into(
                black_box(r#"{"appId":"app17","qq":"183211","dTime":1700000012345}"#),
                &mut out,
            );
            out.clear();
        })
    });
}

fn expressions(c: &mut Criterion) {
    let p = plan(
        "INSERT INTO out SELECT from_unixtime(dTime DIV 1000, 'yyyy-MM-dd HH:mm'), \
         concat(appId, '-', qq), CASE WHEN dTime % 2 = 0 THEN 1 ELSE 0 END FROM src",
    );
    let exprs = p
        .nodes
        .iter()
        .find_map(|n| match &n.node {
            Node::Map { exprs, .. } => Some(exprs.clone()),
            _ => None,
        })
        .expect("a projection");
    let row = event(42);
    for (name, e) in ["from_unixtime", "concat", "case"].iter().zip(&exprs) {
        c.bench_function(&format!("eval {name}"), |b| {
            b.iter(|| black_box(e.eval(black_box(&row))))
        });
    }
}

fn windows(c: &mut Criterion) {
    let p = plan(
        "INSERT INTO out SELECT appId, AGGRTIME, count(qq), countd(qq) FROM src GROUP BY appId \
         COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS",
    );
    let agg = aggregate(&p);
    let window = agg.window.as_ref().expect("a window");
    let size = window.size_ms as i64;
    let rows: Vec<Row> = (0..1024).map(event).collect();
    c.bench_function("window assignment + count + countd (1024 rows)", |b| {
        b.iter(|| {
            let mut accs: Vec<Acc> = agg.aggs.iter().map(Acc::new).collect();
            for row in &rows {
                let Value::Int(t) = window.time.eval(row) else {
                    unreachable!("dTime is a BIGINT")
                };
                black_box(t.div_euclid(size) * size);
                for acc in &mut accs {
                    acc.update(&row[1], 1);
                }
            }
            black_box(accs.len())
        })
    });
}

fn sinks(c: &mut Criterion) {
    let schema = tally_sql::Schema::new(vec![
        tally_sql::Field {
            name: "appId".into(),
            ty: tally_sql::DataType::String,
        },
        tally_sql::Field {
            name: "n".into(),
            ty: tally_sql::DataType::Int,
        },
    ]);
    let row = vec![Value::str("app17"), Value::Int(12345)];
    c.bench_function("sink json encoding", |b| {
        b.iter(|| {
            black_box(tally_connectors::json_object(
                &schema,
                black_box(&row),
                &[0, 1],
            ))
        })
    });
    c.bench_function("sink table: 1024 upserts, then the changes", |b| {
        b.iter(|| {
            let mut t = Table::new(Some(vec![0]), None);
            let updates: Vec<(Row, i64)> = (0..1024)
                .map(|i| (vec![Value::str(&format!("k{}", i % 256)), Value::Int(i)], 1))
                .collect();
            t.apply(updates);
            let changes: Vec<Change> = t.take_changes();
            black_box(changes.len())
        })
    });
}

criterion_group!(benches, parsing, expressions, windows, sinks);
criterion_main!(benches);
