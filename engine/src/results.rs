//! What `--http` shows of each query's result: a copy of its sink's table, kept up to date by
//! the sink's flushes (never per input row), and each flush's changes as one numbered batch, for
//! `/api/queries/NAME/rows` and the change stream `/api/queries/NAME/changes`.
//!
//! The copy is exact for a table whose rows stay (a GROUP BY without a window, a CSV `final`
//! table). A windowed table on an endless stream grows with every window, at the server and
//! here alike; here it keeps the newest `http.result-rows` rows (the oldest windows go first),
//! which is what a dashboard shows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Value as J};
use tally_connectors::Change;
use tally_sql::plan::Plan;
use tally_sql::types::JsonValue;
use tally_sql::{Row, Value};
use tokio::sync::broadcast;

/// How many rows a windowed result keeps by default (`http.result-rows`).
pub const DEFAULT_ROWS_KEPT: usize = 10_000;

/// Batches a change stream holds for a client that reads slowly; one that falls further behind
/// gets the whole table again.
const STREAM_BATCHES: usize = 256;

/// Every query's result, by sink, in plan order.
pub struct Results {
    pub queries: Vec<QueryResult>,
}

impl Results {
    pub fn new(plan: &Plan, rows_kept: usize) -> Results {
        let queries = plan
            .sinks
            .iter()
            .map(|s| {
                let label = plan
                    .nodes
                    .get(s.input)
                    .map_or_else(|| format!("INSERT INTO {}", s.table), |n| n.label.clone());
                QueryResult::new(
                    &s.table,
                    &label,
                    s.schema.fields.iter().map(|f| f.name.clone()).collect(),
                    s.key.clone(),
                    s.version,
                    rows_kept.max(1),
                )
            })
            .collect();
        Results { queries }
    }

    pub fn get(&self, name: &str) -> Option<&QueryResult> {
        self.queries.iter().find(|q| q.name == name)
    }
}

/// What a flush changed, as the sink wrote it (rows without the hidden column).
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Numbers the batches of one query from 1, with no gap.
    pub seq: u64,
    pub changes: Vec<Change>,
    /// The batch as a whole `changes` event of a Server-Sent Events stream, made once by the
    /// first stream that sends it; every stream sends the same bytes.
    event: std::sync::OnceLock<bytes::Bytes>,
}

/// One query's result table.
pub struct QueryResult {
    /// The sink table's name: how the API names the query.
    pub name: String,
    /// The statement (`INSERT INTO dest`): the `query` label of the metrics.
    pub label: String,
    pub columns: Vec<String>,
    key: Option<Vec<usize>>,
    /// The hidden window-start column, after `columns`.
    version: Option<usize>,
    rows_kept: usize,
    view: Mutex<View>,
    changes: broadcast::Sender<Arc<Batch>>,
}

#[derive(Default)]
struct View {
    /// Key -> the row (with its hidden column) and how often it occurs (1 for a keyed table).
    rows: BTreeMap<Row, (Row, u64)>,
    /// Keys by their row's window start (a windowed table), to drop the oldest windows.
    by_window: BTreeMap<i64, BTreeSet<Row>>,
    seq: u64,
    /// Rows dropped to keep `rows_kept`.
    dropped: u64,
}

/// A page of a result table.
#[derive(Debug, PartialEq)]
pub struct Page {
    /// Rows in the table (each occurrence counted).
    pub total: u64,
    /// The batch the page reflects.
    pub seq: u64,
    pub rows: Vec<Row>,
    /// Rows of old windows no longer kept.
    pub dropped: u64,
}

impl QueryResult {
    fn new(
        name: &str,
        label: &str,
        columns: Vec<String>,
        key: Option<Vec<usize>>,
        version: Option<usize>,
        rows_kept: usize,
    ) -> QueryResult {
        QueryResult {
            name: name.to_string(),
            label: label.to_string(),
            columns,
            key,
            version,
            rows_kept,
            view: Mutex::new(View::default()),
            changes: broadcast::channel(STREAM_BATCHES).0,
        }
    }

    fn view(&self) -> MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn key_of(&self, row: &Row) -> Row {
        match &self.key {
            Some(cols) => cols.iter().map(|&i| row[i].clone()).collect(),
            None => self.visible(row),
        }
    }

    fn visible(&self, row: &Row) -> Row {
        match self.version {
            Some(v) if v <= row.len() => row[..v].to_vec(),
            _ => row.clone(),
        }
    }

    fn window_of(&self, row: &Row) -> Option<i64> {
        match self.version.and_then(|v| row.get(v)) {
            Some(Value::Int(start)) => Some(*start),
            _ => None,
        }
    }

