//! The `tally` binary: exit codes and output of `check`, `explain`, `run` and `generate`.

use std::path::Path;
use std::process::Command;

fn tally(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the tally binary runs")
}

#[test]
fn every_example_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("ec" | "sql")
        ) {
            let out = tally(&["check", path.to_str().unwrap()]);
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            n += 1;
        }
    }
    assert!(n >= 7, "found {n} examples");
}

#[test]
fn check_fails_with_a_position() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("bad.ec");
    std::fs::write(
        &job,
        "[system]\nsql=SELECT nosuch FROM src\n[tabledesc-1]\ntable.name=src\n\
         table.type=generator\n",
    )
    .unwrap();
    let out = tally(&["check", job.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.ec:2:12: error: unknown column `nosuch`"),
        "{err}"
    );
    // `run` refuses the same job before anything runs.
    let out = tally(&["run", job.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn explain_prints_the_plan_and_the_dataflow() {
    let out = tally(&["explain", "examples/easycount.ec"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("== logical plan =="), "{text}");
    assert!(text.contains("window tumbling 60000 ms"), "{text}");
    assert!(text.contains("== dataflow =="), "{text}");
    assert!(text.contains("exchange by hash of the group key"), "{text}");
}

#[test]
fn run_prints_a_change_log_and_ends() {
    let out = tally(&["run", "examples/count.ec", "--progress", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "stdout: +I[10]\n");
    let out = tally(&["run", "examples/easycount.ec", "-w", "2", "--progress", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // 200,000 events over ~33 minutes of event time: one final row per app per minute.
    let rows = text.lines().filter(|l| l.starts_with("dest: +I[")).count();
    assert!(rows > 1000, "{rows} rows");
    assert!(!text.contains("-D["), "closing a window is not a delete");
}

#[test]
fn generate_writes_the_workload() {
    let out = tally(&["generate", "--rows", "5", "--seed", "1"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 5);
    for line in text.lines() {
        let fields: Vec<&str> = line.split(';').collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert!(fields[0].starts_with("app"));
        assert!(fields[2].parse::<i64>().is_ok());
    }
}
