//! The dataflow plan handed to the engine: a documented enum with no decisions left in it.
//!
//! A [`Plan`] is a list of [`Node`]s in dependency order (a node only reads nodes before it),
//! the sources they start from and the sinks they end in. The engine renders each node with one
//! match arm, one file per node kind (`engine/src/render/`).
//!
//! Every node's output is a collection of rows that can change: a row is added (+1) or retracted
//! (-1). Sources only add. An [`Node::Aggregate`] revises its rows while their window is open
//! and freezes them when it closes: a closed window's rows are never retracted.

use std::fmt;

pub use crate::ast::WindowMod;
use crate::catalog::{Emit, SinkConfig, SinkOptions, SourceConfig};
use crate::expr::ScalarExpr;
use crate::types::{DataType, Schema};

pub type NodeId = usize;

/// Job-wide settings.
#[derive(Clone, Debug, PartialEq)]
pub struct JobSettings {
    /// How far behind the largest event time seen a row may be and still count.
    pub lateness_ms: u64,
    /// After this long without rows, a live source stops holding windows back.
    pub idle_timeout_ms: u64,
    /// Rows per batch of bounded sources (`chunk.rows`); a batch is the unit of progress and
    /// of the watermark. `None`: the engine's default.
    pub chunk_rows: Option<usize>,
    /// Watermark lanes per epoch: 1, or [`LANES`] when watermarks are kept per lane: per
    /// partition of a live Kafka topic, and per source when a windowed query reads several
    /// streams (a UNION ALL), so that the watermark is their minimum. An epoch is then
    /// `batch * LANES + lane`; see [`Plan::lane`].
    pub lanes: u64,
    /// FOR iterations one EXECUTE may run for one row (`execute.max.iterations`); past it the
    /// row is skipped and counted as bad.
    pub max_iterations: u64,
    /// Checkpoints (`execution.checkpointing.*`); off unless an interval or a directory is set.
    pub checkpoint: CheckpointSettings,
    /// `http.address`: where `tally run` serves metrics (as `--http` does); `http.token`: the
    /// bearer token every request must carry.
    pub http_address: Option<String>,
    pub http_token: Option<String>,
    /// `http.result-rows`: how many rows of a windowed result the HTTP API keeps.
    pub http_result_rows: Option<usize>,
}

/// When and where a job checkpoints its state, with Flink's setting names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointSettings {
    /// `execution.checkpointing.interval`: a checkpoint at the first epoch that closes after
    /// each interval. `None`: the job does not checkpoint unless a directory is set (then every
    /// [`CheckpointSettings::DEFAULT_INTERVAL_MS`]).
    pub interval_ms: Option<u64>,
    /// `execution.checkpointing.dir` (Flink 1.x: `state.checkpoints.dir`).
    pub dir: Option<String>,
    /// `execution.checkpointing.num-retained`: complete checkpoints kept.
    pub num_retained: usize,
    /// `execution.checkpointing.tolerable-failed-checkpoints`: failures in a row before the
    /// job stops.
    pub tolerable_failures: u32,
    /// `s3.endpoint`, `s3.access-key`, `s3.secret-key`, `s3.path.style.access`, `s3.region`:
    /// how to reach an `s3://` checkpoint directory, by key.
    pub s3: std::collections::BTreeMap<String, String>,
}

impl CheckpointSettings {
    pub const DEFAULT_INTERVAL_MS: u64 = 10_000;

    /// Whether the job asked for checkpoints.
    pub fn enabled(&self) -> bool {
        self.interval_ms.is_some() || self.dir.is_some()
    }
}

impl Default for CheckpointSettings {
    fn default() -> Self {
        CheckpointSettings {
            interval_ms: None,
            dir: None,
            num_retained: 3,
            tolerable_failures: 3,
            s3: Default::default(),
        }
    }
}