    /// Applies one flush's changes (rows with their hidden column) and sends them, numbered,
    /// to the change streams. A sink calls it after the server has them.
    pub fn publish(&self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let mut view = self.view();
        // A batch with more rows than the table keeps (a final flush of a windowed table): rows
        // of windows older than the newest `rows_kept` rows' would be dropped at once, so they
        // are not added at all.
        let oldest_kept = self.oldest_kept(changes);
        for c in changes {
            if let (Some(oldest), Change::Insert(r) | Change::Update(r)) = (oldest_kept, c) {
                if self.window_of(r).is_some_and(|w| w < oldest)
                    && !view.rows.contains_key(&self.key_of(r))
                {
                    view.dropped += 1;
                    continue;
                }
            }
            self.apply(&mut view, c);
        }
        self.keep_newest(&mut view);
        view.seq += 1;
        // Sent under the lock: a stream that takes the table and subscribes under it misses no
        // batch and sees none twice. With no stream open, nothing is made to be sent.
        if self.changes.receiver_count() > 0 {
            let batch = Batch {
                seq: view.seq,
                changes: changes.iter().map(|c| self.shown(c)).collect(),
                event: std::sync::OnceLock::new(),
            };
            let _ = self.changes.send(Arc::new(batch));
        }
    }

    /// For a windowed table and a batch of more rows than it keeps: the window start of its
    /// `rows_kept`-th newest row (older rows cannot stay).
    fn oldest_kept(&self, changes: &[Change]) -> Option<i64> {
        if self.version.is_none() || changes.len() <= self.rows_kept {
            return None;
        }
        let mut windows: Vec<i64> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Insert(r) | Change::Update(r) => self.window_of(r),
                Change::Delete(_) => None,
            })
            .collect();
        if windows.len() <= self.rows_kept {
            return None;
        }
        let at = windows.len() - self.rows_kept;
        Some(*windows.select_nth_unstable(at).1)
    }

    /// A restored sink's table (rows with their hidden column): the copy starts from it.
    pub fn seed(&self, rows: impl IntoIterator<Item = Row>) {
        let mut view = self.view();
        for row in rows {
            self.apply(&mut view, &Change::Insert(row));
        }
        self.keep_newest(&mut view);
    }

    fn shown(&self, c: &Change) -> Change {
        match c {
            Change::Insert(r) => Change::Insert(self.visible(r)),
            Change::Update(r) => Change::Update(self.visible(r)),
            Change::Delete(r) => Change::Delete(self.visible(r)),
        }
    }

    fn apply(&self, view: &mut View, c: &Change) {
        let (Change::Insert(row) | Change::Update(row) | Change::Delete(row)) = c;
        let key = self.key_of(row);
        let delete = matches!(c, Change::Delete(_));
        let old_window = view.rows.get(&key).and_then(|(r, _)| self.window_of(r));
        let keyed = self.key.is_some();
        // How often the key's row occurs after the change.
        let left = match view.rows.get_mut(&key) {
            Some(entry) if delete => {
                entry.1 = entry.1.saturating_sub(1);
                if keyed {
                    0
                } else {
                    entry.1
                }
            }
            Some(entry) if keyed => {
                *entry = (row.clone(), 1);
                1
            }
            Some(entry) => {
                entry.1 += 1;
                entry.1
            }
            None if delete => return,
            None => {
                view.rows.insert(key.clone(), (row.clone(), 1));
                1
            }
        };
        let new_window = if left == 0 {
            view.rows.remove(&key);
            None
        } else {
            self.window_of(row)
        };
        if old_window != new_window {
            if let Some(w) = old_window {
                if let Some(keys) = view.by_window.get_mut(&w) {
                    keys.remove(&key);
                    if keys.is_empty() {
                        view.by_window.remove(&w);
                    }
                }
            }
            if let Some(w) = new_window {
                view.by_window.entry(w).or_default().insert(key);
            }
        }
    }

    /// Drops the oldest windows' rows while a windowed table holds more than `rows_kept`.
    fn keep_newest(&self, view: &mut View) {
        while view.rows.len() > self.rows_kept {
            let Some((_, keys)) = view.by_window.pop_first() else {
                return;
            };
            for k in keys {
                if let Some((_, n)) = view.rows.remove(&k) {
                    view.dropped += n;
                }
            }
        }
    }

    /// `limit` rows from `offset`, in key order, or ordered by a column (`desc`: largest first;
    /// rows that tie stay in key order).
    pub fn page(&self, offset: usize, limit: usize, order: Option<(usize, bool)>) -> Page {
        let view = self.view();
        let total = view.rows.values().map(|(_, n)| *n).sum();
        let each = |(r, n): &(Row, u64)| std::iter::repeat_n(self.visible(r), *n as usize);
        let rows = match order {
            None => view
                .rows
                .values()
                .flat_map(each)
                .skip(offset)
                .take(limit)
                .collect(),
            Some((col, desc)) => {
                let mut all: Vec<&(Row, u64)> = view.rows.values().collect();
                all.sort_by(|a, b| {
                    let o = a.0.get(col).cmp(&b.0.get(col));
                    if desc {
                        o.reverse()
                    } else {
                        o
                    }
                });
                all.into_iter()
                    .flat_map(each)
                    .skip(offset)
                    .take(limit)
                    .collect()
            }
        };
        Page {
            total,
            seq: view.seq,
            rows,
            dropped: view.dropped,
        }
    }

    /// The whole table now and every batch after it, with nothing missed or repeated between.
    pub fn subscribe(&self) -> (Page, broadcast::Receiver<Arc<Batch>>) {
        let view = self.view();
        let rx = self.changes.subscribe();
        drop(view);
        // The lock is taken again for the page; a batch published in between is in the page and
        // also in the stream, so the stream skips batches up to the page's number.
        (self.page(0, usize::MAX, None), rx)
    }

    /// A row as a JSON object by column name.
    /// A row as a JSON object, its columns by name (in the table's order).
    pub fn row_json(&self, row: &Row) -> J {
        json!(RowJson(&self.columns, row))
    }

    /// A page of the table: `{"query", "columns", "total", "seq", "dropped", "rows"}`.
    pub fn page_json(&self, page: &Page) -> J {
        json!(PageJson(self, page))
    }

    /// The current table as a `snapshot` event of a change stream (its `id` the last batch's
    /// number).
    pub fn page_event(&self, page: &Page) -> bytes::Bytes {
        sse_event("snapshot", page.seq, &PageJson(self, page))
    }

    /// [`QueryResult::batch_json`] as a `changes` event (its `id` the batch's number), made once
    /// however many streams send it: a copy shares the bytes.
    pub fn batch_event(&self, b: &Batch) -> bytes::Bytes {
        b.event
            .get_or_init(|| sse_event("changes", b.seq, &BatchJson(self, b)))
            .clone()
    }

    /// A batch: `{"seq", "changes": [{"op": "insert" | "update" | "delete", "row"}]}`.
    pub fn batch_json(&self, b: &Batch) -> J {
        json!(BatchJson(self, b))
    }

    /// The key columns (`None`: the whole row).
    pub fn key(&self) -> Option<&[usize]> {
        self.key.as_deref()
    }

    /// The names of the key columns (all of them for a table without a key): the order rows
    /// merged from several processes are shown in.
    pub fn key_columns(&self) -> Vec<String> {
        match self.key() {
            Some(k) => k.iter().map(|&i| self.columns[i].clone()).collect(),
            None => self.columns.clone(),
        }
    }
}

