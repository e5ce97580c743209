//! `tally`: run, check and explain EC-SQL jobs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{ArgAction, Parser, Subcommand};
use tally_sql::job::Job;

/// mimalloc: rows are many small allocations, and the system allocator showed up at a quarter
/// of the q1 profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tally",
    version,
    about = "A streaming SQL engine for EC-SQL on timely and differential dataflow"
)]
struct Cli {
    /// How log lines on stderr look: `text`, or `json` (one JSON object per line, for log
    /// collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a job until its bounded sources end (or forever, for live sources).
    #[command(disable_help_flag = true)]
    Run {
        /// The job file (.ec or .sql).
        job: PathBuf,
        /// A `.sql` file whose statements come before the job's (tables and views shared by
        /// several jobs, as Flink's SQL client `-i`); may be given several times.
        #[arg(short = 'i', long = "init")]
        init: Vec<PathBuf>,
        /// Worker threads per process.
        #[arg(short = 'w', long = "threads", default_value_t = 1)]
        workers: usize,
        /// Number of processes in the cluster.
        #[arg(short = 'n', long = "processes", default_value_t = 1)]
        processes: usize,
        /// This process's index in the cluster.
        #[arg(short = 'p', long = "process", default_value_t = 0)]
        process: usize,
        /// A file with one host:port per process, in process order.
        #[arg(short = 'h', long = "hostfile")]
        hostfile: Option<PathBuf>,
        /// Rows per batch of bounded sources (a batch is the unit of progress and lateness);
        /// overrides the job's `chunk.rows`.
        #[arg(long)]
        chunk_rows: Option<usize>,
        /// Seconds between progress lines on stderr (0: none).
        #[arg(long, default_value_t = 5)]
        progress: u64,
        /// Seconds a process of a cluster waits for the others (reachable, same -w) before it
        /// fails.
        #[arg(long, default_value_t = 30)]
        connect_timeout: u64,
        /// Checkpoint the job's state under this directory (as `execution.checkpointing.dir`
        /// does; every 10 s unless the job sets `execution.checkpointing.interval`).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Resume from this checkpoint (a `chk-N` directory) instead of the latest.
        #[arg(short = 's', long = "from-checkpoint")]
        from_checkpoint: Option<PathBuf>,
        /// Start with empty state; the job's earlier checkpoints are moved aside.
        #[arg(long, conflicts_with = "from_checkpoint")]
        from_scratch: bool,
        /// Serve /metrics (Prometheus), /healthz and /readyz at this address while the job
        /// runs (as the job setting `http.address` does), e.g. 127.0.0.1:9249.
        #[arg(long)]
        http: Option<String>,
        /// The bearer token every HTTP request must carry (as `http.token` does).
        #[arg(long, env = "TALLY_HTTP_TOKEN")]
        http_token: Option<String>,
        /// Print help.
        #[arg(long, action = ArgAction::Help)]
        help: Option<bool>,
    },
    /// List a job's checkpoints: number, epoch, time, size and the sources' positions.
    Checkpoints {
        job: PathBuf,
        /// The init files the job is run with (`tally run -i`).
        #[arg(short = 'i', long = "init")]
        init: Vec<PathBuf>,
        /// The directory the job checkpoints under (when `tally run` was given `--state-dir`).
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Check a job: parse, resolve and type-check everything, then exit (non-zero on error).
    Check {
        job: PathBuf,
        /// A `.sql` file whose statements come before the job's (tables and views shared by
        /// several jobs, as Flink's SQL client `-i`); may be given several times.
        #[arg(short = 'i', long = "init")]
        init: Vec<PathBuf>,
    },
    /// Print a job's bound query, its dataflow plan and the operators each plan node becomes.
    Explain {
        job: PathBuf,
        /// A `.sql` file whose statements come before the job's (tables and views shared by
        /// several jobs, as Flink's SQL client `-i`); may be given several times.
        #[arg(short = 'i', long = "init")]
        init: Vec<PathBuf>,
    },
    /// Write events of the built-in EasyCount generator as delimited text.
    Generate {
        /// Number of events.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Field delimiter.
        #[arg(long, default_value = ";")]
        splitter: String,
        /// Output file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

fn load(
    init: &[PathBuf],
    job: &std::path::Path,
) -> Result<(Job, tally_sql::plan::Plan), tally_sql::Diagnostic> {
    let job = Job::load_with(init, job)?;
    let plan = tally_sql::planner::plan(&job)?;
    Ok((job, plan))
}

/// mimalloc v2's `mi_option_purge_delay` (the sixteenth entry of `mi_option_t` in its
/// `mimalloc.h`; libmimalloc-sys names no constant for it). `purge_delay_option_is_what_we_set`
/// checks the index against the option's documented default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with the process before mimalloc returns it to the OS (ms).
/// mimalloc's default, 10 ms, returns the pages a batch of rows used between two batches and
/// faults them in again for the next: resident memory then swings with the moment it is read
/// (35-41 MB on a steady 37 MB job) and the kernel zeroes pages on the hot path (4-5% of q1's
/// time under perf). A second keeps the working set resident and still gives back what a
/// burst took once the burst is over. `MIMALLOC_PURGE_DELAY` set in the environment wins.
const PURGE_DELAY_MS: std::ffi::c_long = 1000;

#[allow(unsafe_code)]
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option of the allocator this binary links; mimalloc reads
        // its options atomically, so setting one while it runs is allowed (mimalloc.h).
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match cli.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { job, init } => {
            match Job::load_all_with(&init, &job).and_then(|j| tally_sql::planner::check(&j)) {
                Ok(plan) => {
                    println!(
                        "{}: ok ({} source{}, {} result table{})",
                        job.display(),
                        plan.sources.len(),
                        if plan.sources.len() == 1 { "" } else { "s" },
                        plan.sinks.len(),
                        if plan.sinks.len() == 1 { "" } else { "s" }
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    // Every independent error, as a compiler reports them.
                    for d in &errors {
                        eprintln!("{d}");
                    }
                    if errors.len() > 1 {
                        eprintln!("{}: {} errors", job.display(), errors.len());
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Explain { job, init } => {
            match Job::load_with(&init, &job).and_then(|j| tally_sql::planner::explain(&j)) {
                Ok((bound, plan)) => {
                    println!("== bound query ==\n{bound}");
                    println!("== dataflow plan ==\n{plan}");
                    println!("== operators ==\n{}", tally_engine::explain(&plan));
                    Ok(ExitCode::SUCCESS)
                }
                Err(d) => {
                    eprintln!("{d}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Run {
            job,
            init,
            workers,
            processes,
            process,
            hostfile,
            chunk_rows,
            progress,
            connect_timeout,
            state_dir,
            from_checkpoint,
            from_scratch,
            http,
            http_token,
            help: _,
        } => {
            let plan = match load(&init, &job) {
                Ok((_, plan)) => plan,
                Err(d) => {
                    eprintln!("{d}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            let start = match (from_checkpoint, from_scratch) {
                (Some(dir), _) => tally_engine::checkpoint::Start::From(dir.into()),
                (None, true) => tally_engine::checkpoint::Start::Scratch,
                (None, false) => tally_engine::checkpoint::Start::Latest,
            };
            let checkpoint = checkpoint_options(&job, &plan, state_dir, start)?;
            let opts = tally_engine::RunOptions {
                workers,
                processes,
                process,
                hostfile,
                chunk_rows,
                progress_every: (progress > 0).then(|| Duration::from_secs(progress)),
                connect_timeout: Duration::from_secs(connect_timeout.max(1)),
                checkpoint,
                http: http
                    .or_else(|| plan.settings.http_address.clone())
                    .map(|addr| tally_engine::http::HttpOptions {
                        addr,
                        token: http_token.or_else(|| plan.settings.http_token.clone()),
                        result_rows: plan
                            .settings
                            .http_result_rows
                            .unwrap_or(tally_engine::results::DEFAULT_ROWS_KEPT),
                    }),
                job: job
                    .file_stem()
                    .map_or_else(|| "job".into(), |s| s.to_string_lossy().into_owned()),
            };
            let summary = tally_engine::run(plan, opts)?;
            tracing::info!(
                rows_in = summary.rows_in,
                bad_rows = summary.bad_rows,
                late_rows = summary.late_rows,
                result_changes = summary.result_changes,
                "job finished in {:.2}s ({:.0} rows/s)",
                summary.elapsed.as_secs_f64(),
                summary.rows_in as f64 / summary.elapsed.as_secs_f64().max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Checkpoints {
            job,
            init,
            state_dir,
        } => {
            let plan = match load(&init, &job) {
                Ok((_, plan)) => plan,
                Err(d) => {
                    eprintln!("{d}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            let start = tally_engine::checkpoint::Start::Latest;
            let Some(opts) = checkpoint_options(&job, &plan, state_dir, start)? else {
                anyhow::bail!(
                    "{} does not checkpoint: set `execution.checkpointing.interval` or \
                     `execution.checkpointing.dir` in the job, or give --state-dir",
                    job.display()
                );
            };
            print!("{}", tally_engine::checkpoint::describe(&opts.dir));
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate {
            rows,
            seed,
            splitter,
            output,
        } => {
            let splitter =
                tally_sql::catalog::unescape_splitter(&splitter).context("bad --splitter")?;
            match output {
                Some(path) => {
                    let f = std::fs::File::create(&path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    tally_connectors::generator::write_delimited(
                        seed,
                        rows,
                        &splitter,
                        std::io::BufWriter::new(f),
                    )?
                }
                None => tally_connectors::generator::write_delimited(
                    seed,
                    rows,
                    &splitter,
                    std::io::BufWriter::new(std::io::stdout().lock()),
                )?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Where and how often a job checkpoints: `--state-dir` or the job's
/// `execution.checkpointing.dir` (relative to the job file's folder) as the root, else the
/// user's state directory when the job sets only an interval; `None` when it asks for neither.
/// A job's checkpoints go in a folder of the root named after the job file.
fn checkpoint_options(
    job: &std::path::Path,
    plan: &tally_sql::plan::Plan,
    state_dir: Option<PathBuf>,
    start: tally_engine::checkpoint::Start,
) -> anyhow::Result<Option<tally_engine::checkpoint::Options>> {
    let settings = &plan.settings.checkpoint;
    if !settings.enabled() && state_dir.is_none() {
        if start != tally_engine::checkpoint::Start::Latest {
            anyhow::bail!(
                "{} does not checkpoint, so there is no state to resume or start over: set \
                 `execution.checkpointing.interval` in the job, or give --state-dir",
                job.display()
            );
        }
        return Ok(None);
    }
    let folder = job
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    // A URL (`s3://bucket/prefix`, `file:///abs/path`) is opened as a store; a checkpoint
    // given with `-s` as a URL is in the same kind of store.
    let open = |url: &str| -> anyhow::Result<tally_engine::checkpoint::Loc> {
        let loc = tally_engine::store::open(url, &settings.s3)?;
        loc.check()
            .map_err(|e| anyhow::anyhow!("checkpoint store `{url}` cannot be used: {e}"))?;
        Ok(loc)
    };
    let start = match start {
        tally_engine::checkpoint::Start::From(tally_engine::checkpoint::Loc::Dir(d))
            if d.to_string_lossy().contains("://") =>
        {
            tally_engine::checkpoint::Start::From(open(&d.to_string_lossy())?)
        }
        other => other,
    };
    let root = match (state_dir, &settings.dir) {
        (Some(d), _) if d.to_string_lossy().contains("://") => {
            let root = open(&d.to_string_lossy())?;
            return Ok(Some(options(job, root, settings, start)));
        }
        (Some(d), _) => d,
        (None, Some(d)) if d.contains("://") => {
            let root = open(d)?;
            return Ok(Some(options(job, root, settings, start)));
        }
        (None, Some(d)) => folder.join(d),
        (None, None) => dirs::state_dir()
            .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
            .context("no state directory (set $HOME or give --state-dir)")?
            .join("tally"),
    };
    // Shown in messages and listings: absolute, whatever the working directory was.
    let root = std::path::absolute(&root).unwrap_or(root);
    Ok(Some(options(job, root.into(), settings, start)))
}

fn options(
    job: &std::path::Path,
    root: tally_engine::checkpoint::Loc,
    settings: &tally_sql::plan::CheckpointSettings,
    start: tally_engine::checkpoint::Start,
) -> tally_engine::checkpoint::Options {
    tally_engine::checkpoint::Options {
        dir: tally_engine::checkpoint::job_loc(&root, job),
        interval: Duration::from_millis(
            settings
                .interval_ms
                .unwrap_or(tally_sql::plan::CheckpointSettings::DEFAULT_INTERVAL_MS),
        ),
        retained: settings.num_retained,
        tolerable_failures: settings.tolerable_failures,
        start,
    }
}

#[cfg(test)]
mod tests {
    /// The option index is mimalloc's purge delay: before tuning it reads the documented
    /// default, 10 ms, or the value `MIMALLOC_PURGE_DELAY` gives; after, ours, or still the
    /// environment's.
    #[test]
    #[allow(unsafe_code)]
    fn purge_delay_option_is_what_we_set() {
        let from_env: Option<std::ffi::c_long> = std::env::var("MIMALLOC_PURGE_DELAY")
            .ok()
            .map(|v| v.trim().parse().expect("MIMALLOC_PURGE_DELAY is a number"));
        // SAFETY: reads and sets an integer option of the linked allocator.
        let (before, after) = unsafe {
            let before = libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY);
            super::tune_allocator();
            (
                before,
                libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY),
            )
        };
        assert_eq!(before, from_env.unwrap_or(10));
        assert_eq!(after, from_env.unwrap_or(super::PURGE_DELAY_MS));
    }
}
