//! Helpers for the tests that talk to real servers: where the servers are, a check that fails
//! loudly when one is not running, a TCP proxy that can make a server "go away" in the middle
//! of a run, and running the `tally` binary.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const REDIS: &str = "127.0.0.1:6379";
pub const MYSQL: &str = "127.0.0.1:3306";
pub const POSTGRES: &str = "127.0.0.1:5432";

/// Fails the test with a clear message when a server is not listening.
pub fn require(name: &str, addr: &str) {
    if TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2)).is_err() {
        panic!(
            "{name} is not reachable at {addr}: this test needs a real {name} server. \
             ./scripts/test.sh starts (and installs) the servers the tests use."
        );
    }
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

pub fn tally(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the tally binary runs")
}

pub fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "tally failed: {err}");
    err
}

/// The rows of a final CSV sink without its header, sorted.
pub fn csv_rows(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut rows: Vec<String> = text.lines().skip(1).map(String::from).collect();
    rows.sort();
    rows
}

/// A TCP proxy to a server. `pause` cuts every connection and refuses new ones (the server
/// "went away"); `resume` lets connections through again.
pub struct Proxy {
    pub port: u16,
    paused: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let paused = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let upstream = upstream.to_string();
        let (p, l) = (paused.clone(), live.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if p.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut live = l.lock().unwrap();
                    live.push(client.try_clone().unwrap());
                    live.push(server.try_clone().unwrap());
                }
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { port, paused, live }
    }

    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