// The JSON the API shows, written straight to its output: a batch of a large flush is many
// thousands of rows, and a `serde_json::Value` tree of them first would cost the process more
// than writing them (its pages are fresh each time).

struct RowJson<'a>(&'a [String], &'a Row);

impl Serialize for RowJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(
            self.0
                .iter()
                .zip(self.1.iter())
                .map(|(n, v)| (n.as_str(), JsonValue(v))),
        )
    }
}

struct PageJson<'a>(&'a QueryResult, &'a Page);

impl Serialize for PageJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (q, page) = (self.0, self.1);
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("query", &q.name)?;
        m.serialize_entry("columns", &q.columns)?;
        m.serialize_entry("total", &page.total)?;
        m.serialize_entry("seq", &page.seq)?;
        m.serialize_entry("dropped", &page.dropped)?;
        let rows = Rows(&q.columns, &page.rows);
        m.serialize_entry("rows", &rows)?;
        m.end()
    }
}

struct Rows<'a>(&'a [String], &'a [Row]);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.1.iter().map(|r| RowJson(self.0, r)))
    }
}

struct BatchJson<'a>(&'a QueryResult, &'a Batch);

impl Serialize for BatchJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (q, b) = (self.0, self.1);
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("seq", &b.seq)?;
        let changes = Changes(&q.columns, &b.changes);
        m.serialize_entry("changes", &changes)?;
        m.end()
    }
}

struct Changes<'a>(&'a [String], &'a [Change]);

impl Serialize for Changes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.1.iter().map(|c| {
            let (op, row) = match c {
                Change::Insert(r) => ("insert", r),
                Change::Update(r) => ("update", r),
                Change::Delete(r) => ("delete", r),
            };
            ChangeJson(op, RowJson(self.0, row))
        }))
    }
}

struct ChangeJson<'a>(&'static str, RowJson<'a>);

impl Serialize for ChangeJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("op", self.0)?;
        m.serialize_entry("row", &self.1)?;
        m.end()
    }
}