/// How many lanes an epoch has when sources keep a watermark per partition.
pub const LANES: u64 = 1024;

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            lateness_ms: 30_000,
            idle_timeout_ms: 10_000,
            chunk_rows: None,
            lanes: 1,
            max_iterations: 100_000,
            checkpoint: CheckpointSettings::default(),
            http_address: None,
            http_token: None,
            http_result_rows: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub settings: JobSettings,
    pub sources: Vec<SourcePlan>,
    pub nodes: Vec<PlanNode>,
    pub sinks: Vec<SinkPlan>,
}

impl Plan {
    /// For each node, the stream sources whose rows reach it (a join's dimension side does not
    /// count: its rows carry no event time).
    pub fn stream_sources(&self) -> Vec<std::collections::BTreeSet<usize>> {
        let mut out: Vec<std::collections::BTreeSet<usize>> = Vec::with_capacity(self.nodes.len());
        for n in &self.nodes {
            let set = match &n.node {
                Node::Source { source } if !self.sources[*source].dimension => {
                    std::iter::once(*source).collect()
                }
                Node::Source { .. } => Default::default(),
                Node::Filter { input, .. }
                | Node::Map { input, .. }
                | Node::Upsert { input, .. } => out[*input].clone(),
                Node::Aggregate(a) => out[a.input].clone(),
                Node::Union { inputs } => inputs.iter().flat_map(|i| out[*i].clone()).collect(),
                Node::LeftJoin(j) => out[j.stream].clone(),
                Node::Join(j) => out[j.left].union(&out[j.right]).copied().collect(),
                Node::TopN(t) => out[t.input].clone(),
            };
            out.push(set);
        }
        out
    }

    /// Whether a node keeps a watermark: a windowed aggregate, or a join that keeps stream
    /// rows until their window is final.
    pub fn keeps_watermark(node: &Node) -> bool {
        match node {
            Node::Aggregate(a) => a.window.is_some(),
            Node::LeftJoin(j) => j.retain.is_some(),
            _ => false,
        }
    }

    /// The joins of each operator: group `g` holds, in node order, the joins whose
    /// [`JoinPlan::group`] is `g`.
    pub fn join_groups(&self) -> Vec<Vec<NodeId>> {
        let mut groups: Vec<Vec<NodeId>> = Vec::new();
        for (id, n) in self.nodes.iter().enumerate() {
            if let Node::LeftJoin(j) = &n.node {
                if groups.len() <= j.group {
                    groups.resize(j.group + 1, Vec::new());
                }
                groups[j.group].push(id);
            }
        }
        groups
    }

    /// The global watermark lane of a row of `source` that the source put in its own lane
    /// `source_lane` (a Kafka partition's; 0 otherwise): each source has its own range of
    /// `LANES / sources` lanes.
    pub fn lane(&self, source: usize, source_lane: u64) -> u64 {
        if self.settings.lanes <= 1 {
            return 0;
        }
        let stride = (self.settings.lanes / self.sources.len().max(1) as u64).max(1);
        (source as u64 * stride + source_lane % stride) % self.settings.lanes
    }
}

/// One table read by the job. Several queries reading one table share one source.
#[derive(Clone, Debug)]
pub struct SourcePlan {
    pub table: String,
    pub schema: Schema,
    pub config: SourceConfig,
    /// Read as a dimension: its rows as they stand when the job starts arrive in the first
    /// epoch, and (for a followed file) later lines as changes.
    pub dimension: bool,
    /// Each row is fed with two more BIGINT columns, its position in the source: the epoch of
    /// the source's batch (before a dimension's epoch is moved to the streams') and its place
    /// among that batch's rows on the worker that read it. A batch is read by one worker, in
    /// the source's order (a file's chunk, a table read by worker 0), so of two rows of one
    /// epoch the later in the source has the greater position, whatever order workers deliver
    /// them in. Set for a dimension upserted by key ([`Node::Upsert`] orders by it).
    pub positioned: bool,
}

