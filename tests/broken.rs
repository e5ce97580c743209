//! Broken jobs: every file under `tests/broken/` must fail `check` with exactly the errors its
//! first lines name, one `# expect: LINE:COL: text` line each (`-- expect:` in `.sql` files),
//! in order. Each error must point at that line and column of the file and contain the text.

use std::path::{Path, PathBuf};

use tally_sql::job::Job;

/// The errors a file's first lines expect: `# expect: LINE:COL: text`, one line per error, in
/// the order `check` reports them.
fn expected(text: &str) -> Result<Vec<(String, String, String)>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(spec) = line
            .strip_prefix("# expect: ")
            .or_else(|| line.strip_prefix("-- expect: "))
        else {
            break;
        };
        let (at, rest) = spec.split_once(':').ok_or("bad expect line")?;
        let (col, want) = rest.split_once(':').ok_or("bad expect line")?;
        out.push((
            at.trim().to_string(),
            col.trim().to_string(),
            want.trim().to_string(),
        ));
    }
    if out.is_empty() {
        return Err("the first line must be `# expect: LINE:COL: text`".into());
    }
    Ok(out)
}

fn check(path: &Path) -> Result<(), String> {
    let want = expected(&std::fs::read_to_string(path).unwrap())?;
    // `plan` stops at the first error; `check` reports every independent one.
    let first = Job::load(path).and_then(|job| tally_sql::planner::plan(&job).map(|_| ()));
    let all = Job::load_all(path).and_then(|job| tally_sql::planner::check(&job).map(|_| ()));
    let (first, all) = match (first, all) {
        (Err(f), Err(a)) => (f, a),
        _ => return Err("the job was accepted".into()),
    };
    let shown: Vec<String> = all.iter().map(ToString::to_string).collect();
    if first != all[0] {
        return Err(format!(
            "plan's error `{first}` is not check's first: {shown:?}"
        ));
    }
    if shown.len() != want.len() {
        return Err(format!(
            "expected {} error(s), got {}: {shown:?}",
            want.len(),
            shown.len()
        ));
    }
    for ((line, col, text), got) in want.iter().zip(&shown) {
        let at = format!("{}:{line}:{col}: error: ", path.display());
        if !got.starts_with(&at) || !got.contains(text.as_str()) {
            return Err(format!("expected `{at}...{text}...`, got `{got}`"));
        }
    }
    Ok(())
}

#[test]
fn broken_jobs_fail_with_their_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no broken jobs in {}", root.display());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| check(f).err().map(|e| format!("{}: {e}", f.display())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} broken job(s) misjudged:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{} broken jobs rejected with their errors", files.len());
}