pub fn redis() -> redis::Connection {
    require("Redis", REDIS);
    redis::Client::open(format!("redis://{REDIS}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

/// A blocking MySQL client for checks.
pub struct Mysql {
    rt: tokio::runtime::Runtime,
    conn: mysql_async::Conn,
}

impl Mysql {
    pub fn connect() -> Mysql {
        require("MariaDB/MySQL", MYSQL);
        Mysql::open(3306, Some("test"))
    }

    /// A client of the server on 127.0.0.1:`port` as root, in database `db`.
    fn open(port: u16, db: Option<&str>) -> Mysql {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some("root"))
            .db_name(db);
        let conn = rt.block_on(mysql_async::Conn::new(opts)).unwrap();
        Mysql { rt, conn }
    }

    pub fn exec(&mut self, sql: &str) {
        use mysql_async::prelude::Queryable;
        self.rt.block_on(self.conn.query_drop(sql)).unwrap();
    }

    /// Like `rows`, but no rows while `table` does not exist yet.
    pub fn rows_of(&mut self, table: &str, sql: &str) -> Vec<String> {
        let n = self.rows(&format!(
            "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'test' AND \
             TABLE_NAME = '{table}'"
        ));
        if n == ["0"] {
            return Vec::new();
        }
        self.rows(sql)
    }

    /// Rows as comma-joined text, sorted.
    pub fn rows(&mut self, sql: &str) -> Vec<String> {
        use mysql_async::prelude::Queryable;
        let rows: Vec<mysql_async::Row> = self.rt.block_on(self.conn.query(sql)).unwrap();
        let mut out: Vec<String> = rows
            .into_iter()
            .map(|r| {
                r.unwrap()
                    .into_iter()
                    .map(|v| match v {
                        mysql_async::Value::NULL => String::new(),
                        mysql_async::Value::Bytes(b) => String::from_utf8(b).unwrap(),
                        other => other.as_sql(true),
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        out.sort();
        out
    }
}

pub fn postgres() -> postgres::Client {
    require("PostgreSQL", POSTGRES);
    postgres::Client::connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=test",
        postgres::NoTls,
    )
    .unwrap()
}

/// Rows as comma-joined text, sorted.
pub fn pg_rows(client: &mut postgres::Client, sql: &str) -> Vec<String> {
    let mut out: Vec<String> = client
        .simple_query(sql)
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("").to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// Queues `value` for `partition` of `topic`, waiting while the producer's queue is full.
fn send_to(producer: &rdkafka::producer::BaseProducer, topic: &str, partition: i32, value: &str) {
    use rdkafka::producer::BaseRecord;
    while producer
        .send(
            BaseRecord::<(), str>::to(topic)
                .partition(partition)
                .payload(value),
        )
        .is_err()
    {
        producer.poll(Duration::from_millis(10));
    }
}

/// A Kafka-compatible broker (tansu, in memory) on a free port, stopped when dropped.
pub struct Broker {
    pub addr: String,
    child: std::process::Child,
}

impl Broker {
    pub fn start() -> Broker {
        let tansu = std::env::var("TANSU").unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_default();
            let installed = format!("{home}/.cargo/bin/tansu");
            if Path::new(&installed).exists() {
                installed
            } else {
                "tansu".to_string()
            }
        });
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut child = Command::new(&tansu)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the Kafka-compatible broker `{tansu}` ({e}): the Kafka tests \
                     need it. ./scripts/test.sh installs it (cargo install tansu --version \
                     0.6.0 --locked --features dynostore)."
                )
            });
        let addr = format!("127.0.0.1:{port}");
        for _ in 0..100 {
            if TcpStream::connect(&addr).is_ok() {
                return Broker { addr, child };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the broker did not listen on {addr} within 10 s");
    }

    pub fn create_topic(&self, name: &str, partitions: u32) {
        let tansu = std::env::var("TANSU").unwrap_or_else(|_| {
            format!(
                "{}/.cargo/bin/tansu",
                std::env::var("HOME").unwrap_or_default()
            )
        });
        let tansu = if Path::new(&tansu).exists() {
            tansu
        } else {
            "tansu".to_string()
        };
        let out = Command::new(tansu)
            .args([
                "topic",
                "create",
                name,
                "--partitions",
                &partitions.to_string(),
                "--broker",
                &format!("tcp://{}", self.addr),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "topic create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends values to one partition and waits until the broker has them all.
    pub fn produce_to(&self, topic: &str, partition: i32, values: &[String]) {
        use rdkafka::producer::{BaseProducer, Producer};
        let producer: BaseProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.addr)
            .set("linger.ms", "5")
            .create()
            .unwrap();
        for v in values {
            send_to(&producer, topic, partition, v);
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// Sends records (key, value) and waits until the broker has them all.
    pub fn produce(&self, topic: &str, records: &[(String, String)]) {
        use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
        let producer: BaseProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.addr)
            .set("linger.ms", "5")
            // One request in flight: with several, tansu 0.6 was seen to give two batches of a
            // partition overlapping offsets (the partitions' ends summed to fewer records than
            // were sent), so that reading from an offset returned records read before.
            .set("max.in.flight.requests.per.connection", "1")
            .create()
            .unwrap();
        for (k, v) in records {
            loop {
                match producer.send(BaseRecord::to(topic).key(k).payload(v)) {
                    Ok(()) => break,
                    Err(_) => {
                        producer.poll(Duration::from_millis(10));
                    }
                }
            }
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// Sends `values[i]` to partition `i % partitions`, one record per produce batch, and
    /// waits until the broker has them all. Returns each partition's end offset (how many
    /// records it got).
    ///
    /// One record per batch because tansu 0.6 answers a fetch at an offset inside a batch with
    /// the batches after it: the rest of that batch is skipped (a consumer resumed at offset
    /// 1000 of batches of ~100 records got 1117 first). Kafka returns the batch holding the
    /// offset and the client drops the records before it. A job resumed at a checkpoint's
    /// offsets would lose records on tansu with batched topics, through no fault of its own.
    pub fn produce_unbatched(&self, topic: &str, partitions: i32, values: &[String]) -> Vec<i64> {
        use rdkafka::producer::{BaseProducer, Producer};
        let producer: BaseProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.addr)
            .set("linger.ms", "0")
            .set("batch.num.messages", "1")
            .set("max.in.flight.requests.per.connection", "1")
            .create()
            .unwrap();
        let mut ends = vec![0i64; partitions as usize];
        for (i, v) in values.iter().enumerate() {
            let partition = i as i32 % partitions;
            ends[partition as usize] += 1;
            send_to(&producer, topic, partition, v);
        }
        producer.flush(Duration::from_secs(60)).unwrap();
        ends
    }

    /// Each partition's committed offset of the group (-1 where none is committed).
    pub fn committed_each(&self, topic: &str, group: &str, partitions: i32) -> Vec<i64> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.addr)
            .set("group.id", group)
            .create()
            .unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let committed = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .unwrap();
        (0..partitions)
            .map(
                |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                    Some(rdkafka::Offset::Offset(o)) => o,
                    _ => -1,
                },
            )
            .collect()
    }

    /// The sum over a topic's partitions of the group's committed offsets.
    pub fn committed(&self, topic: &str, group: &str, partitions: i32) -> i64 {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.addr)
            .set("group.id", group)
            .create()
            .unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .unwrap()
            .elements()
            .iter()
            .map(|e| match e.offset() {
                rdkafka::Offset::Offset(o) => o,
                _ => 0,
            })
            .sum()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed when dropped, so a failing test leaves no job running.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A hostfile for an `n`-process cluster on free localhost ports, written to `dir/hosts`.
pub fn write_hostfile(dir: &Path, n: usize) -> std::path::PathBuf {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let text: String = listeners
        .iter()
        .map(|l| format!("127.0.0.1:{}\n", l.local_addr().unwrap().port()))
        .collect();
    let path = dir.join("hosts");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `job` in `dir` as a cluster of two processes of `workers` threads each, on localhost,
/// and requires both to succeed.
pub fn run_two_processes(dir: &Path, job: &str, workers: &str) {
    write_hostfile(dir, 2);
    let spawn = |p: &str| {
        Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["run", job, "-w", workers, "-n", "2", "-p", p, "-h", "hosts"])
            .args(["--progress", "0"])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let p1 = spawn("1");
    let p0 = spawn("0");
    for p in [p0, p1] {
        let out = p.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The hashes `<prefix>:<appId>:<t>` with fields `c` and `u` as `appId,t,c,u` lines, sorted;
/// deletes them.
pub fn take_window_hashes(r: &mut redis::Connection, prefix: &str) -> Vec<String> {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(r)
        .unwrap();
    let mut got = Vec::new();
    for k in &keys {
        let h: std::collections::HashMap<String, String> =
            redis::cmd("HGETALL").arg(k).query(r).unwrap();
        let parts: Vec<&str> = k.split(':').collect();
        got.push(format!("{},{},{},{}", parts[1], parts[2], h["c"], h["u"]));
    }
    got.sort();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(&keys).query(r).unwrap();
    }
    got
}

/// The MariaDB with a row-format binlog that scripts/services.sh starts for the binlog tests.
pub const MYSQL_BINLOG: &str = "127.0.0.1:3307";

impl Mysql {
    /// A client of the MariaDB with a binlog (127.0.0.1:3307, root, database `test`); fails
    /// loudly when it is not running.
    pub fn connect_binlog() -> Mysql {
        require(
            "MariaDB with a binlog (log_bin=ON, binlog_format=ROW)",
            MYSQL_BINLOG,
        );
        let mut db = Mysql::open(3307, Some("test"));
        let on = db.rows("SELECT @@log_bin, @@binlog_format");
        assert_eq!(
            on,
            ["1,ROW"],
            "the server on {MYSQL_BINLOG} must have log_bin=ON and binlog_format=ROW \
             (./scripts/services.sh starts it so)"
        );
        db
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released for a server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits up to `secs` for something to listen on `127.0.0.1:port`.
fn wait_listening(port: u16, secs: u64) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The last lines of a server's log file, for a failure message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A private redis-server of this test on a free port, its data in an append-only file in a
/// temporary folder, so that it can be killed (SIGKILL) and started again on the same port
/// with its data. Killed, and its folder removed, when dropped (also when the test fails).
/// Kills a private server's process (SIGKILL) and reaps it.
fn kill_child(child: &mut Option<std::process::Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

pub struct PrivateRedis {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub fn start() -> PrivateRedis {
        let mut server = PrivateRedis {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.dir.path().join("redis.log"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): this test runs a private Redis server. \
                     ./scripts/test.sh installs it."
                )
            });
        self.child = Some(child);
        assert!(
            wait_listening(self.port, 10),
            "the private redis-server did not listen on port {} within 10 s:\n{}",
            self.port,
            log_tail(&self.dir.path().join("redis.log"))
        );
    }

    /// Kills the server (SIGKILL: no shutdown, a crash).
    pub fn kill(&mut self) {
        kill_child(&mut self.child);
    }

    /// Starts the killed server again on the same port, with the data it had.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        self.spawn();
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn connect(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private PostgreSQL cluster of this test (initdb in a temporary folder, trust
/// authentication, database `test`) on a free port of 127.0.0.1, run as the `postgres` user when
/// the test runs as root. Stopped (`-m immediate`) and removed when dropped.
pub struct PrivatePostgres {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
            .max_by_key(|b| {
                b.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
            })
            .unwrap_or_else(|| {
                panic!(
                    "no /usr/lib/postgresql/*/bin/initdb: this test runs a private PostgreSQL \
                     cluster. ./scripts/test.sh installs PostgreSQL."
                )
            });
        let dir = tempfile::tempdir().unwrap();
        if running_as_root() {
            // initdb refuses root: the cluster belongs to `postgres`.
            let out = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "chown postgres: {out:?}");
        }
        let server = PrivatePostgres {
            port: free_port(),
            dir,
            bin,
        };
        let data = server.dir.path().join("data");
        server.pg(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "-N".as_ref(),
            ],
        );
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            server.port,
            server.dir.path().display()
        );
        server.pg_ctl(&["start", "-o", &options]);
        let mut client = server.client("postgres");
        client.batch_execute("CREATE DATABASE test").unwrap();
        server
    }

    fn pg(&self, program: &str, args: &[&std::ffi::OsStr]) {
        let mut cmd = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
            c
        } else {
            Command::new(self.bin.join(program))
        };
        let out = cmd
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            log_tail(&self.dir.path().join("server.log"))
        );
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("server.log");
        let mut all: Vec<&std::ffi::OsStr> = vec![
            "-D".as_ref(),
            data.as_os_str(),
            "-l".as_ref(),
            log.as_os_str(),
            "-w".as_ref(),
        ];
        all.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
        self.pg("pg_ctl", &all);
    }

    /// `pg_ctl restart -m fast`: every connection is cut, the server stops and starts again.
    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-m", "fast"]);
    }

    pub fn client(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname={db}",
                self.port
            ),
            postgres::NoTls,
        )
        .unwrap()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let mut cmd = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        let _ = cmd
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A private MariaDB server of this test (mariadb-install-db in a temporary folder, root
/// without password, database `test`) on a free port of 127.0.0.1, that can be killed
/// (SIGKILL: InnoDB recovers at the next start) and started again with its data. Killed and
/// removed when dropped.
pub struct PrivateMysql {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl PrivateMysql {
    pub fn start() -> PrivateMysql {
        let dir = tempfile::tempdir().unwrap();
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if running_as_root() {
            install.arg("--user=root");
        }
        let out = install.output().unwrap_or_else(|e| {
            panic!(
                "cannot run mariadb-install-db ({e}): this test runs a private MariaDB server. \
                 ./scripts/test.sh installs mariadb-server."
            )
        });
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut server = PrivateMysql {
            port: free_port(),
            dir,
            child: None,
        };
        server.spawn();
        server.connect().exec("CREATE DATABASE test");
        server
    }

    fn spawn(&mut self) {
        let d = self.dir.path();
        let mariadbd = if Path::new("/usr/sbin/mariadbd").exists() {
            "/usr/sbin/mariadbd"
        } else {
            "mariadbd"
        };
        let mut cmd = Command::new(mariadbd);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", d.join("mysqld.sock").display()))
            .arg(format!("--pid-file={}", d.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", d.join("error.log").display()))
            .args(["--skip-log-bin", "--innodb-buffer-pool-size=16M"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if running_as_root() {
            cmd.arg("--user=root");
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start {mariadbd} ({e}): ./scripts/test.sh installs mariadb-server.")
        });
        self.child = Some(child);
        assert!(
            wait_listening(self.port, 30),
            "the private MariaDB did not listen on port {} within 30 s:\n{}",
            self.port,
            log_tail(&d.join("error.log"))
        );
    }

    /// Kills the server (SIGKILL: no shutdown, a crash).
    pub fn kill(&mut self) {
        kill_child(&mut self.child);
    }

    /// Starts the killed server again on the same port, with the data it had.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        self.spawn();
    }

    pub fn connect(&self) -> Mysql {
        Mysql::open(self.port, None)
    }
}

impl Drop for PrivateMysql {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `appId,minute,count,distinct users` per app and minute (sorted as text, as [`csv_rows`]
/// gives a CSV) of the built-in generator's events, computed here from the events. `rate` as
/// the job sets `table.generator.rate`: it decides the size of the generator's blocks
/// (`rate / 20` rows), and so the events; pacing does not change them. None of the events is
/// late enough to be dropped (at most 20 s, the lateness is 30 s).
pub fn generator_minutes(seed: u64, rows: u64, rate: Option<u64>) -> Vec<String> {
    use std::collections::{BTreeMap, BTreeSet};
    use tally_connectors::{generator::GeneratorSource, Poll, Source, WorkerInfo};
    let block = rate.map_or(tally_connectors::DEFAULT_CHUNK_ROWS, |r| {
        ((r / 20) as usize).clamp(1, tally_connectors::DEFAULT_CHUNK_ROWS)
    });
    let mut source = GeneratorSource::new(
        seed,
        Some(rows),
        None,
        WorkerInfo { index: 0, peers: 1 },
        block,
        Default::default(),
    );
    let mut windows: BTreeMap<(String, i64), (u64, BTreeSet<String>)> = BTreeMap::new();
    let mut batch = Vec::new();
    while let Poll::Batch { .. } = source.poll(&mut batch).unwrap() {
        for row in batch.drain(..) {
            let t = match row[2] {
                tally_sql::Value::Int(t) => t,
                ref v => panic!("dTime {v:?}"),
            };
            let w = windows
                .entry((row[0].to_string(), t - t.rem_euclid(60_000)))
                .or_default();
            w.0 += 1;
            w.1.insert(row[1].to_string());
        }
    }
    let mut out: Vec<String> = windows
        .iter()
        .map(|((app, minute), (n, users))| format!("{app},{minute},{n},{}", users.len()))
        .collect();
    out.sort();
    out
}

/// The result table of EasyCount's teg_acct job (count per minute, ACCU 3600 s, SW 1800 s,
/// AGGRTIME not selected) from `(appId, event time)` rows, as sorted `app,cnt1m,cnt_accu,cnt_sw`
/// lines (docs/windows.md): each app has one row, its newest minute M (window [M, E),
/// E = M + 60 s): its rows in [M, E), in [start of the hour of E - 1, E) and in [E - 1800 s, E).
pub fn teg_acct_expected(rows: &[(&str, i64)]) -> Vec<String> {
    let mut newest: std::collections::BTreeMap<&str, i64> = Default::default();
    for &(app, t) in rows {
        let m = newest.entry(app).or_insert(i64::MIN);
        *m = (*m).max(t - t.rem_euclid(60_000));
    }
    let mut expected: Vec<String> = newest
        .iter()
        .map(|(&app, &m)| {
            let end = m + 60_000;
            let hour = (end - 1) - (end - 1).rem_euclid(3_600_000);
            let count = |from: i64| {
                rows.iter()
                    .filter(|&&(a, t)| a == app && t >= from && t < end)
                    .count()
            };
            format!(
                "{app},{},{},{}",
                count(m),
                count(hour),
                count(end - 1_800_000)
            )
        })
        .collect();
    expected.sort();
    expected
}

/// A seeded generator of kill times, from `TALLY_RECOVERY_SEED` or the clock; the seed is
/// printed so that a failing run can be repeated.
pub fn seeded(test: &str) -> rand::rngs::StdRng {
    let seed: u64 = std::env::var("TALLY_RECOVERY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("{test}: kill times from seed {seed} (TALLY_RECOVERY_SEED={seed} repeats them)");
    <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed)
}

/// Every hash `<prefix>:*` as `<rest of the key> f=v,f=v` (fields sorted), sorted.
pub fn redis_hashes(r: &mut redis::Connection, prefix: &str) -> Vec<String> {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(r)
        .unwrap();
    let mut out: Vec<String> = keys
        .iter()
        .map(|k| {
            let h: std::collections::BTreeMap<String, String> =
                redis::cmd("HGETALL").arg(k).query(r).unwrap();
            let fields: Vec<String> = h.iter().map(|(f, v)| format!("{f}={v}")).collect();
            format!("{} {}", &k[prefix.len() + 1..], fields.join(","))
        })
        .collect();
    out.sort();
    out
}

/// Deletes every key `<prefix>:*`.
pub fn redis_delete(r: &mut redis::Connection, prefix: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(r)
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(&keys).query(r).unwrap();
    }
}

/// `tally run job.ec --http 127.0.0.1:0 --progress 0` with `extra` arguments, in `dir`, and the
/// address it serves at, read from its log (which is then drained, so that the job never
/// blocks on a full pipe).
pub fn run_serving(dir: &Path, extra: &[&str]) -> (Running, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["run", "job.ec", "--http", "127.0.0.1:0", "--progress", "0"])
        .args(extra)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let running = Running(child);
    let addr = loop {
        let line = lines
            .next()
            .expect("tally ended before serving HTTP")
            .unwrap();
        if let Some((_, rest)) = line.split_once("serving HTTP on http://") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (running, addr)
}