impl Node {
    /// The nodes this node reads.
    pub fn inputs(&self) -> Vec<NodeId> {
        match self {
            Node::Source { .. } => vec![],
            Node::Filter { input, .. } | Node::Map { input, .. } | Node::Upsert { input, .. } => {
                vec![*input]
            }
            Node::Aggregate(a) => std::iter::once(a.input).chain(a.watermark_from).collect(),
            Node::Union { inputs } => inputs.clone(),
            Node::LeftJoin(j) => vec![j.stream, j.dim],
            Node::Join(j) => vec![j.left, j.right],
            Node::TopN(t) => vec![t.input],
        }
    }
}

/// A node, its output columns and the statement it was planned for.
#[derive(Clone, Debug)]
pub struct PlanNode {
    pub node: Node,
    pub schema: Schema,
    /// Which statement this node belongs to (`WITH tmp`, `INSERT INTO dest`), for `explain`.
    pub label: String,
}

#[derive(Clone, Debug)]
pub enum Node {
    /// The rows of `sources[source]`.
    Source { source: usize },
    /// The rows of `input` for which `predicate` is true.
    Filter {
        input: NodeId,
        predicate: ScalarExpr,
    },
    /// Each row of `input` mapped to `exprs` evaluated on it.
    Map {
        input: NodeId,
        exprs: Vec<ScalarExpr>,
    },
    /// GROUP BY with aggregates, optionally in event-time windows.
    Aggregate(AggregatePlan),
    /// UNION ALL: the rows of all inputs (same columns).
    Union { inputs: Vec<NodeId> },
    /// A dimension's rows made an upserted table: a row replaces the earlier row with the same
    /// `key` (a `-old +new` change). Planned once per dimension table. An epoch's changes count
    /// by their net effect; of several rows of one key in one epoch, the one with the greatest
    /// `version` column wins when there is one (and an older version never replaces a newer
    /// row), else the latest in its source: by the two [position](SourcePlan::positioned)
    /// columns from `position` on when the input has them (they are not in the output), else
    /// the last to arrive.
    Upsert {
        input: NodeId,
        key: Vec<usize>,
        version: Option<usize>,
        position: Option<usize>,
    },
    /// `stream LEFT JOIN dim ON ...`: each stream row with every dimension row whose key equals
    /// its key and for which `residual` holds, or with NULLs when there is none. A change of the
    /// dimension revises the output of the stream rows still retained.
    LeftJoin(JoinPlan),
    /// `a [INNER] JOIN b ON ...` of two streams (or query results), Flink's regular join: the
    /// rows of `left` and `right` whose keys are equal and for which `residual` holds, as
    /// `left`'s columns then `right`'s. Both inputs are kept for the life of the job; a change
    /// of either side joins the other side's rows.
    Join(StreamJoinPlan),
    /// Flink's top-N (`ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...)` kept `<= limit`):
    /// per partition, the first `limit` rows in `order`, each with its rank (from 1) as one
    /// more BIGINT column. A change that moves rows up or down retracts and adds their ranked
    /// rows. Ties in `order` are broken by the whole row, so the ranks are deterministic.
    TopN(TopNPlan),
}

/// Flink's top-N over `input`.
#[derive(Clone, Debug)]
pub struct TopNPlan {
    pub input: NodeId,
    pub partition: Vec<ScalarExpr>,
    /// ORDER BY expressions, each `true` when DESC (NULL is the least value).
    pub order: Vec<(ScalarExpr, bool)>,
    pub limit: u64,
    /// The input never retracts a row: a row that falls out of a partition's first `limit`
    /// can never come back, so only `limit` rows are kept per partition.
    pub append_only: bool,
}

/// An inner join of two streams on equal keys.
#[derive(Clone, Debug)]
pub struct StreamJoinPlan {
    pub left: NodeId,
    pub right: NodeId,
    /// Key expressions over a left row and, pairwise equal, over a right row. A row with a
    /// NULL in its key matches nothing.
    pub left_key: Vec<ScalarExpr>,
    pub right_key: Vec<ScalarExpr>,
    /// The rest of the ON condition, over the joined row.
    pub residual: Option<ScalarExpr>,
}

