//! Golden `tally explain` output: every `tests/explain/NAME.ec` must explain exactly as
//! `tests/explain/NAME.explain` says (the bound query, the dataflow plan and the operators).
//! The binary runs in `tests/explain/`, so relative paths print the same everywhere.
//!
//! After a deliberate change, `TALLY_BLESS=1 cargo test --test explain` (or `just bless`)
//! rewrites the expected files from the current output; review their diff before committing.
//! Without it a difference fails, showing the lines that differ.

use std::path::{Path, PathBuf};

fn explain(dir: &Path, job: &Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("explain")
        .arg(job.file_name().unwrap())
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tally explain {} failed: {}",
        job.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The lines of `want` and `got` that differ, as `-` (expected) and `+` (got), with two lines
/// of context around each run of changes (a longest-common-subsequence diff: the files are
/// small).
fn diff(want: &str, got: &str) -> String {
    let a: Vec<&str> = want.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut lines: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            lines.push(('-', a[i]));
            i += 1;
        } else {
            lines.push(('+', b[j]));
            j += 1;
        }
    }
    let near = |k: usize| {
        lines[k.saturating_sub(2)..(k + 3).min(lines.len())]
            .iter()
            .any(|(c, _)| *c != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (c, line)) in lines.iter().enumerate() {
        if near(k) {
            if skipped {
                out.push_str("  ...\n");
                skipped = false;
            }
            out.push_str(&format!("{c} {line}\n"));
        } else {
            skipped = true;
        }
    }
    out
}

#[test]
fn explain_output_is_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/explain");
    let mut jobs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ec" || x == "sql"))
        .collect();
    jobs.sort();
    assert!(!jobs.is_empty(), "no jobs in {}", dir.display());
    let bless = std::env::var("TALLY_BLESS").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for job in &jobs {
        let got = explain(&dir, job);
        let expected = job.with_extension("explain");
        if bless {
            std::fs::write(&expected, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&expected).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "{} differs from {} (- expected, + got; TALLY_BLESS=1 rewrites it):\n{}",
                job.display(),
                expected.display(),
                diff(&want, &got)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_diff_shows_what_changed() {
    let d = diff("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nD\ne\nf\ng\n");
    assert_eq!(d, "  ...\n  b\n  c\n- d\n+ D\n  e\n  f\n");
    assert_eq!(diff("x\n", "x\n"), "");
    assert_eq!(diff("", "new\n"), "+ new\n");
}
