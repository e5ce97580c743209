//! Renders a [`Plan`] into a timely dataflow of differential collections: one file per plan
//! node kind, each a function from input collections to the node's output collection.

pub mod aggregate;
pub mod delta_map;
pub mod epoch_op;
pub mod filter;
pub mod join;
pub mod map;
pub mod sink;
pub mod source;
pub mod stream_join;
pub mod top_n;
pub mod union;
pub mod upsert;

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use differential_dataflow::input::InputSession;
use differential_dataflow::VecCollection;
use std::collections::BTreeMap;
use tally_connectors::{Metrics, WorkerInfo};
use tally_sql::expr::ScalarExpr;
use tally_sql::plan::{Node, Plan};

use tally_sql::{Row, Value};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::Operator;
use timely::dataflow::{ProbeHandle, Scope, StreamVec};

/// A collection of rows with epoch timestamps: the type every plan node produces.
pub type Rows<'s> = VecCollection<'s, u64, Row, isize>;

/// What operators of one worker share with the worker loop.
#[derive(Clone)]
pub struct Shared {
    pub metrics: Arc<Metrics>,
    /// The first error an operator met (a sink that cannot write); the worker loop stops on it.
    pub error: Arc<Mutex<Option<String>>>,
    pub worker: WorkerInfo,
    /// Watermark lanes per epoch (`JobSettings::lanes`) and the idle timeout after which a lane
    /// stops holding the watermark back.
    pub lanes: u64,
    pub idle_ms: u64,
    /// Every lane of each source (set once the sources are open).
    pub expected_lanes: epoch_op::ExpectedLanes,
    /// Where the sinks' write-ahead logs go when the job checkpoints.
    pub checkpoint: Option<Arc<crate::checkpoint::SinkLogs>>,
    /// With `--http`: each query's result as the API serves it, kept by the sinks' flushes.
    pub results: Option<Arc<crate::results::Results>>,
    /// The dataflow is built to be described (`tally explain`), never fed: sinks open nothing.
    pub dry: bool,
}

impl Shared {
    pub fn fail(&self, message: String) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(message);
        }
    }

    pub fn failed(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A watermark clock with this worker's lanes, over the rows of `sources`.
    pub fn clock(&self, lateness: i64, sources: Vec<usize>) -> epoch_op::Clock {
        epoch_op::Clock::new(
            lateness,
            self.lanes,
            self.idle_ms,
            self.expected_lanes.clone(),
            sources,
        )
    }
}

/// A row's event time and the start of its pane (the window of `size_ms` it falls in); `None`,
/// with the row counted as bad, when the time is NULL. Every windowed operator places rows with
/// this one function.
pub fn pane_of(
    time: &Value,
    size_ms: u64,
    row: &[Value],
    query: &str,
    metrics: &Metrics,
) -> Option<(i64, i64)> {
    match time {
        Value::Int(t) => {
            let size = size_ms as i64;
            Some((*t, t.div_euclid(size) * size))
        }
        _ => {
            metrics.bad_row(
                query,
                "its COORDINATE BY value is NULL",
                &format!("{row:?}"),
            );
            None
        }
    }
}

/// A windowed query's watermark as a stream: the broadcast event-time maxima its aggregate
/// reads, its lateness and the sources behind it. A sink of the query follows the same
/// watermark to forget rows whose window is final.
#[derive(Clone)]
pub struct WatermarkFeed<'s> {
    pub maxima: StreamVec<'s, u64, (u64, i64)>,
    pub lateness: i64,
    pub sources: Vec<usize>,
}

/// The handles the worker loop drives: one input per plan source, a probe on every sink, and
/// (when the job checkpoints) the input of checkpoint requests.
pub struct Dataflow {
    pub inputs: Vec<InputSession<u64, Row, isize>>,
    pub probes: sink::Probes,
    pub requests: Option<Requests>,
    /// What each plan source, node and sink became: its description and the (worker-unique)
    /// identifiers of the timely operators built for it.
    pub built: Vec<(String, std::ops::Range<usize>)>,
}

/// Checkpoint requests `(epoch_op::CHECKPOINT, epoch, checkpoint number)`, sent by worker 0
/// and broadcast to every stateful operator.
pub type Requests = timely::dataflow::operators::vec::input::Handle<u64, (u32, u64, i64)>;

