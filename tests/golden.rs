//! Golden jobs: every folder under `tests/golden/` holds a job (`job.ec` or `job.sql`), its
//! input files, and `expected/*.csv`: the CSV files the job must leave in `out/` once its input
//! has ended. Each job runs at -w 1 and at -w 2 in a scratch copy of its folder.

use std::path::{Path, PathBuf};

use tally_engine::{run, RunOptions};
use tally_sql::job::Job;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn job_file(dir: &Path) -> PathBuf {
    ["job.ec", "job.sql"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{} has no job.ec or job.sql", dir.display()))
}

fn run_golden(dir: &Path, workers: usize) -> Result<(), String> {
    let scratch = tempfile::tempdir().unwrap();
    copy_dir(dir, scratch.path());
    let job = Job::load(&job_file(scratch.path())).map_err(|e| e.to_string())?;
    let plan = tally_sql::planner::plan(&job).map_err(|e| e.to_string())?;
    let opts = RunOptions {
        workers,
        progress_every: None,
        ..RunOptions::default()
    };
    run(plan, opts).map_err(|e| format!("{e:#}"))?;
    let expected_dir = dir.join("expected");
    let mut compared = 0;
    for entry in
        std::fs::read_dir(&expected_dir).map_err(|e| format!("{}: {e}", expected_dir.display()))?
    {
        let entry = entry.unwrap();
        let want = std::fs::read_to_string(entry.path()).unwrap();
        let out = scratch.path().join("out").join(entry.file_name());
        let got = std::fs::read_to_string(&out)
            .map_err(|e| format!("the job wrote no {}: {e}", out.display()))?;
        if got != want {
            return Err(format!(
                "{} differs at -w {workers}\n--- expected\n{want}--- got\n{got}",
                entry.file_name().to_string_lossy()
            ));
        }
        compared += 1;
    }
    if compared == 0 {
        return Err("expected/ is empty".into());
    }
    Ok(())
}

#[test]
fn golden_jobs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no golden jobs in {}", root.display());
    let mut failures = Vec::new();
    for dir in &dirs {
        for workers in [1, 2] {
            if let Err(e) = run_golden(dir, workers) {
                failures.push(format!("{}: {e}", dir.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden job run(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    println!("{} golden jobs passed at -w 1 and -w 2", dirs.len());
}