/// A left join of a stream with a dimension.
#[derive(Clone, Debug)]
pub struct JoinPlan {
    pub stream: NodeId,
    pub dim: NodeId,
    /// Key expressions over the stream row and, pairwise equal, over the dimension row.
    pub stream_key: Vec<ScalarExpr>,
    pub dim_key: Vec<ScalarExpr>,
    /// The rest of the ON condition, over the joined row (stream columns, then dimension's).
    pub residual: Option<ScalarExpr>,
    /// Columns of the dimension rows (the NULLs of an unmatched row).
    pub dim_width: usize,
    /// How long stream rows are kept so that dimension changes can revise them: until the
    /// window of the query that reads the join is final. `None`: for the life of the job.
    pub retain: Option<Retention>,
    /// The joins of one group run in one operator ([`Plan::join_groups`]): they join one
    /// dimension node on one key (equal `dim_key`s), and none reads another's output (one
    /// operator cannot feed itself). Numbered from 0 in the order of their first join.
    pub group: usize,
    /// Flink's lookup join (`JOIN dim FOR SYSTEM_TIME AS OF ...`): a stream row that no
    /// dimension row matches gives nothing, instead of a row with NULLs.
    pub inner: bool,
}

/// Stream rows are kept until the window (of `size_ms`, on `time`) they fall in is final.
#[derive(Clone, Debug)]
pub struct Retention {
    /// The event time over the stream row.
    pub time: ScalarExpr,
    pub size_ms: u64,
    pub lateness_ms: u64,
}

/// Grouping and aggregation. Output columns: the keys, then the window start (`AGGRTIME`,
/// epoch ms) when windowed, then one column per aggregate.
#[derive(Clone, Debug)]
pub struct AggregatePlan {
    pub input: NodeId,
    /// Where the watermark's event times are read when not from `input`: the rows before the
    /// query's WHERE. A filter does not hold the watermark back (a selective WHERE would keep
    /// windows open until the next matching row), and a join before the WHERE and the
    /// aggregate after it agree on which windows are final.
    pub watermark_from: Option<NodeId>,
    /// Group key expressions over the input row; empty for one global group.
    pub keys: Vec<ScalarExpr>,
    pub window: Option<WindowPlan>,
    pub aggs: Vec<AggCall>,
    /// The distinct argument expressions of `aggs`, one slot each: a row is prepared as its
    /// keys, its window start, then these values, and each aggregate reads the slot
    /// [`AggCall::slot`] (aggregates of one argument, `count(qq)`, `countd(qq)`,
    /// `count(qq ACCU)`, share it). `count(*)` reads a `TRUE` slot.
    pub args: Vec<ScalarExpr>,
    /// `Final`: rows are emitted once, when their window closes (or at the end of the input for
    /// a query without windows). `Changes`: rows are revised as input arrives.
    pub emit: Emit,
}

/// Event-time windows: tumbling aggr windows (panes), and optionally accumulating (ACCU) and
/// sliding (SW) windows built from the panes.
#[derive(Clone, Debug)]
pub struct WindowPlan {
    /// The event time of a row, epoch ms (COORDINATE BY, or processing time).
    pub time: ScalarExpr,
    /// The aggr window: one output row per group and aggr window.
    pub size_ms: u64,
    /// `WITH ACCU INTERVAL`: `agg(x ACCU)` of the aggr window ending at E covers
    /// `[floor((E-1)/accu)*accu, E)`. A whole multiple of `size_ms`.
    pub accu_ms: Option<u64>,
    /// `WITH SW INTERVAL`: `agg(x SW)` of the aggr window ending at E covers `[E-sw, E)`.
    /// A whole multiple of `size_ms`.
    pub sw_ms: Option<u64>,
    pub lateness_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    /// `count(*)`, `count(1)`: rows. With an argument: non-NULL values.
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// `countd(x)`, `count(DISTINCT x)`: exact number of distinct non-NULL values.
    CountDistinct,
    SumDistinct,
    AvgDistinct,
    /// `countd_hllp(x)`: approximate distinct count (HyperLogLog, about 0.8% error).
    CountDistinctHll,
    /// `hllp(x)`: the HyperLogLog sketch itself, as text for `hllp_merge` / `hllp_get`.
    HllSketch,
    /// `collect_set(x)`: the distinct non-NULL values, as an ARRAY in value order.
    CollectSet,
    /// `collect_list(x)`: every non-NULL value, duplicates kept, as an ARRAY in value order
    /// (a stream's arrival order is not stable under retractions, so tally sorts).
    CollectList,
}

