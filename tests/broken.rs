//! Broken jobs: every file under `tests/broken/` must fail `check` with the error its first
//! line names: `# expect: LINE:COL: text` (`-- expect:` in `.sql` files). The error must point
//! at that line and column of the file and contain the text.

use std::path::{Path, PathBuf};

use tally_sql::job::Job;

fn check(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).unwrap();
    let first = text.lines().next().unwrap_or_default();
    let spec = first
        .strip_prefix("# expect: ")
        .or_else(|| first.strip_prefix("-- expect: "))
        .ok_or("the first line must be `# expect: LINE:COL: text`")?;
    let (line, rest) = spec.split_once(':').ok_or("bad expect line")?;
    let (col, want) = rest.split_once(':').ok_or("bad expect line")?;
    let want = want.trim();
    let result = Job::load(path).and_then(|job| tally_sql::planner::plan(&job).map(|_| ()));
    let err = match result {
        Ok(()) => return Err("the job was accepted".into()),
        Err(e) => e,
    };
    let shown = err.to_string();
    let at = format!("{}:{}:{}: error: ", path.display(), line.trim(), col.trim());
    if !shown.starts_with(&at) || !shown.contains(want) {
        return Err(format!("expected `{at}...{want}...`, got `{shown}`"));
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
