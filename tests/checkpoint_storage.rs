//! Checkpoint storage that fails: a checkpoint that cannot be written is logged and counted and
//! the job goes on, until more fail in a row than `tolerable-failed-checkpoints` allows; then
//! the job stops with the error. Also the listing of `tally checkpoints` and the refusal of a
//! job that does not checkpoint.

mod common;

use std::path::Path;

use common::{csv_rows, ok, tally};

/// A bounded job counting the generator's events per app into a CSV table, checkpointing
/// under `state` (relative to the job file) every `interval`.
fn job(dir: &Path, interval: &str, tolerable: u32) -> String {
    let text = format!(
        "[system]\nsql=INSERT INTO dest SELECT appId, count(qq) FROM src GROUP BY appId\n\
         execution.checkpointing.interval={interval}\nexecution.checkpointing.dir=state\n\
         execution.checkpointing.tolerable-failed-checkpoints={tolerable}\n\
         [tabledesc-1]\ntable.name=src\ntable.fields=appId,string,:qq,string,:dTime,bigint,\n\
         table.type=generator\ntable.generator.rows=30000\ntable.generator.seed=7\n\
         [tabledesc-2]\ntable.name=dest\ntable.fields=appId,string,:pv,bigint,\n\
         table.type=csv\ntable.csv.path=out.csv\n"
    );
    std::fs::write(dir.join("job.ec"), text).unwrap();
    "job.ec".into()
}

/// The same counts with no checkpoints at all.
fn expected(dir: &Path) -> Vec<String> {
    let plain = dir.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let text = std::fs::read_to_string(dir.join("job.ec")).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("execution."))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(plain.join("job.ec"), text).unwrap();
    ok(&tally(&["run", "job.ec", "--progress", "0"], &plain));
    csv_rows(&plain.join("out.csv"))
}

#[test]
fn a_checkpoint_that_cannot_be_written_stops_the_job_past_the_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let name = job(dir.path(), "1 ms", 0);
    // The checkpoint directory's place is taken by a file: no checkpoint can be written.
    std::fs::write(dir.path().join("state"), "not a directory").unwrap();
    let out = tally(&["run", &name, "-w", "2", "--progress", "0"], dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let job_dir =
        tally_engine::checkpoint::job_dir(&dir.path().join("state"), &dir.path().join(&name));
    let last = err.lines().last().unwrap();
    let part = |w: usize| {
        format!(
            "worker {w}: {}: Not a directory (os error 20)",
            job_dir.join("chk-000001").display()
        )
    };
    assert_eq!(
        last,
        format!(
            "error: 1 checkpoints failed in a row \
             (execution.checkpointing.tolerable-failed-checkpoints is 0); the last: {}; {}",
            part(0),
            part(1)
        ),
        "{err}"
    );
    assert!(
        err.contains("checkpoint 1 failed"),
        "the failure is logged: {err}"
    );
}

#[test]
fn failed_checkpoints_within_the_tolerance_leave_the_results_exact() {
    let dir = tempfile::tempdir().unwrap();
    let name = job(dir.path(), "10 min", 3);
    std::fs::write(dir.path().join("state"), "not a directory").unwrap();
    // Only the final checkpoint is taken (the interval is long): it fails, is logged, and the
    // job still ends well with every row written.
    let err = ok(&tally(&["run", &name, "--progress", "0"], dir.path()));
    assert!(
        err.contains("checkpoint 1 failed") && err.contains("(1 failed in a row, 3 tolerated)"),
        "{err}"
    );
    assert_eq!(csv_rows(&dir.path().join("out.csv")), expected(dir.path()));
}

#[test]
fn checkpoints_are_listed_and_a_finished_job_runs_again_to_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    let name = job(dir.path(), "10 min", 3);
    ok(&tally(
        &["run", &name, "-w", "2", "--progress", "0"],
        dir.path(),
    ));
    let want = expected(dir.path());
    assert_eq!(csv_rows(&dir.path().join("out.csv")), want);
    let job_dir =
        tally_engine::checkpoint::job_dir(&dir.path().join("state"), &dir.path().join(&name));
    let listing = tally(&["checkpoints", &name], dir.path());
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines[0], format!("checkpoints under {}", job_dir.display()));
    // One checkpoint, at the end of the input: 30000 rows in 8192-row blocks are epochs 0-3.
    assert_eq!(lines.len(), 3, "{listing}");
    assert!(
        lines[1].starts_with("chk-000001  epoch 4 (end of input)  ")
            && lines[1].ends_with("  2 workers"),
        "{listing}"
    );
    assert_eq!(
        lines[2],
        "  source 0: at the checkpoint's epoch; at the checkpoint's epoch"
    );
    // Run again: it resumes at the end, reads nothing, and leaves the same table.
    std::fs::remove_file(dir.path().join("out.csv")).unwrap();
    let err = ok(&tally(&["run", &name, "--progress", "0"], dir.path()));
    assert!(err.contains("resuming from checkpoint"), "{err}");
    assert!(err.contains("rows_in=0"), "{err}");
    assert_eq!(csv_rows(&dir.path().join("out.csv")), want);
    // Its own final checkpoint stands where the first one did (it fed nothing more), so a
    // third run reads nothing either.
    let listing = tally(&["checkpoints", &name], dir.path());
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let second = listing
        .lines()
        .find(|l| l.starts_with("chk-000002"))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(
        second.starts_with("chk-000002  epoch 4 (end of input)  "),
        "{listing}"
    );
    std::fs::remove_file(dir.path().join("out.csv")).unwrap();
    let err = ok(&tally(&["run", &name, "--progress", "0"], dir.path()));
    assert!(err.contains("rows_in=0"), "{err}");
    assert_eq!(csv_rows(&dir.path().join("out.csv")), want);
}

#[test]
fn a_job_without_checkpoints_has_none_to_list_or_resume() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[system]\nsql=INSERT INTO dest SELECT appId FROM src\n[tabledesc-1]\n\
                table.name=src\ntable.fields=appId,string,:qq,string,:dTime,bigint,\n\
                table.type=generator\ntable.generator.rows=1\n[tabledesc-2]\n\
                table.name=dest\ntable.fields=appId,string,\ntable.type=stdout\n";
    std::fs::write(dir.path().join("j.ec"), text).unwrap();
    let out = tally(&["checkpoints", "j.ec"], dir.path());
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "error: j.ec does not checkpoint: set `execution.checkpointing.interval` or \
         `execution.checkpointing.dir` in the job, or give --state-dir"
    );
    let out = tally(&["run", "j.ec", "--from-scratch"], dir.path());
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "error: j.ec does not checkpoint, so there is no state to resume or start over: set \
         `execution.checkpointing.interval` in the job, or give --state-dir"
    );
}