impl AggFunc {
    /// Whether the aggregate can only add values: it cannot take a retraction.
    pub fn append_only(self) -> bool {
        matches!(self, AggFunc::CountDistinctHll | AggFunc::HllSketch)
    }

    pub fn name(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Sum => "sum",
            AggFunc::Avg => "avg",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
            AggFunc::CountDistinct => "countd",
            AggFunc::SumDistinct => "sum_distinct",
            AggFunc::AvgDistinct => "avg_distinct",
            AggFunc::CountDistinctHll => "countd_hllp",
            AggFunc::HllSketch => "hllp",
            AggFunc::CollectSet => "collect_set",
            AggFunc::CollectList => "collect_list",
        }
    }
}

#[derive(Clone, Debug)]
pub struct AggCall {
    pub func: AggFunc,
    /// `None` for `count(*)` / `count(1)`.
    pub arg: Option<ScalarExpr>,
    /// The type of the argument (after implicit casts) and of the result.
    pub arg_type: DataType,
    pub result_type: DataType,
    /// Which window the aggregate covers: the aggr window, or the ACCU / SW window ending with it.
    pub window: WindowMod,
    /// Where its argument is in [`AggregatePlan::args`].
    pub slot: usize,
}

/// A result table: rows of `input` written to a sink.
#[derive(Clone, Debug)]
pub struct SinkPlan {
    pub input: NodeId,
    pub table: String,
    pub schema: Schema,
    /// The columns that identify a row of the result table (upserts replace by them), all of
    /// `schema` (never the hidden `version` column). Empty key: the table has one row. `None`:
    /// the whole row is the key.
    pub key: Option<Vec<usize>>,
    /// A hidden last column (after `schema`'s) holding the row's window start: a row replaces
    /// the row of its key only if its window is not older, so a result that does not show
    /// AGGRTIME keeps each group's newest window. It is not written.
    pub version: Option<usize>,
    /// The window size (ms) of a windowed result whose key includes its window (AGGRTIME or a
    /// column computed from it): a row whose window is final never changes again, so a sink
    /// that does not rewrite the whole table forgets it once the watermark passes its window's
    /// end (read from the `version` column), and its memory stays flat on an endless stream.
    /// `None` for a sink that rewrites its whole table at each flush (CSV `final`): it keeps
    /// every row.
    pub frozen_after_ms: Option<u64>,
    pub config: SinkConfig,
    pub options: SinkOptions,
}

/// Columns as `name TYPE, ...`.
fn columns(schema: &Schema) -> String {
    let cols: Vec<String> = schema
        .fields
        .iter()
        .map(|f| format!("{} {}", f.name, f.ty))
        .collect();
    cols.join(", ")
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    let items: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    items.join(", ")
}