/// One Server-Sent Events event: its type, its `id` and JSON as its data. JSON text has no
/// line break outside its strings (and escapes those in them), so it is one `data:` line.
pub fn sse_event(event: &str, id: u64, data: &impl Serialize) -> bytes::Bytes {
    use std::io::Write;
    let mut out = Vec::new();
    // Writing to a Vec cannot fail, and the API's JSON always serializes.
    let _ = write!(out, "event: {event}\nid: {id}\ndata: ");
    let _ = serde_json::to_writer(&mut out, data);
    out.extend_from_slice(b"\n\n");
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    fn keyed(version: Option<usize>, kept: usize) -> QueryResult {
        QueryResult::new(
            "dest",
            "INSERT INTO dest",
            vec!["k".into(), "n".into()],
            Some(vec![0]),
            version,
            kept,
        )
    }

    #[test]
    fn a_keyed_table_follows_upserts_and_deletes_and_numbers_its_batches() {
        let q = keyed(None, 100);
        let (first, mut rx) = q.subscribe();
        assert_eq!(first.rows, Vec::<Row>::new());
        q.publish(&[
            Change::Insert(vec![s("a"), Value::Int(1)]),
            Change::Insert(vec![s("b"), Value::Int(2)]),
        ]);
        q.publish(&[
            Change::Update(vec![s("a"), Value::Int(3)]),
            Change::Delete(vec![s("b"), Value::Int(2)]),
        ]);
        q.publish(&[]);
        let page = q.page(0, 10, None);
        assert_eq!(
            page,
            Page {
                total: 1,
                seq: 2,
                rows: vec![vec![s("a"), Value::Int(3)]],
                dropped: 0
            }
        );
        let b1 = rx.try_recv().unwrap();
        let b2 = rx.try_recv().unwrap();
        assert_eq!((b1.seq, b2.seq), (1, 2));
        assert_eq!(
            b2.changes,
            vec![
                Change::Update(vec![s("a"), Value::Int(3)]),
                Change::Delete(vec![s("b"), Value::Int(2)]),
            ]
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_windowed_table_keeps_its_newest_windows_and_hides_the_window_column() {
        // Rows: key, n, then the hidden window start.
        let q = QueryResult::new(
            "dest",
            "INSERT INTO dest",
            vec!["k".into(), "n".into()],
            Some(vec![0, 2]),
            Some(2),
            3,
        );
        let row = |k: &str, n: i64, w: i64| vec![s(k), Value::Int(n), Value::Int(w)];
        q.publish(&[
            Change::Insert(row("a", 1, 0)),
            Change::Insert(row("b", 1, 0)),
            Change::Insert(row("a", 2, 60)),
        ]);
        q.publish(&[Change::Insert(row("b", 5, 60))]);
        let page = q.page(0, 10, Some((1, true)));
        assert_eq!(
            page.rows,
            vec![vec![s("b"), Value::Int(5)], vec![s("a"), Value::Int(2)]]
        );
        assert_eq!((page.total, page.dropped), (2, 2));
    }

    #[test]
    fn a_batch_larger_than_the_table_keeps_only_its_newest_windows() {
        let q = QueryResult::new(
            "dest",
            "INSERT INTO dest",
            vec!["k".into(), "n".into()],
            Some(vec![0, 2]),
            Some(2),
            4,
        );
        let row = |k: &str, w: i64| vec![s(k), Value::Int(w), Value::Int(w)];
        // Ten windows of one key, newest last; the table keeps four.
        let changes: Vec<Change> = (0..10).map(|w| Change::Insert(row("a", w))).collect();
        q.publish(&changes);
        let page = q.page(0, 10, None);
        assert_eq!(
            page.rows,
            (6..10)
                .map(|w| vec![s("a"), Value::Int(w)])
                .collect::<Vec<Row>>()
        );
        assert_eq!((page.total, page.dropped, page.seq), (4, 6, 1));
    }

    #[test]
    fn a_table_without_key_counts_equal_rows() {
        let q = QueryResult::new("d", "INSERT INTO d", vec!["x".into()], None, None, 10);
        q.publish(&[
            Change::Insert(vec![Value::Int(1)]),
            Change::Insert(vec![Value::Int(1)]),
            Change::Insert(vec![Value::Int(2)]),
        ]);
        q.publish(&[Change::Delete(vec![Value::Int(1)])]);
        let page = q.page(0, 10, None);
        assert_eq!(page.rows, vec![vec![Value::Int(1)], vec![Value::Int(2)]]);
        q.publish(&[Change::Delete(vec![Value::Int(1)])]);
        assert_eq!(q.page(0, 10, None).rows, vec![vec![Value::Int(2)]]);
        assert_eq!(q.page(1, 10, None).rows, Vec::<Row>::new());
    }
}