/// Builds the dataflow of `plan` in `scope`; `parts` collects the operators' snapshots when
/// the job checkpoints.
pub fn build<'s>(
    scope: Scope<'s, u64>,
    plan: &Plan,
    shared: &Shared,
    parts: Option<Arc<crate::checkpoint::Parts>>,
) -> Dataflow {
    let (requests, persist) = match parts {
        Some(parts) => {
            use timely::dataflow::operators::vec::Input as _;
            let (handle, stream) = scope.new_input::<(u32, u64, i64)>();
            (
                Some(handle),
                epoch_op::Persist {
                    requests: Some(stream.broadcast()),
                    parts: Some(parts),
                    metrics: Some(shared.metrics.clone()),
                },
            )
        }
        // Without checkpoints, a job watched over HTTP still shows its state's size.
        None if shared.results.is_some() => (
            None,
            epoch_op::Persist {
                metrics: Some(shared.metrics.clone()),
                ..Default::default()
            },
        ),
        None => (None, epoch_op::Persist::default()),
    };
    let next_op = || scope.worker().peek_identifier();
    let mut built = Vec::new();
    let mut inputs = Vec::new();
    let mut sources = Vec::new();
    for (i, s) in plan.sources.iter().enumerate() {
        let first = next_op();
        let (input, rows) = source::render(scope);
        inputs.push(input);
        sources.push(rows);
        built.push((format!("source {i} ({})", s.table), first..next_op()));
    }
    let upstream = plan.stream_sources();
    let groups = plan.join_groups();
    // Nodes are rendered once what they read is; a group of joins sharing a dimension is
    // rendered as one operator once every member's inputs are.
    let mut nodes: Vec<Option<Rows<'s>>> = vec![None; plan.nodes.len()];
    // Each node's windowed query watermark, where its rows are a windowed aggregate's output
    // (through projections and HAVING).
    let mut feeds: Vec<Option<WatermarkFeed<'s>>> = vec![None; plan.nodes.len()];
    while nodes.iter().any(Option::is_none) {
        let mut progressed = false;
        for (id, node) in plan.nodes.iter().enumerate() {
            if nodes[id].is_some() || !node.node.inputs().iter().all(|i| nodes[*i].is_some()) {
                continue;
            }
            let upstream_sources: Vec<usize> = upstream[id].iter().copied().collect();
            let get = |i: usize| nodes[i].clone().expect("rendered before its readers");
            let first = next_op();
            let rows = match &node.node {
                Node::Source { source } => sources[*source].clone(),
                Node::Filter { input, predicate } => {
                    feeds[id] = feeds[*input].clone();
                    filter::render(get(*input), predicate.clone(), &node.label, &shared.metrics)
                }
                Node::Map { input, exprs } => {
                    feeds[id] = feeds[*input].clone();
                    map::render(get(*input), exprs.clone(), &node.label, &shared.metrics)
                }
                Node::Aggregate(agg) => {
                    let (rows, feed) = aggregate::render(
                        get(agg.input),
                        agg.watermark_from.map(get),
                        agg,
                        &node.label,
                        shared,
                        upstream_sources,
                        (format!("node{id}:aggregate"), &persist),
                    );
                    feeds[id] = feed;
                    rows
                }
                Node::Union { inputs } => union::render(inputs.iter().map(|i| get(*i))),
                Node::Upsert {
                    input,
                    key,
                    version,
                    position,
                } => upsert::render(
                    get(*input),
                    key.clone(),
                    *version,
                    *position,
                    (format!("node{id}:upsert"), &persist),
                ),
                Node::TopN(top) => top_n::render(
                    get(top.input),
                    top,
                    &node.label,
                    shared,
                    (format!("node{id}:top-n"), &persist),
                ),
                Node::Join(join) => stream_join::render(
                    get(join.left),
                    get(join.right),
                    join,
                    &node.label,
                    shared,
                    (format!("node{id}:stream-join"), &persist),
                ),
                Node::LeftJoin(join) => {
                    let group = groups
                        .iter()
                        .find(|g| g.contains(&id))
                        .expect("every join is in a group");
                    let all_ready = group.iter().all(|m| {
                        plan.nodes[*m]
                            .node
                            .inputs()
                            .iter()
                            .all(|i| nodes[*i].is_some())
                    });
                    if !all_ready {
                        continue;
                    }
                    let members = group
                        .iter()
                        .map(|m| {
                            let Node::LeftJoin(j) = &plan.nodes[*m].node else {
                                unreachable!("groups hold joins")
                            };
                            join::Member {
                                stream: get(j.stream),
                                plan: j.clone(),
                                label: plan.nodes[*m].label.clone(),
                                sources: upstream[*m].iter().copied().collect(),
                            }
                        })
                        .collect();
                    let outs = join::render_group(
                        get(join.dim),
                        join.dim_key.clone(),
                        members,
                        shared,
                        (format!("node{}:join", group[0]), &persist),
                    );
                    for (m, rows) in group.iter().zip(outs) {
                        nodes[*m] = Some(rows);
                    }
                    let members: Vec<String> = group
                        .iter()
                        .map(|m| {
                            format!(
                                "node {m} [{}] {}",
                                plan.nodes[*m].label, plan.nodes[*m].node
                            )
                        })
                        .collect();
                    built.push((members.join("\n"), first..next_op()));
                    progressed = true;
                    continue;
                }
            };
            nodes[id] = Some(rows);
            built.push((
                format!("node {id} [{}] {}", node.label, node.node),
                first..next_op(),
            ));
            progressed = true;
        }
        assert!(
            progressed,
            "the plan's nodes depend on each other in a cycle"
        );
    }
    let nodes: Vec<Rows<'s>> = nodes
        .into_iter()
        .map(|n| n.expect("all rendered"))
        .collect();
    let probes = sink::Probes {
        pace: ProbeHandle::new(),
        applied: ProbeHandle::new(),
    };
    for (i, s) in plan.sinks.iter().enumerate() {
        let first = next_op();
        sink::render(
            i,
            nodes[s.input].clone(),
            feeds[s.input].clone(),
            s,
            shared,
            &probes,
            &persist,
        );
        built.push((
            format!("sink {} from node {}", s.table, s.input),
            first..next_op(),
        ));
    }
    Dataflow {
        inputs,
        probes,
        requests,
        built,
    }
}

