//! Where checkpoints and the sinks' logs live: a local directory, or an object store
//! (`s3://bucket/prefix`).
//!
//! A [`Loc`] names a directory or a file in either, like a path: `join`, `display`, and the few
//! operations checkpoints need. In a local directory a file is written durably (a temporary
//! file, fsync, rename, fsync of its directory); in an object store a put is atomic and durable
//! once it returns, and [`Loc::create`] puts only if no object has that name (the manifest).
//! `file:///abs/path` is the local directory `/abs/path`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::checkpoint::{write_durably, CheckpointError};

/// The S3 options a job may set, with Flink's names.
pub const S3_OPTIONS: [&str; 5] = [
    "s3.endpoint",
    "s3.access-key",
    "s3.secret-key",
    "s3.path.style.access",
    "s3.region",
];

/// An object store and the runtime its requests run on.
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    rt: tokio::runtime::Runtime,
    /// The URL of the store's root, such as `s3://bucket` (shown in messages).
    base: String,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

impl Remote {
    /// A store reached through `store`, shown as `base` (also used by tests with a local
    /// `object_store` file system).
    pub fn new(store: Arc<dyn ObjectStore>, base: &str) -> Result<Arc<Remote>, CheckpointError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tally-store")
            .enable_all()
            .build()
            .map_err(|e| {
                CheckpointError::Refused(format!("cannot start the object store's runtime: {e}"))
            })?;
        Ok(Arc::new(Remote {
            store,
            rt,
            base: base.trim_end_matches('/').to_string(),
        }))
    }

    /// Runs a request to completion (on a thread of its own when the caller is inside another
    /// tokio runtime, where blocking on this one is not allowed).
    fn run<F>(&self, f: F) -> F::Output
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| self.rt.block_on(f))
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
        } else {
            self.rt.block_on(f)
        }
    }
}

/// A directory or file, local or in an object store.
#[derive(Clone)]
pub enum Loc {
    Dir(PathBuf),
    Object { remote: Arc<Remote>, key: String },
}

impl fmt::Debug for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.display())
    }
}

impl PartialEq for Loc {
    fn eq(&self, other: &Self) -> bool {
        self.display().to_string() == other.display().to_string()
    }
}

impl Eq for Loc {}

impl From<PathBuf> for Loc {
    fn from(p: PathBuf) -> Self {
        Loc::Dir(p)
    }
}

impl From<&std::path::Path> for Loc {
    fn from(p: &std::path::Path) -> Self {
        Loc::Dir(p.to_path_buf())
    }
}

/// What a listing finds in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub dir: bool,
    pub bytes: u64,
}

/// Shown as a path or as the object's URL.
pub struct Shown<'a>(&'a Loc);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Loc::Dir(p) => write!(f, "{}", p.display()),
            Loc::Object { remote, key } if key.is_empty() => write!(f, "{}", remote.base),
            Loc::Object { remote, key } => write!(f, "{}/{key}", remote.base),
        }
    }
}

fn store_error(loc: &Loc, e: object_store::Error) -> CheckpointError {
    CheckpointError::Store {
        path: loc.display().to_string(),
        source: Box::new(e),
    }
}

