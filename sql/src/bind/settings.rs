//! Job settings: `lateness.seconds`, `idle.timeout.seconds`, `chunk.rows`,
//! `execute.max.iterations` and `timezone`, each checked where it is written.

use chrono::FixedOffset;

use crate::error::Diagnostic;
use crate::expr::date::parse_offset;
use crate::job::Job;
use crate::plan::JobSettings;

/// The job's settings, each a whole number where one is expected.
pub fn job_settings(job: &Job) -> Result<JobSettings, Diagnostic> {
    let mut s = JobSettings::default();
    let num = |key: &str| -> Result<Option<u64>, Diagnostic> {
        match job.settings.get(key) {
            None => Ok(None),
            Some(v) => v.value.parse::<u64>().map(Some).map_err(|_| {
                job.error_at(
                    v.pos,
                    format!("`{key}` must be a whole number, found `{}`", v.value),
                )
            }),
        }
    };
    if let Some(l) = num("lateness.seconds")? {
        s.lateness_ms = l * 1000;
    }
    if let Some(l) = num("idle.timeout.seconds")? {
        s.idle_timeout_ms = l * 1000;
    }
    if let Some(c) = num("chunk.rows")? {
        s.chunk_rows = Some(c.max(1) as usize);
    }
    if let Some(n) = num("execute.max.iterations")? {
        s.max_iterations = n;
    }
    Ok(s)
}

/// The job's time zone (`timezone`: UTC or an offset such as +08:00); UTC when not set.
pub fn timezone(job: &Job) -> Result<FixedOffset, Diagnostic> {
    match job.settings.get("timezone") {
        None => Ok(FixedOffset::east_opt(0).expect("UTC")),
        Some(s) => parse_offset(&s.value).ok_or_else(|| {
            job.error_at(
                s.pos,
                format!(
                    "bad timezone `{}`: use UTC or an offset such as +08:00",
                    s.value
                ),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(system: &str) -> Job {
        let text = format!(
            "[system]\n{system}sql=SELECT a FROM t\n[tabledesc-1]\ntable.name=t\n\
             table.fields=a,int,\ntable.type=file\ntable.file.path=x\n"
        );
        Job::parse("j.ec", &text).unwrap()
    }

    #[test]
    fn defaults_and_conversions() {
        assert_eq!(job_settings(&job("")).unwrap(), JobSettings::default());
        let s = job_settings(&job(
            "lateness.seconds=5\nidle.timeout.seconds=2\nchunk.rows=0\n\
             execute.max.iterations=7\n",
        ))
        .unwrap();
        assert_eq!(s.lateness_ms, 5000);
        assert_eq!(s.idle_timeout_ms, 2000);
        assert_eq!(s.chunk_rows, Some(1), "a batch has at least one row");
        assert_eq!(s.max_iterations, 7);
    }

    #[test]
    fn errors_point_at_the_value() {
        let e = job_settings(&job("chunk.rows=many\n")).unwrap_err();
        assert_eq!(e.pos, crate::Pos::new(2, 12));
        assert!(
            e.message
                .contains("`chunk.rows` must be a whole number, found `many`"),
            "{e}"
        );
        let e = timezone(&job("timezone=Mars/Olympus\n")).unwrap_err();
        assert!(e.message.contains("bad timezone `Mars/Olympus`"), "{e}");
        assert_eq!(
            timezone(&job("timezone=+08:00\n")).unwrap(),
            FixedOffset::east_opt(8 * 3600).unwrap()
        );
        assert_eq!(
            timezone(&job("")).unwrap(),
            FixedOffset::east_opt(0).unwrap()
        );
    }
}
