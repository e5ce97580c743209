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
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(3306)
            .user(Some("root"))
            .db_name(Some("test"));
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
        use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
        let producer: BaseProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.addr)
            .set("linger.ms", "5")
            .create()
            .unwrap();
        for v in values {
            while producer
                .send(
                    BaseRecord::<(), String>::to(topic)
                        .partition(partition)
                        .payload(v),
                )
                .is_err()
            {
                producer.poll(Duration::from_millis(10));
            }
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// Sends records (key, value) and waits until the broker has them all.
    pub fn produce(&self, topic: &str, records: &[(String, String)]) {
        use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
        let producer: BaseProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.addr)
            .set("linger.ms", "5")
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
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(3307)
            .user(Some("root"))
            .db_name(Some("test"));
        let conn = rt.block_on(mysql_async::Conn::new(opts)).unwrap();
        let mut db = Mysql { rt, conn };
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