fn io_error(path: &std::path::Path, source: std::io::Error) -> CheckpointError {
    CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Loc {
    pub fn display(&self) -> Shown<'_> {
        Shown(self)
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, Loc::Object { .. })
    }

    pub fn join(&self, name: &str) -> Loc {
        match self {
            Loc::Dir(p) => Loc::Dir(p.join(name)),
            Loc::Object { remote, key } => Loc::Object {
                remote: remote.clone(),
                key: if key.is_empty() {
                    name.to_string()
                } else {
                    format!("{key}/{name}")
                },
            },
        }
    }

    /// The directory this is in (itself at the top).
    pub fn parent(&self) -> Loc {
        match self {
            Loc::Dir(p) => Loc::Dir(p.parent().map_or_else(|| p.clone(), |d| d.to_path_buf())),
            Loc::Object { remote, key } => Loc::Object {
                remote: remote.clone(),
                key: key.rsplit_once('/').map_or("", |(k, _)| k).to_string(),
            },
        }
    }

    /// The last component of the name.
    pub fn file_name(&self) -> String {
        match self {
            Loc::Dir(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Loc::Object { key, .. } => key.rsplit('/').next().unwrap_or_default().to_string(),
        }
    }

    fn key(&self) -> Key {
        match self {
            Loc::Object { key, .. } => Key::from(key.as_str()),
            Loc::Dir(_) => unreachable!("only objects have keys"),
        }
    }

    /// Writes this file: durably in a directory (temporary file, fsync, rename, fsync of the
    /// directory), a put in an object store.
    pub fn write(&self, bytes: &[u8]) -> Result<(), CheckpointError> {
        self.put(bytes, PutMode::Overwrite)
    }

    /// Writes this file, which must not exist yet in an object store (a put if absent); in a
    /// directory as [`Loc::write`].
    pub fn create(&self, bytes: &[u8]) -> Result<(), CheckpointError> {
        self.put(bytes, PutMode::Create)
    }

    fn put(&self, bytes: &[u8], mode: PutMode) -> Result<(), CheckpointError> {
        match self {
            Loc::Dir(p) => {
                let dir = p.parent().unwrap_or(std::path::Path::new("."));
                write_durably(dir, &self.file_name(), bytes)
            }
            Loc::Object { remote, .. } => {
                let key = self.key();
                let payload = PutPayload::from(bytes.to_vec());
                let opts = PutOptions {
                    mode,
                    ..Default::default()
                };
                remote
                    .run(remote.store.put_opts(&key, payload, opts))
                    .map(|_| ())
                    .map_err(|e| store_error(self, e))
            }
        }
    }

    pub fn read(&self) -> Result<Vec<u8>, CheckpointError> {
        match self {
            Loc::Dir(p) => std::fs::read(p).map_err(|e| io_error(p, e)),
            Loc::Object { remote, .. } => {
                let key = self.key();
                remote
                    .run(async { remote.store.get(&key).await?.bytes().await })
                    .map(|b| b.to_vec())
                    .map_err(|e| store_error(self, e))
            }
        }
    }

    /// Whether this file exists (an error reaching the store is an error, not a no).
    pub fn is_file(&self) -> Result<bool, CheckpointError> {
        match self {
            Loc::Dir(p) => Ok(p.is_file()),
            Loc::Object { remote, .. } => {
                let key = self.key();
                match remote.run(remote.store.head(&key)) {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(store_error(self, e)),
                }
            }
        }
    }

    /// What this directory holds, by name (nothing when it does not exist).
    pub fn children(&self) -> Result<Vec<Entry>, CheckpointError> {
        match self {
            Loc::Dir(p) => {
                let entries = match std::fs::read_dir(p) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(io_error(p, e)),
                };
                let mut out = Vec::new();
                for e in entries.flatten() {
                    let meta = e.metadata().ok();
                    let dir = meta.as_ref().is_some_and(|m| m.is_dir());
                    out.push(Entry {
                        name: e.file_name().to_string_lossy().into_owned(),
                        dir,
                        bytes: meta.filter(|_| !dir).map_or(0, |m| m.len()),
                    });
                }
                out.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(out)
            }
            Loc::Object { remote, key } => {
                let prefix = Key::from(key.as_str());
                let prefix = (!key.is_empty()).then_some(&prefix);
                let listed = remote
                    .run(remote.store.list_with_delimiter(prefix))
                    .map_err(|e| store_error(self, e))?;
                let mut out: Vec<Entry> = listed
                    .common_prefixes
                    .iter()
                    .filter_map(|p| p.filename().map(str::to_string))
                    .map(|name| Entry {
                        name,
                        dir: true,
                        bytes: 0,
                    })
                    .chain(listed.objects.iter().filter_map(|o| {
                        Some(Entry {
                            name: o.location.filename()?.to_string(),
                            dir: false,
                            bytes: o.size,
                        })
                    }))
                    .collect();
                out.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(out)
            }
        }
    }

    /// Whether this directory exists (holds anything, in an object store).
    pub fn exists(&self) -> Result<bool, CheckpointError> {
        match self {
            Loc::Dir(p) => Ok(p.exists()),
            Loc::Object { .. } => Ok(!self.children()?.is_empty()),
        }
    }

    /// Every object under this directory (an object store's), by full key.
    fn all_keys(&self) -> Result<Vec<Key>, CheckpointError> {
        let Loc::Object { remote, .. } = self else {
            unreachable!("only objects have keys")
        };
        let prefix = self.key();
        remote
            .run(async {
                remote
                    .store
                    .list(Some(&prefix))
                    .map_ok(|m| m.location)
                    .try_collect::<Vec<_>>()
                    .await
            })
            .map_err(|e| store_error(self, e))
    }

    /// Deletes this file.
    pub fn remove(&self) -> Result<(), CheckpointError> {
        match self {
            Loc::Dir(p) => std::fs::remove_file(p).map_err(|e| io_error(p, e)),
            Loc::Object { remote, .. } => {
                let key = self.key();
                remote
                    .run(remote.store.delete(&key))
                    .map_err(|e| store_error(self, e))
            }
        }
    }

    /// Deletes this directory and everything in it.
    pub fn remove_all(&self) -> Result<(), CheckpointError> {
        match self {
            Loc::Dir(p) => std::fs::remove_dir_all(p).map_err(|e| io_error(p, e)),
            Loc::Object { remote, .. } => {
                for key in self.all_keys()? {
                    remote
                        .run(remote.store.delete(&key))
                        .map_err(|e| store_error(self, e))?;
                }
                Ok(())
            }
        }
    }

    /// Moves this directory to `to` (a rename; in an object store each object is copied, then
    /// deleted).
    pub fn move_to(&self, to: &Loc) -> Result<(), CheckpointError> {
        match (self, to) {
            (Loc::Dir(from), Loc::Dir(dest)) => {
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
                }
                std::fs::rename(from, dest).map_err(|e| io_error(from, e))
            }
            (Loc::Object { remote, key }, Loc::Object { key: dest, .. }) => {
                for k in self.all_keys()? {
                    let rest = k.as_ref().strip_prefix(key.as_str()).unwrap_or(k.as_ref());
                    let target = Key::from(format!("{dest}{rest}"));
                    remote
                        .run(async {
                            remote.store.copy(&k, &target).await?;
                            remote.store.delete(&k).await
                        })
                        .map_err(|e| store_error(self, e))?;
                }
                Ok(())
            }
            _ => Err(CheckpointError::Refused(format!(
                "cannot move {} to {}: another store",
                self.display(),
                to.display()
            ))),
        }
    }

    /// Checks that the store answers (lists this directory): a wrong bucket or an unreachable
    /// endpoint is an error at start.
    pub fn check(&self) -> Result<(), CheckpointError> {
        match self {
            Loc::Dir(_) => Ok(()),
            Loc::Object { .. } => self.children().map(|_| ()).map_err(|e| {
                let text = e.to_string().replace('\n', " ");
                let why = if text.contains("NoSuchBucket") {
                    "the bucket does not exist".to_string()
                } else if text.contains("error sending request") {
                    format!("the store does not answer ({text})")
                } else {
                    return CheckpointError::Refused(text);
                };
                CheckpointError::Refused(format!("{}: {why}", self.display()))
            }),
        }
    }
}

