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
    fn first<'a>(
        job: &'a Job,
        keys: &[&'static str],
    ) -> Option<(&'static str, &'a crate::job::Setting)> {
        keys.iter()
            .find_map(|k| job.settings.get(*k).map(|v| (*k, v)))
    }
    if let Some((key, v)) = first(job, &["execution.checkpointing.interval"]) {
        let ms = parse_duration_ms(&v.value)
            .map_err(|why| job.error_at(v.pos, format!("`{key}` {why}, found `{}`", v.value)))?;
        if ms == 0 {
            return Err(job.error_at(v.pos, format!("`{key}` must be longer than 0")));
        }
        s.checkpoint.interval_ms = Some(ms);
    }
    if let Some((_, v)) = first(
        job,
        &["execution.checkpointing.dir", "state.checkpoints.dir"],
    ) {
        s.checkpoint.dir = Some(v.value.clone());
    }
    let retained = [
        "execution.checkpointing.num-retained",
        "state.checkpoints.num-retained",
    ];
    if let Some((key, _)) = first(job, &retained) {
        let n = num(key)?.unwrap_or(1);
        if n == 0 {
            let v = &job.settings[key];
            return Err(job.error_at(v.pos, format!("`{key}` must be at least 1")));
        }
        s.checkpoint.num_retained = n as usize;
    }
    if let Some(n) = num("execution.checkpointing.tolerable-failed-checkpoints")? {
        s.checkpoint.tolerable_failures = n.min(u32::MAX as u64) as u32;
    }
    s.http_address = job.settings.get("http.address").map(|v| v.value.clone());
    s.http_token = job.settings.get("http.token").map(|v| v.value.clone());
    s.http_result_rows = num("http.result-rows")?.map(|n| n.max(1) as usize);
    for (key, v) in job.settings.iter().filter(|(k, _)| k.starts_with("s3.")) {
        s.checkpoint.s3.insert(key.clone(), v.value.clone());
    }
    Ok(s)
}

/// A duration as Flink writes one: a number of milliseconds, or a number and a unit (`ms`,
/// `s`, `min`, `h`, `d` and their long forms), with or without a space: `10 s`, `500ms`, `1min`.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: u64 = n
        .parse()
        .map_err(|_| "must be a duration such as `10 s` or `500 ms`".to_string())?;
    let per = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        other => return Err(format!("has the unknown time unit `{other}`")),
    };
    n.checked_mul(per).ok_or_else(|| "is too long".to_string())
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
    fn checkpoint_settings_with_flink_names() {
        let s = job_settings(&job(
            "execution.checkpointing.interval=30 s\nstate.checkpoints.dir=/tmp/ck\n\
             state.checkpoints.num-retained=5\n\
             execution.checkpointing.tolerable-failed-checkpoints=1\n",
        ))
        .unwrap();
        assert_eq!(
            s.checkpoint,
            crate::plan::CheckpointSettings {
                interval_ms: Some(30_000),
                dir: Some("/tmp/ck".into()),
                num_retained: 5,
                tolerable_failures: 1,
                s3: Default::default(),
            }
        );
        let s = job_settings(&job(
            "s3.endpoint=http://127.0.0.1:9000\ns3.path.style.access=true\n",
        ))
        .unwrap();
        assert_eq!(
            s.checkpoint.s3.into_iter().collect::<Vec<_>>(),
            [
                (
                    "s3.endpoint".to_string(),
                    "http://127.0.0.1:9000".to_string()
                ),
                ("s3.path.style.access".to_string(), "true".to_string())
            ]
        );
        assert!(!job_settings(&job("")).unwrap().checkpoint.enabled());
        let e = job_settings(&job("execution.checkpointing.interval=10 parsecs\n")).unwrap_err();
        assert_eq!(
            e.message,
            "`execution.checkpointing.interval` has the unknown time unit `parsecs`, found \
             `10 parsecs`"
        );
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("2min"), Ok(120_000));
        assert_eq!(parse_duration_ms("10000"), Ok(10_000));
        assert!(parse_duration_ms("soon").is_err());
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