impl fmt::Display for AggCall {
    /// `count(#1)@0`: the aggregate, its argument and its argument's slot.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = match self.window {
            WindowMod::Aggr => "",
            WindowMod::Accu => " ACCU",
            WindowMod::Sw => " SW",
        };
        match &self.arg {
            Some(arg) => write!(f, "{}({arg}{m})@{}", self.func.name(), self.slot),
            None => write!(f, "{}(*{m})@{}", self.func.name(), self.slot),
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Source { source } => write!(f, "Source {source}"),
            Node::Filter { input, predicate } => write!(f, "Filter {input} where {predicate}"),
            Node::Map { input, exprs } => write!(f, "Map {input} -> [{}]", list(exprs)),
            Node::Aggregate(a) => {
                write!(
                    f,
                    "Aggregate {} keys [{}] args [{}] aggs [{}]",
                    a.input,
                    list(&a.keys),
                    list(&a.args),
                    list(&a.aggs)
                )?;
                if let Some(w) = &a.window {
                    write!(
                        f,
                        " window tumbling {} ms on {} lateness {} ms",
                        w.size_ms, w.time, w.lateness_ms
                    )?;
                    if let Some(a) = w.accu_ms {
                        write!(f, " accu {a} ms")?;
                    }
                    if let Some(s) = w.sw_ms {
                        write!(f, " sw {s} ms")?;
                    }
                }
                if let Some(from) = a.watermark_from {
                    write!(f, " watermark from node {from}")?;
                }
                write!(f, " emit {:?}", a.emit)
            }
            Node::Union { inputs } => write!(f, "Union {inputs:?}"),
            Node::Upsert {
                input,
                key,
                version,
                position,
            } => {
                write!(f, "Upsert {input} by columns {key:?}")?;
                if let Some(v) = version {
                    write!(f, ", newest by column {v}")?;
                }
                if let Some(p) = position {
                    write!(
                        f,
                        ", then latest by source position (columns {p}, {})",
                        p + 1
                    )?;
                }
                Ok(())
            }
            Node::LeftJoin(j) => {
                write!(
                    f,
                    "LeftJoin stream {} dim {} on [{}] = [{}]",
                    j.stream,
                    j.dim,
                    list(&j.stream_key),
                    list(&j.dim_key)
                )?;
                if let Some(r) = &j.residual {
                    write!(f, " and {r}")?;
                }
                match &j.retain {
                    Some(r) => write!(
                        f,
                        " retain stream rows until their {} ms window on {} is final",
                        r.size_ms, r.time
                    )?,
                    None => write!(f, " retain stream rows for the life of the job")?,
                }
                if j.inner {
                    write!(f, " inner (unmatched stream rows dropped)")?;
                }
                write!(f, " group {}", j.group)
            }
            Node::Join(j) => {
                write!(
                    f,
                    "Join left {} right {} on [{}] = [{}]",
                    j.left,
                    j.right,
                    list(&j.left_key),
                    list(&j.right_key)
                )?;
                if let Some(r) = &j.residual {
                    write!(f, " and {r}")?;
                }
                write!(f, " retain both sides for the life of the job")
            }
            Node::TopN(t) => {
                let order: Vec<String> = t
                    .order
                    .iter()
                    .map(|(e, desc)| format!("{e}{}", if *desc { " DESC" } else { "" }))
                    .collect();
                write!(
                    f,
                    "TopN {} partition [{}] order [{}] limit {}{}",
                    t.input,
                    list(&t.partition),
                    order.join(", "),
                    t.limit,
                    if t.append_only {
                        " (append-only input: only the first rows kept)"
                    } else {
                        ""
                    }
                )
            }
        }
    }
}

impl fmt::Display for Plan {
    /// One line per source, node and sink. Expressions read columns by index: `#i` is column
    /// `i` of the node's input (for a join's residual, of the stream row then the dimension's).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "settings: lateness {} ms, idle timeout {} ms, watermark lanes {}",
            self.settings.lateness_ms, self.settings.idle_timeout_ms, self.settings.lanes
        )?;
        for (i, s) in self.sources.iter().enumerate() {
            writeln!(
                f,
                "source {i}: {}{} {:?} ({})",
                s.table,
                if s.dimension { " (dimension)" } else { "" },
                s.config,
                columns(&s.schema)
            )?;
        }
        for (i, n) in self.nodes.iter().enumerate() {
            writeln!(
                f,
                "node {i} [{}] {} => ({})",
                n.label,
                n.node,
                columns(&n.schema)
            )?;
        }
        for s in &self.sinks {
            write!(
                f,
                "sink {} from node {}: {:?} emit {:?} flush {} ms key {:?}",
                s.table, s.input, s.config, s.options.emit, s.options.flush_ms, s.key
            )?;
            if let Some(v) = s.version {
                write!(f, " version column {v}")?;
            }
            if let Some(ms) = s.frozen_after_ms {
                write!(f, " forgets a row once its {ms} ms window is final")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