/// Opens the checkpoint root `url`: `s3://bucket/prefix` (or `s3a://`) with the S3 `options`
/// (Flink's names, see [`S3_OPTIONS`]; the usual `AWS_*` environment variables fill in what
/// they do not set), `file:///abs/path` as the local directory `/abs/path`.
pub fn open(url: &str, options: &BTreeMap<String, String>) -> Result<Loc, CheckpointError> {
    let refused =
        |why: String| CheckpointError::Refused(format!("checkpoint store `{url}`: {why}"));
    let parsed = url::Url::parse(url).map_err(|e| refused(format!("not a URL ({e})")))?;
    for key in options.keys() {
        if !S3_OPTIONS.contains(&key.as_str()) {
            return Err(refused(format!(
                "unknown option `{key}`; known: {}",
                S3_OPTIONS.join(", ")
            )));
        }
    }
    match parsed.scheme() {
        "file" => {
            let path = parsed.to_file_path().map_err(|_| {
                refused("a file URL names an absolute path: file:///abs/path".into())
            })?;
            Ok(Loc::Dir(path))
        }
        "s3" | "s3a" => {
            let bucket = parsed
                .host_str()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| refused("no bucket: write s3://bucket/prefix".into()))?
                .to_string();
            let prefix = parsed.path().trim_matches('/').to_string();
            // A store that does not answer is an error within seconds, not minutes of retries
            // (the client options first: `with_allow_http` is one of them).
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(&bucket)
                .with_retry(object_store::RetryConfig {
                    max_retries: 3,
                    retry_timeout: Duration::from_secs(20),
                    ..Default::default()
                })
                .with_client_options(
                    object_store::ClientOptions::new()
                        .with_connect_timeout(Duration::from_secs(5))
                        .with_timeout(Duration::from_secs(60)),
                );
            let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            let endpoint = options
                .get("s3.endpoint")
                .cloned()
                .or_else(|| env("AWS_ENDPOINT_URL"))
                .or_else(|| env("AWS_ENDPOINT"));
            if let Some(e) = &endpoint {
                b = b.with_endpoint(e);
                if e.starts_with("http://") {
                    b = b.with_allow_http(true);
                }
            }
            if let Some(k) = options.get("s3.access-key") {
                b = b.with_access_key_id(k);
            }
            if let Some(k) = options.get("s3.secret-key") {
                b = b.with_secret_access_key(k);
            }
            let region = options
                .get("s3.region")
                .cloned()
                .or_else(|| env("AWS_REGION"))
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".into());
            b = b.with_region(region);
            if let Some(v) = options.get("s3.path.style.access") {
                let path_style = match v.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(refused(format!(
                            "`s3.path.style.access` is true or false, found `{other}`"
                        )))
                    }
                };
                b = b.with_virtual_hosted_style_request(!path_style);
            }
            let store = b.build().map_err(|e| refused(e.to_string()))?;
            let remote = Remote::new(Arc::new(store), &format!("s3://{bucket}"))?;
            Ok(Loc::Object {
                remote,
                key: prefix,
            })
        }
        other => Err(refused(format!(
            "tally checkpoints to a local directory, file:// or s3:// only, not {other}://"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same operations on a local directory and on an object store (object_store's own
    /// file system, which keeps objects as files).
    fn exercise(root: Loc) {
        let a = root.join("chk-000001");
        assert!(!a.exists().unwrap());
        assert!(a.children().unwrap().is_empty());
        a.join("part-0.bin").write(b"zero").unwrap();
        a.join("part-1.bin").write(b"one!").unwrap();
        a.join("part-1.bin").write(b"one").unwrap();
        assert!(a.exists().unwrap());
        assert!(!a.join("_manifest.json").is_file().unwrap());
        a.join("_manifest.json").create(b"{}").unwrap();
        assert!(a.join("_manifest.json").is_file().unwrap());
        assert_eq!(a.join("part-1.bin").read().unwrap(), b"one");
        root.join("sinks/sink0/w0")
            .join("000001.log")
            .write(b"x")
            .unwrap();
        let names: Vec<(String, bool, u64)> = root
            .children()
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.dir, e.bytes))
            .collect();
        assert_eq!(
            names,
            [("chk-000001".into(), true, 0), ("sinks".into(), true, 0)]
        );
        let files: Vec<(String, u64)> = a
            .children()
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.bytes))
            .collect();
        assert_eq!(
            files,
            [
                ("_manifest.json".into(), 2),
                ("part-0.bin".into(), 4),
                ("part-1.bin".into(), 3)
            ]
        );
        // Moved aside (as --from-scratch does) with everything in it.
        let aside = root.join("previous-1");
        a.move_to(&aside.join("chk-000001")).unwrap();
        assert!(!a.exists().unwrap());
        assert_eq!(aside.join("chk-000001/part-0.bin").read().unwrap(), b"zero");
        aside.remove_all().unwrap();
        assert!(!aside.exists().unwrap());
        let log = root.join("sinks/sink0/w0/000001.log");
        log.remove().unwrap();
        assert!(!log.is_file().unwrap());
        assert!(root.join("nothing/here").read().is_err());
        root.check().unwrap();
    }

    #[test]
    fn a_local_directory() {
        let dir = tempfile::tempdir().unwrap();
        exercise(Loc::Dir(dir.path().join("root")));
    }

    #[test]
    fn a_file_url_is_the_local_directory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/root", dir.path().display());
        let root = open(&url, &BTreeMap::new()).unwrap();
        assert_eq!(root, Loc::Dir(dir.path().join("root")));
        exercise(root);
    }

    #[test]
    fn an_object_store() {
        let dir = tempfile::tempdir().unwrap();
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir.path())
            .unwrap()
            .with_automatic_cleanup(true);
        let remote = Remote::new(Arc::new(fs), "file:///objects").unwrap();
        let root = Loc::Object {
            remote,
            key: "some/prefix".into(),
        };
        assert_eq!(
            root.join("chk-000001").display().to_string(),
            "file:///objects/some/prefix/chk-000001"
        );
        // The manifest is put only when absent.
        let m = root.join("chk-000009/_manifest.json");
        m.create(b"first").unwrap();
        let e = m.create(b"second").unwrap_err().to_string();
        assert!(
            e.starts_with("file:///objects/some/prefix/chk-000009/_manifest.json: "),
            "{e}"
        );
        assert_eq!(m.read().unwrap(), b"first");
        root.join("chk-000009").remove_all().unwrap();
        exercise(root);
    }

    #[test]
    fn bad_urls_and_options_are_refused() {
        let none = BTreeMap::new();
        let e =
            |url: &str, opts: &BTreeMap<String, String>| open(url, opts).unwrap_err().to_string();
        assert_eq!(
            e("gs://b/p", &none),
            "checkpoint store `gs://b/p`: tally checkpoints to a local directory, file:// or \
             s3:// only, not gs://"
        );
        assert_eq!(
            e("s3:///p", &none),
            "checkpoint store `s3:///p`: no bucket: write s3://bucket/prefix"
        );
        let opts = BTreeMap::from([("s3.endpiont".to_string(), "http://x".to_string())]);
        assert_eq!(
            e("s3://b/p", &opts),
            "checkpoint store `s3://b/p`: unknown option `s3.endpiont`; known: s3.endpoint, \
             s3.access-key, s3.secret-key, s3.path.style.access, s3.region"
        );
        let opts = BTreeMap::from([("s3.path.style.access".to_string(), "yes".to_string())]);
        assert_eq!(
            e("s3://b/p", &opts),
            "checkpoint store `s3://b/p`: `s3.path.style.access` is true or false, found `yes`"
        );
        let root = open("s3://bucket/some/prefix/", &none).unwrap();
        assert_eq!(
            root.join("job-1").display().to_string(),
            "s3://bucket/some/prefix/job-1"
        );
    }
}