/// Evaluates expressions that [can fail](ScalarExpr::can_fail) on one row; a row that fails
/// (an EXECUTE loop past its iteration limit) is counted as a bad row, sampled in the log, and
/// skipped.
pub fn try_eval_all(
    exprs: &[ScalarExpr],
    row: &[Value],
    label: &str,
    metrics: &Metrics,
) -> Option<Row> {
    let mut out = Vec::with_capacity(exprs.len());
    for e in exprs {
        match e.try_eval(row) {
            Ok(v) => out.push(v),
            Err(err) => {
                metrics.bad_row(label, &err.to_string(), &format!("{row:?}"));
                return None;
            }
        }
    }
    Some(out)
}

/// Whether rows with this key are routed to worker `worker` of `peers` by an exchange on
/// [`hash_values`] of the key (timely's exchange takes the hash modulo the peers).
pub fn owns(key: &[Value], worker: usize, peers: usize) -> bool {
    hash_values(key) % peers as u64 == worker as u64
}

/// A stable hash of some values: the same in every process, so rows with one key meet at one
/// worker.
pub fn hash_values(values: &[Value]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    values.hash(&mut h);
    h.finish()
}

/// The largest event time of each epoch at this worker, as `(epoch, max)`, sent to every worker:
/// with it every operator knows the watermark over all workers. Records carry their epoch in the
/// data, because a message's capability can be earlier than its records' times.
pub fn event_time_maxima<'s, D: Clone + 'static>(
    updates: StreamVec<'s, u64, (D, u64, isize)>,
    time: impl Fn(&D) -> i64 + 'static,
) -> StreamVec<'s, u64, (u64, i64)> {
    updates
        .unary(Pipeline, "EventTimeMax", |_cap, _info| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let mut per_epoch: BTreeMap<u64, i64> = BTreeMap::new();
                    for (d, epoch, diff) in data.iter() {
                        if *diff > 0 {
                            let t = time(d);
                            let m = per_epoch.entry(*epoch).or_insert(t);
                            *m = (*m).max(t);
                        }
                    }
                    for (epoch, m) in per_epoch {
                        output.session(&cap.delayed(&epoch, 0)).give((epoch, m));
                    }
                });
            }
        })
        .broadcast()
}

/// `(epoch, largest event time)` of each epoch at each worker, broadcast to all workers.
pub type Maxima<'s> = StreamVec<'s, u64, (u64, i64)>;

/// Maps each row with `f` (`None` drops it) and, in the same pass, finds the largest event time
/// of each epoch as [`event_time_maxima`] does. One reader of the rows instead of two: a second
/// reader of a stream gets a copy of every batch.
pub fn map_with_maxima<'s, D: Clone + 'static>(
    rows: Rows<'s>,
    mut f: impl FnMut(Row) -> Option<(D, i64)> + 'static,
) -> (StreamVec<'s, u64, (D, u64, isize)>, Maxima<'s>) {
    use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
    use timely::dataflow::operators::generic::OutputBuilder;
    use timely::progress::operate::FrontierInterest;

    let mut builder = OperatorBuilder::new("PrepareWithMaxima".to_owned(), rows.inner.scope());
    let mut input = builder.new_input(rows.inner, Pipeline);
    builder.set_notify_for(0, FrontierInterest::Never);
    let (mapped, mapped_stream) = builder.new_output();
    let (maxima, maxima_stream) = builder.new_output();
    let mut mapped =
        OutputBuilder::<_, timely::container::CapacityContainerBuilder<Vec<_>>>::from(mapped);
    let mut maxima =
        OutputBuilder::<_, timely::container::CapacityContainerBuilder<Vec<_>>>::from(maxima);
    builder.build(move |_| {
        let mut per_epoch: BTreeMap<u64, i64> = BTreeMap::new();
        move |_frontiers| {
            let mut mapped = mapped.activate();
            let mut maxima = maxima.activate();
            input.for_each(|cap, batch| {
                let mut session = mapped.session(&cap);
                for (row, epoch, diff) in batch.drain(..) {
                    let Some((d, t)) = f(row) else { continue };
                    if diff > 0 {
                        let m = per_epoch.entry(epoch).or_insert(t);
                        *m = (*m).max(t);
                    }
                    session.give((d, epoch, diff));
                }
                drop(session);
                for (epoch, m) in std::mem::take(&mut per_epoch) {
                    maxima.session(&cap.delayed(&epoch, 1)).give((epoch, m));
                }
            });
        }
    });
    (mapped_stream, maxima_stream.broadcast())
}

/// The timely operators each plan source, node and sink becomes, for `tally explain`: the
/// dataflow is built on one worker as `tally run` builds it (sinks open nothing) and described
/// from timely's own log of the operators and channels it made.
pub fn explain(plan: &Plan) -> String {
    use std::cell::RefCell;
    use std::rc::Rc;
    use timely::logging::{TimelyEvent, TimelyEventBuilder};

    let plan = plan.clone();
    timely::execute_directly(move |worker| {
        // (id, local index, name) of each operator; (source, target) local indexes per channel.
        let ops: Rc<RefCell<Vec<(usize, usize, String)>>> = Rc::default();
        type Port = (usize, usize);
        let edges: Rc<RefCell<Vec<(Port, Port)>>> = Rc::default();
        if let Some(mut registry) = worker.log_register() {
            let (ops, edges) = (ops.clone(), edges.clone());
            registry.insert::<TimelyEventBuilder, _>("timely", move |_time, data| {
                for (_, event) in data.iter().flatten() {
                    match event {
                        TimelyEvent::Operates(o) if o.addr.len() == 2 => {
                            ops.borrow_mut().push((o.id, o.addr[1], o.name.clone()))
                        }
                        TimelyEvent::Channels(c) if c.scope_addr.len() == 1 => {
                            edges.borrow_mut().push((c.source, c.target))
                        }
                        _ => {}
                    }
                }
            });
        }
        let shared = Shared {
            metrics: Arc::new(Metrics::default()),
            error: Arc::default(),
            worker: WorkerInfo { index: 0, peers: 1 },
            lanes: plan.settings.lanes.max(1),
            idle_ms: plan.settings.idle_timeout_ms,
            expected_lanes: Arc::default(),
            checkpoint: None,
            results: None,
            dry: true,
        };
        let built = worker.dataflow::<u64, _, _>(|scope| build(scope, &plan, &shared, None).built);
        if let Some(mut registry) = worker.log_register() {
            registry.flush();
            registry.remove("timely");
        }
        let ops = ops.borrow();
        let edges = edges.borrow();
        let name_of = |local: usize| {
            ops.iter().find(|(_, l, _)| *l == local).map_or_else(
                || format!("#{local}"),
                |(id, _, name)| format!("{name} #{id}"),
            )
        };
        let mut out = String::new();
        for (what, range) in &built {
            out.push_str(what);
            out.push('\n');
            for (id, local, name) in ops.iter().filter(|(id, _, _)| range.contains(id)) {
                let mut from: Vec<String> = edges
                    .iter()
                    .filter(|(_, (target, _))| target == local)
                    .map(|((source, port), (_, input))| {
                        let port = if *port > 0 {
                            format!(" output {port}")
                        } else {
                            String::new()
                        };
                        format!("{}{port} -> input {input}", name_of(*source))
                    })
                    .collect();
                from.sort();
                if from.is_empty() {
                    out.push_str(&format!("  {name} #{id}\n"));
                } else {
                    out.push_str(&format!("  {name} #{id} <- {}\n", from.join(", ")));
                }
            }
        }
        out
    })
}
