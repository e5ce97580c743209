//! Lowering: each statement of a job becomes plan nodes ([`crate::plan`]), its expressions
//! bound by [`crate::bind`].

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::FixedOffset;
use sqlparser::ast::Expr;

use crate::ast::{self, FromItem, Select, SelectItem, Statement};
use crate::bind::coerce::{cast_row, common_type, sink_cast};
use crate::bind::select::{Bound, BoundJoin, BoundQuery};
use crate::bind::{self, contains_aggregate, pos_of, settings, Scope};
use crate::catalog::{self, Emit, SinkConfig, SinkOptions};
use crate::error::{Diagnostic, Pos, SqlError};
use crate::expr::ScalarExpr;
use crate::job::Job;
use crate::plan::*;
use crate::types::{DataType, Field, Schema};

/// Lowers a loaded job to its plan.
pub fn lower(job: &Job) -> Result<Plan, Diagnostic> {
    lower_bound(job).map(|(_, plan)| plan)
}

/// Lowers a loaded job to its plan, and returns what binding gave lowering on the way.
pub fn lower_bound(job: &Job) -> Result<(BoundQuery, Plan), Diagnostic> {
    lower_all(job, false).map_err(|mut errors| errors.swap_remove(0))
}

/// Lowers a loaded job, going on after a statement that fails: every independent error of the
/// job, in statement order (for `tally check`). An error that only follows from an earlier
/// one (a WITH that failed, read by a later statement; a table description that is wrong,
/// read twice) is reported once.
pub fn check(job: &Job) -> Result<Plan, Vec<Diagnostic>> {
    lower_all(job, true).map(|(_, plan)| plan)
}

fn lower_all(job: &Job, keep_going: bool) -> Result<(BoundQuery, Plan), Vec<Diagnostic>> {
    let settings = settings::job_settings(job).map_err(|d| vec![d])?;
    let tz = settings::timezone(job).map_err(|d| vec![d])?;
    let mut p = Planner {
        job,
        tz,
        settings,
        sources: Vec::new(),
        source_nodes: HashMap::new(),
        nodes: Vec::new(),
        withs: HashMap::new(),
        sinks: Vec::new(),
        bound: BoundQuery::default(),
        failed_withs: HashSet::new(),
        cascaded: false,
    };
    let mut errors: Vec<Diagnostic> = Vec::new();
    for stmt in &job.script.statements {
        p.cascaded = false;
        let Err(d) = p.statement(stmt) else { continue };
        if let Statement::With { name, .. } = stmt {
            p.failed_withs.insert(name.name.to_ascii_lowercase());
        }
        if !p.cascaded && !errors.contains(&d) {
            errors.push(d);
        }
        if !keep_going {
            break;
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut plan = Plan {
        settings: p.settings,
        sources: p.sources,
        nodes: p.nodes,
        sinks: p.sinks,
    };
    // Watermarks per lane: a live Kafka topic keeps one per partition, and a windowed query
    // over several streams (a union) one per source, so that a stream behind in event time is
    // not made late by another.
    let live_kafka = plan
        .sources
        .iter()
        .any(|s| matches!(&s.config, crate::catalog::SourceConfig::Kafka(k) if !k.bounded));
    let upstream = plan.stream_sources();
    let merged_streams = plan
        .nodes
        .iter()
        .zip(&upstream)
        .any(|(n, srcs)| Plan::keeps_watermark(&n.node) && srcs.len() > 1);
    if live_kafka || merged_streams {
        plan.settings.lanes = LANES;
    }
    assign_join_groups(&mut plan);
    Ok((p.bound, plan))
}

/// Numbers the join operators ([`JoinPlan::group`]): the joins of one dimension node on equal
/// keys share one, except that a join whose stream reads another join of the group gets its
/// own (one operator cannot feed itself).
fn assign_join_groups(plan: &mut Plan) {
    // ancestors[n]: every node n reads, directly or not.
    let mut ancestors: Vec<BTreeSet<NodeId>> = Vec::with_capacity(plan.nodes.len());
    for n in &plan.nodes {
        let mut set = BTreeSet::new();
        for i in n.node.inputs() {
            set.insert(i);
            set.extend(ancestors[i].iter().copied());
        }
        ancestors.push(set);
    }
    // Each group's dimension node, key and members.
    let mut groups: Vec<(NodeId, Vec<ScalarExpr>, Vec<NodeId>)> = Vec::new();
    for id in 0..plan.nodes.len() {
        let Node::LeftJoin(j) = &plan.nodes[id].node else {
            continue;
        };
        let fits = groups.iter().position(|(dim, key, members)| {
            *dim == j.dim
                && *key == j.dim_key
                && members
                    .iter()
                    .all(|m| !ancestors[id].contains(m) && !ancestors[*m].contains(&id))
        });
        let group = match fits {
            Some(g) => {
                groups[g].2.push(id);
                g
            }
            None => {
                groups.push((j.dim, j.dim_key.clone(), vec![id]));
                groups.len() - 1
            }
        };
        if let Node::LeftJoin(j) = &mut plan.nodes[id].node {
            j.group = group;
        }
    }
}

/// The distinct arguments of `calls`, and each call's slot among them ([`AggCall::slot`]);
/// `count(*)` reads a `TRUE`.
fn argument_slots(mut calls: Vec<AggCall>) -> (Vec<AggCall>, Vec<ScalarExpr>) {
    let mut args: Vec<ScalarExpr> = Vec::new();
    for c in &mut calls {
        let arg = c.arg.clone().unwrap_or(ScalarExpr::lit(true));
        c.slot = match args.iter().position(|a| *a == arg) {
            Some(i) => i,
            None => {
                args.push(arg);
                args.len() - 1
            }
        };
    }
    (calls, args)
}

struct Planner<'a> {
    job: &'a Job,
    tz: FixedOffset,
    settings: JobSettings,
    sources: Vec<SourcePlan>,
    /// Source node per table (lower case) or `__innertable(ms)`.
    source_nodes: HashMap<String, (NodeId, Scope)>,
    nodes: Vec<PlanNode>,
    withs: HashMap<String, (NodeId, Scope)>,
    sinks: Vec<SinkPlan>,
    /// Each JOIN and SELECT as bound, for `explain`.
    bound: BoundQuery,
    /// WITH names whose definition failed (lower case): reading one is no new error.
    failed_withs: HashSet<String>,
    /// The statement being lowered read a failed WITH.
    cascaded: bool,
}

impl Planner<'_> {
    fn err(&self, pos: Pos, msg: impl Into<String>) -> Diagnostic {
        self.job.diagnostic(SqlError::new(pos, msg))
    }

    fn sql(&self, e: SqlError) -> Diagnostic {
        self.job.diagnostic(e)
    }

    fn add(&mut self, node: Node, schema: Schema, label: &str) -> NodeId {
        self.nodes.push(PlanNode {
            node,
            schema,
            label: label.to_string(),
        });
        self.nodes.len() - 1
    }

    fn statement(&mut self, stmt: &Statement) -> Result<(), Diagnostic> {
        match stmt {
            Statement::With { name, query } => {
                let key = name.name.to_ascii_lowercase();
                // A table's computed columns are a view of the table under its own name, over
                // the table itself (parser::computed_views).
                let extends_table = matches!(&query.from, FromItem::Table { name: t, .. }
                    if t.name.eq_ignore_ascii_case(&name.name));
                if self.withs.contains_key(&key)
                    || (self.job.table(&name.name).is_some() && !extends_table)
                {
                    return Err(self.err(name.pos, format!("`{}` is already defined", name.name)));
                }
                let label = format!("WITH {}", name.name);
                let (node, mut scope) = self.select(query, &label, Emit::Changes, false)?;
                if extends_table {
                    if let Some(desc) = self.job.table(&name.name) {
                        mark_time_attribute(&mut scope, desc);
                    }
                }
                self.withs.insert(key, (node, scope.requalify(&name.name)));
            }
            Statement::Insert { table, key, query } => self.insert(table, key.as_ref(), query)?,
            Statement::Select { query } => {
                let label = "SELECT".to_string();
                let (node, scope) = self.select(query, &label, Emit::Changes, false)?;
                let key = key_of(&scope, query);
                self.sinks.push(SinkPlan {
                    input: node,
                    version: None,
                    frozen_after_ms: None,
                    table: "stdout".into(),
                    schema: scope.schema(),
                    key,
                    config: SinkConfig::Stdout,
                    options: SinkOptions {
                        emit: Emit::Changes,
                        flush_ms: 1000,
                    },
                });
            }
        }
        Ok(())
    }

    fn insert(
        &mut self,
        table: &ast::Ident,
        key: Option<&ast::Ident>,
        query: &Select,
    ) -> Result<(), Diagnostic> {
        let desc = self.job.table(&table.name).ok_or_else(|| {
            self.err(
                table.pos,
                format!(
                    "unknown table `{}`: describe it in the job file",
                    table.name
                ),
            )
        })?;
        let (mut config, options) =
            catalog::sink_config(desc).map_err(|(p, m)| self.job.error_at(p, m))?;
        if let SinkConfig::Csv { path, .. } = &mut config {
            *path = self.job.dir.join(&*path);
        }
        let label = format!("INSERT INTO {}", table.name);
        let (mut node, scope) = self.select(query, &label, options.emit, true)?;
        // A windowed result carries its window start in a hidden last column.
        let hidden = self.nodes[node].schema.len() > scope.cols.len();
        // Whether the key holds the window: then a row is frozen once its window is final.
        let window_in_key = scope
            .cols
            .iter()
            .find_map(|c| c.window_ms.filter(|_| c.key));
        let schema = if desc.schema.is_empty() {
            scope.schema()
        } else {
            desc.schema.clone()
        };
        if schema.len() != scope.cols.len() {
            return Err(self.err(
                query.pos,
                format!(
                    "INSERT INTO {}: the SELECT gives {} column{} but the table has {} field{} ({})",
                    table.name,
                    scope.cols.len(),
                    if scope.cols.len() == 1 { "" } else { "s" },
                    schema.len(),
                    if schema.len() == 1 { "" } else { "s" },
                    schema.names().join(", ")
                ),
            ));
        }
        for (i, (col, field)) in scope.cols.iter().zip(&schema.fields).enumerate() {
            if let Err(why) = sink_cast(&col.ty, &field.ty) {
                // At the field's declaration when the job has one, else at the SELECT's column.
                let decl = desc
                    .decls
                    .get(i)
                    .filter(|_| desc.decls.len() == schema.len());
                let declared = decl.map_or_else(|| field.ty.to_string(), |d| d.type_name());
                let msg = format!(
                    "column `{}` of `{}` is {declared} but the query gives {} (column {}, `{}`): \
                     {why}; declare the column {}, or convert in the SELECT with \
                     CAST(... AS {declared})",
                    field.name,
                    table.name,
                    col.ty,
                    i + 1,
                    col.name,
                    col.ty,
                );
                return Err(match decl {
                    Some(d) => self.job.error_at(d.pos, msg),
                    None => self.err(item_pos(query, i).unwrap_or(query.pos), msg),
                });
            }
        }
        let from: Vec<DataType> = scope.cols.iter().map(|c| c.ty.clone()).collect();
        let to: Vec<DataType> = schema.fields.iter().map(|f| f.ty.clone()).collect();
        if let Some(casts) = cast_row(&from, &to) {
            node = self.add(
                Node::Map {
                    input: node,
                    exprs: casts,
                },
                schema.clone(),
                &label,
            );
        }
        let key = match key {
            Some(k) => {
                let i = schema.index_of(&k.name).ok_or_else(|| {
                    self.err(
                        k.pos,
                        format!("`{}` is not a field of {}", k.name, table.name),
                    )
                })?;
                Some(vec![i])
            }
            None => key_of(&scope, query),
        };
        catalog::check_sink(desc, &config, &schema, key.as_deref())
            .map_err(|(p, m)| self.job.error_at(p, m))?;
        let key_has_window = match &key {
            Some(cols) => cols.iter().any(|&i| scope.cols[i].window_ms.is_some()),
            None => false,
        };
        self.sinks.push(SinkPlan {
            input: node,
            table: desc.name.clone(),
            version: hidden.then_some(schema.len()),
            // A sink that rewrites its whole table keeps every row.
            frozen_after_ms: window_in_key
                .filter(|_| hidden && key_has_window && !config.rewrites_table()),
            schema,
            key,
            config,
            options,
        });
        Ok(())
    }

    fn from(&mut self, item: &FromItem, label: &str) -> Result<(NodeId, Scope), Diagnostic> {
        match item {
            FromItem::Table { name, alias } => {
                let qualifier = alias.as_ref().unwrap_or(name).name.clone();
                if let Some((node, scope)) = self.withs.get(&name.name.to_ascii_lowercase()) {
                    return Ok((*node, scope.clone().requalify(&qualifier)));
                }
                let key = name.name.to_ascii_lowercase();
                if let Some((node, scope)) = self.source_nodes.get(&key) {
                    return Ok((*node, scope.clone().requalify(&qualifier)));
                }
                if self.failed_withs.contains(&key) {
                    self.cascaded = true;
                }
                let desc = self.job.table(&name.name).ok_or_else(|| {
                    let mut known: Vec<String> =
                        self.job.tables.iter().map(|t| t.name.clone()).collect();
                    known.extend(self.withs.keys().cloned());
                    self.err(
                        name.pos,
                        format!(
                            "unknown table `{}`; defined: {}",
                            name.name,
                            known.join(", ")
                        ),
                    )
                })?;
                let (mut config, schema) =
                    catalog::source_config(desc).map_err(|(p, m)| self.job.error_at(p, m))?;
                match &mut config {
                    catalog::SourceConfig::File { path, .. } => *path = self.job.dir.join(&*path),
                    catalog::SourceConfig::Database { .. }
                    | catalog::SourceConfig::Redis { .. } => {
                        return Err(self.err(
                            name.pos,
                            format!(
                                "`{}` is a dimension table (read whole and kept current): join \
                                 it with `LEFT JOIN {}` instead of reading it in FROM",
                                name.name, name.name
                            ),
                        ))
                    }
                    _ => {}
                }
                self.sources.push(SourcePlan {
                    table: desc.name.clone(),
                    schema: schema.clone(),
                    config,
                    dimension: false,
                    positioned: false,
                });
                let node = self.add(
                    Node::Source {
                        source: self.sources.len() - 1,
                    },
                    schema.clone(),
                    &format!("table {}", desc.name),
                );
                let mut scope = Scope::from_schema(&schema, &desc.name);
                for c in &mut scope.cols {
                    c.temporal = desc.decl(&c.name).is_some_and(|d| d.is_temporal());
                }
                mark_time_attribute(&mut scope, desc);
                self.source_nodes.insert(key, (node, scope.clone()));
                Ok((node, scope.requalify(&qualifier)))
            }
            FromItem::InnerTable { interval_ms, .. } => {
                let key = format!("__innertable({interval_ms})");
                if let Some((node, scope)) = self.source_nodes.get(&key) {
                    return Ok((*node, scope.clone()));
                }
                self.sources.push(SourcePlan {
                    table: key.clone(),
                    schema: Schema::default(),
                    config: catalog::SourceConfig::InnerTable {
                        interval_ms: *interval_ms,
                    },
                    dimension: false,
                    positioned: false,
                });
                let node = self.add(
                    Node::Source {
                        source: self.sources.len() - 1,
                    },
                    Schema::default(),
                    &key,
                );
                self.source_nodes.insert(key, (node, Scope::default()));
                Ok((node, Scope::default()))
            }
            FromItem::Subquery { query, alias } => {
                let (node, scope) = self.select(query, label, Emit::Changes, false)?;
                Ok((node, scope.requalify(&alias.name)))
            }
            FromItem::LeftJoin {
                left,
                right,
                alias,
                on,
                inner,
            } => self.left_join(left, right, alias.as_ref(), on, *inner, label),
            FromItem::Join {
                left,
                right,
                on,
                pos,
            } => self.stream_join(left, right, on.as_deref(), *pos, label),
            FromItem::TopN {
                query,
                alias,
                rank,
                partition,
                order,
                limit,
            } => {
                let (node, scope) = self.top_n(query, rank, partition, order, *limit, label)?;
                Ok((node, scope.requalify(&alias.name)))
            }
            FromItem::UnionAll { queries, .. } => {
                let mut planned = Vec::new();
                for q in queries {
                    planned.push(self.select(q, label, Emit::Changes, false)?);
                }
                let width = planned[0].1.cols.len();
                let mut types: Vec<DataType> =
                    planned[0].1.cols.iter().map(|c| c.ty.clone()).collect();
                for (q, (_, scope)) in queries.iter().zip(&planned).skip(1) {
                    if scope.cols.len() != width {
                        return Err(self.err(
                            q.pos,
                            format!(
                                "UNION ALL: this SELECT gives {} columns, the first gives {width}",
                                scope.cols.len()
                            ),
                        ));
                    }
                    for (i, c) in scope.cols.iter().enumerate() {
                        types[i] = common_type(&types[i], &c.ty).ok_or_else(|| {
                            self.err(
                                item_pos(q, i).unwrap_or(q.pos),
                                format!(
                                    "type mismatch: UNION ALL column {} is {} here and {} in the first SELECT",
                                    i + 1,
                                    c.ty,
                                    types[i]
                                ),
                            )
                        })?;
                    }
                }
                let mut out = planned[0].1.clone();
                for (c, t) in out.cols.iter_mut().zip(&types) {
                    c.ty = t.clone();
                    c.key = false;
                }
                let mut inputs = Vec::new();
                for (node, scope) in planned {
                    let from: Vec<DataType> = scope.cols.iter().map(|c| c.ty.clone()).collect();
                    let node = if let Some(casts) = cast_row(&from, &types) {
                        self.add(
                            Node::Map {
                                input: node,
                                exprs: casts,
                            },
                            out.schema(),
                            label,
                        )
                    } else {
                        node
                    };
                    inputs.push(node);
                }
                let node = self.add(Node::Union { inputs }, out.schema(), label);
                Ok((node, out))
            }
        }
    }

    /// Whether a node's rows can be retracted (an aggregate's revisions, a changing dimension).
    fn may_retract(&self, node: NodeId) -> bool {
        match &self.nodes[node].node {
            Node::Source { .. } => false,
            Node::Filter { input, .. } | Node::Map { input, .. } => self.may_retract(*input),
            Node::Union { inputs } => inputs.iter().any(|i| self.may_retract(*i)),
            Node::Aggregate(_) | Node::Upsert { .. } => true,
            Node::LeftJoin(j) => self.may_retract(j.stream) || self.dimension_changes(j.dim),
            Node::Join(j) => self.may_retract(j.left) || self.may_retract(j.right),
            Node::TopN(_) => true,
        }
    }

    /// Whether a dimension node receives rows after the job starts.
    fn dimension_changes(&self, node: NodeId) -> bool {
        match &self.nodes[node].node {
            Node::Source { source } => {
                let s = &self.sources[*source];
                !s.dimension || !s.config.is_bounded()
            }
            Node::Upsert { input, .. } => self.dimension_changes(*input),
            _ => true,
        }
    }

    /// A dimension table's rows, read whole when the job starts (and, for a followed file, kept
    /// current), upserted by its key (`table.field.key` or PRIMARY KEY) when it has one. Planned
    /// once per table and shared by every join that reads it.
    fn dimension(&mut self, name: &ast::Ident) -> Result<(NodeId, Scope), Diagnostic> {
        let key = format!("dim:{}", name.name.to_ascii_lowercase());
        if let Some((node, scope)) = self.source_nodes.get(&key) {
            return Ok((*node, scope.clone()));
        }
        let desc = self.job.table(&name.name).ok_or_else(|| {
            // A WITH query is a stream of results, not a table read whole: say so rather than
            // calling a name the user has just defined unknown.
            let what = if self.withs.contains_key(&key[4..]) {
                "is a WITH query, not a dimension table: LEFT JOIN reads a file, mysql, postgres \
                 or redis table described in the job file"
            } else {
                "is not a table: describe the dimension table in the job file"
            };
            self.err(
                name.pos,
                format!("cannot LEFT JOIN `{}`: it {what}", name.name),
            )
        })?;
        let (mut config, schema) =
            catalog::source_config(desc).map_err(|(p, m)| self.job.error_at(p, m))?;
        match &mut config {
            catalog::SourceConfig::File { path, .. } => *path = self.job.dir.join(&*path),
            catalog::SourceConfig::Database { .. } | catalog::SourceConfig::Redis { .. } => {}
            _ => {
                return Err(self.err(
                    name.pos,
                    format!(
                        "`{}` cannot be a dimension: dimension tables are file, mysql, postgres \
                         or redis tables",
                        name.name
                    ),
                ))
            }
        }
        // `table.file.replay=true`: the file is a changelog of the dimension, read in batches in
        // step with the stream instead of whole when the job starts.
        let replay =
            catalog::parse_bool(desc, "file.replay").map_err(|(p, m)| self.job.error_at(p, m))?;
        let upsert_key = desc
            .get("field.key")
            .or_else(|| desc.get("primary.key"))
            .map(|s| {
                s.value
                    .split(',')
                    .map(|c| {
                        schema.index_of(c.trim()).ok_or_else(|| {
                            self.job.error_at(
                                s.pos,
                                format!(
                                    "key column `{}` is not a field of `{}`",
                                    c.trim(),
                                    desc.name
                                ),
                            )
                        })
                    })
                    .collect::<Result<Vec<usize>, Diagnostic>>()
            })
            .transpose()?;
        let version = desc
            .get("field.version")
            .map(|s| {
                schema.index_of(s.value.trim()).ok_or_else(|| {
                    self.job.error_at(
                        s.pos,
                        format!(
                            "version column `{}` is not a field of `{}`",
                            s.value.trim(),
                            desc.name
                        ),
                    )
                })
            })
            .transpose()?;
        if let (Some(s), None) = (desc.get("field.version"), &upsert_key) {
            return Err(self.job.error_at(
                s.pos,
                format!(
                    "`table.field.version` orders the rows of one key: `{}` needs `table.field.key` too",
                    desc.name
                ),
            ));
        }
        // Rows upserted by key are fed with their position in the source, which orders
        // several rows of one key in one epoch.
        let positioned = upsert_key.is_some();
        let mut fed = schema.clone();
        if positioned {
            for name in ["__source_epoch", "__source_row"] {
                fed.fields.push(Field {
                    name: name.into(),
                    ty: DataType::Int,
                });
            }
        }
        self.sources.push(SourcePlan {
            table: desc.name.clone(),
            schema: schema.clone(),
            config,
            dimension: !replay,
            positioned,
        });
        let mut node = self.add(
            Node::Source {
                source: self.sources.len() - 1,
            },
            fed,
            &format!("dimension {}", desc.name),
        );
        if let Some(k) = upsert_key {
            node = self.add(
                Node::Upsert {
                    input: node,
                    key: k,
                    version,
                    position: Some(schema.len()),
                },
                schema.clone(),
                &format!("dimension {}", desc.name),
            );
        }
        let scope = Scope::from_schema(&schema, &desc.name);
        self.source_nodes.insert(key, (node, scope.clone()));
        Ok((node, scope))
    }

    fn left_join(
        &mut self,
        left: &FromItem,
        right: &ast::Ident,
        alias: Option<&ast::Ident>,
        on: &Expr,
        inner: bool,
        label: &str,
    ) -> Result<(NodeId, Scope), Diagnostic> {
        let (stream, lscope) = self.from(left, label)?;
        let (dim, dscope) = self.dimension(right)?;
        let qualifier = alias.unwrap_or(right).name.clone();
        let dscope = dscope.requalify(&qualifier);
        let lw = lscope.cols.len();
        let mut joined = lscope.clone();
        joined.cols.extend(dscope.cols.iter().cloned());
        let (stream_key, dim_key, residual) =
            bind::select::join_on(&joined, lw, on, &qualifier, &self.context())
                .map_err(|e| self.sql(e))?;
        self.bound.parts.push(Bound::Join(BoundJoin {
            label: label.to_string(),
            dim: qualifier.clone(),
            columns: joined.clone(),
            stream_key: stream_key.clone(),
            dim_key: dim_key.clone(),
            residual: residual.clone(),
        }));
        let node = self.add(
            Node::LeftJoin(JoinPlan {
                stream,
                dim,
                stream_key,
                dim_key,
                residual,
                dim_width: dscope.cols.len(),
                retain: None,
                group: 0,
                inner,
            }),
            joined.schema(),
            label,
        );
        Ok((node, joined))
    }

    /// `left [INNER] JOIN right ON on` of two streams (or query results): the equalities of
    /// the two sides are the keys, the rest of `on` is checked on each joined pair.
    fn stream_join(
        &mut self,
        left: &FromItem,
        right: &FromItem,
        on: Option<&Expr>,
        pos: Pos,
        label: &str,
    ) -> Result<(NodeId, Scope), Diagnostic> {
        let (l, lscope) = self.from(left, label)?;
        let (r, rscope) = self.from(right, label)?;
        let Some(on) = on else {
            return Err(self.err(pos, "a join of two streams needs a condition"));
        };
        let lw = lscope.cols.len();
        let mut joined = lscope.clone();
        joined.cols.extend(rscope.cols.iter().cloned());
        let (left_key, right_key, residual) =
            bind::select::join_on(&joined, lw, on, "JOIN", &self.context())
                .map_err(|e| self.sql(e))?;
        let node = self.add(
            Node::Join(StreamJoinPlan {
                left: l,
                right: r,
                left_key,
                right_key,
                residual,
            }),
            joined.schema(),
            label,
        );
        Ok((node, joined))
    }

    /// Flink's top-N: the subquery planned with its PARTITION BY and ORDER BY expressions as
    /// hidden last columns, ranked by a TopN node, then its own columns with the rank where the
    /// ROW_NUMBER item was.
    fn top_n(
        &mut self,
        query: &Select,
        rank: &ast::Ident,
        partition: &[Expr],
        order: &[(Expr, bool)],
        limit: u64,
        label: &str,
    ) -> Result<(NodeId, Scope), Diagnostic> {
        let mut inner = query.clone();
        let hidden = |i: usize, e: &Expr| SelectItem::Expr {
            expr: e.clone(),
            alias: Some(ast::Ident {
                name: format!("__top_n_{i}"),
                pos: rank.pos,
            }),
        };
        let exprs: Vec<&Expr> = partition
            .iter()
            .chain(order.iter().map(|(e, _)| e))
            .collect();
        inner
            .items
            .extend(exprs.iter().enumerate().map(|(i, e)| hidden(i, e)));
        let (input, scope) = self.select(&inner, label, Emit::Changes, false)?;
        let visible = scope.cols.len() - exprs.len();
        let column = |i: usize| ScalarExpr::Column(visible + i);
        let append_only = !self.may_retract(input);
        let mut ranked = scope.clone();
        ranked.cols.push(bind::Column {
            qualifier: None,
            name: rank.name.clone(),
            ty: DataType::Int,
            key: false,
            window_ms: None,
            temporal: false,
            watermark_ms: None,
        });
        let node = self.add(
            Node::TopN(TopNPlan {
                input,
                partition: (0..partition.len()).map(column).collect(),
                order: order
                    .iter()
                    .enumerate()
                    .map(|(i, (_, desc))| (column(partition.len() + i), *desc))
                    .collect(),
                limit,
                append_only,
            }),
            ranked.schema(),
            label,
        );
        // The subquery's own columns, the rank in the ROW_NUMBER item's placeholder.
        let rank_col = scope.cols.len();
        let order_of_cols: Vec<usize> = (0..visible)
            .map(|i| {
                if scope.cols[i].name == crate::parser::TOP_N_RANK {
                    rank_col
                } else {
                    i
                }
            })
            .collect();
        let out = Scope {
            cols: order_of_cols
                .iter()
                .map(|&i| ranked.cols[i].clone())
                .collect(),
        };
        let node = self.add(
            Node::Map {
                input: node,
                exprs: order_of_cols
                    .iter()
                    .map(|&i| ScalarExpr::Column(i))
                    .collect(),
            },
            out.schema(),
            label,
        );
        Ok((node, out))
    }

    /// What binding needs from the job.
    fn context(&self) -> bind::select::Context {
        bind::select::Context {
            tz: self.tz,
            lateness_ms: self.settings.lateness_ms,
            max_iterations: self.settings.max_iterations,
            flink: self.job.file.ends_with(".sql"),
        }
    }

    /// Plans a SELECT: its FROM lowered, the rest bound over the FROM's columns
    /// ([`bind::select::select`]) and lowered to Filter, Aggregate, Filter (HAVING) and Map
    /// nodes. With `hide_window`, a windowed aggregate whose output does not show AGGRTIME gets
    /// it as a hidden last column (not in the returned scope), so a sink can keep each group's
    /// newest window.
    fn select(
        &mut self,
        q: &Select,
        label: &str,
        emit: Emit,
        hide_window: bool,
    ) -> Result<(NodeId, Scope), Diagnostic> {
        let (mut input, scope) = self.from(&q.from, label)?;
        let join_node = matches!(q.from, FromItem::LeftJoin { .. }).then_some(input);
        let before_where = input;
        let b = bind::select::select(q, scope, label, &self.context()).map_err(|e| self.sql(e))?;
        if let Some(predicate) = &b.filter {
            input = self.add(
                Node::Filter {
                    input,
                    predicate: predicate.clone(),
                },
                b.from.schema(),
                label,
            );
        }
        let Some(g) = &b.group else {
            let node = self.add(
                Node::Map {
                    input,
                    exprs: b.exprs.clone(),
                },
                b.out.schema(),
                label,
            );
            let out = b.out.clone();
            self.bound.parts.push(Bound::Select(Box::new(b)));
            return Ok((node, out));
        };
        // Stream rows of a join are kept until their window is final, when the window's time
        // can be read from the stream row alone.
        if let (Some(j), Some(w)) = (join_node, &g.window) {
            let stream_width = match &self.nodes[j].node {
                Node::LeftJoin(plan) => self.nodes[plan.stream].schema.len(),
                _ => 0,
            };
            if let Node::LeftJoin(plan) = &mut self.nodes[j].node {
                if w.time.columns().iter().all(|c| *c < stream_width) {
                    plan.retain = Some(Retention {
                        time: w.time.clone(),
                        size_ms: w.size_ms,
                        lateness_ms: w.lateness_ms,
                    });
                }
            }
        }
        // Sketches cannot take a retraction: their input must only add rows.
        if let Some(i) = g.aggs.iter().position(|c| c.func.append_only()) {
            if self.may_retract(input) {
                return Err(self.err(
                    g.agg_pos[i],
                    format!(
                        "`{}` needs an input that only adds rows; this one revises rows (it reads \
                         an aggregate, or a dimension that changes): use countd",
                        g.aggs[i].func.name()
                    ),
                ));
            }
        }
        let (aggs, args) = argument_slots(g.aggs.clone());
        let mut node = self.add(
            Node::Aggregate(AggregatePlan {
                input,
                watermark_from: (input != before_where && g.window.is_some())
                    .then_some(before_where),
                keys: g.keys.clone(),
                window: g.window.clone(),
                aggs,
                args,
                emit,
            }),
            g.output.clone(),
            label,
        );
        if let Some(predicate) = &b.having {
            node = self.add(
                Node::Filter {
                    input: node,
                    predicate: predicate.clone(),
                },
                g.output.clone(),
                label,
            );
        }
        let mut schema = b.out.schema();
        let mut exprs = b.exprs.clone();
        // A sink reads each row's window from a hidden last column.
        if hide_window && g.window.is_some() {
            exprs.push(ScalarExpr::Column(g.keys.len()));
            schema.fields.push(Field {
                name: "AGGRTIME".into(),
                ty: DataType::Int,
            });
        }
        let node = self.add(Node::Map { input: node, exprs }, schema, label);
        let out = b.out.clone();
        self.bound.parts.push(Bound::Select(Box::new(b)));
        Ok((node, out))
    }
}

/// The result key of a select: its group-key and AGGRTIME columns when it aggregates, the whole
/// row otherwise.
fn key_of(scope: &Scope, q: &Select) -> Option<Vec<usize>> {
    let aggregated = q.group_by.is_some()
        || q.items
            .iter()
            .any(|i| matches!(i, SelectItem::Expr { expr, .. } if contains_aggregate(expr)));
    if aggregated {
        Some(
            scope
                .cols
                .iter()
                .enumerate()
                .filter(|(_, c)| c.key)
                .map(|(i, _)| i)
                .collect(),
        )
    } else {
        None
    }
}

fn item_pos(q: &Select, i: usize) -> Option<Pos> {
    match q.items.get(i)? {
        SelectItem::Expr { expr, .. } => Some(pos_of(expr)),
        SelectItem::Wildcard(p) | SelectItem::QualifiedWildcard { pos: p, .. } => Some(*p),
    }
}

/// A table's `WATERMARK` column (declared, or computed in the view that extends the table)
/// is its time attribute: a TIMESTAMP held as text (or epoch ms) whose windows have the
/// watermark's delay as their lateness.
fn mark_time_attribute(scope: &mut Scope, desc: &crate::job::TableDesc) {
    let Some((col, delay)) = &desc.watermark else {
        return;
    };
    for c in &mut scope.cols {
        if c.name.eq_ignore_ascii_case(col) {
            c.watermark_ms = Some(*delay);
            c.temporal |= c.ty == DataType::String;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job over `src (k STRING, v BIGINT, t BIGINT)` (a file) writing to `dest`, a CSV table of
    /// `dest_fields`.
    fn job(sql: &str, dest_fields: &str) -> Job {
        let text = format!(
            "[system]\nsql={sql}\n[tabledesc-1]\ntable.name=src\n\
             table.fields=k,string,:v,bigint,:t,bigint,\ntable.type=file\ntable.file.path=src.txt\n\
             [tabledesc-2]\ntable.name=dest\ntable.fields={dest_fields}\ntable.type=csv\n\
             table.csv.path=out/dest.csv\n"
        );
        Job::parse("j.ec", &text).unwrap()
    }

    /// WHERE, GROUP BY, a window: Source -> Filter -> Aggregate -> Map, and a sink keyed by the
    /// group key and the window.
    #[test]
    fn a_windowed_query_lowers_to_four_nodes() {
        let plan = lower(&job(
            "INSERT INTO dest SELECT k, AGGRTIME, count(v), sum(v) FROM src WHERE v > 0 \
             GROUP BY k COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS",
            "k,string,:w,bigint,:n,bigint,:s,bigint,",
        ))
        .unwrap();
        assert_eq!(plan.sources.len(), 1);
        assert_eq!(plan.sources[0].table, "src");
        let nodes: Vec<&Node> = plan.nodes.iter().map(|n| &n.node).collect();
        assert!(matches!(nodes[0], Node::Source { source: 0 }));
        let Node::Filter {
            input: 0,
            predicate,
        } = nodes[1]
        else {
            panic!("{:?}", nodes[1])
        };
        assert_eq!(predicate.to_string(), "(#1 > 0)");
        let Node::Aggregate(a) = nodes[2] else {
            panic!("{:?}", nodes[2])
        };
        assert_eq!(a.input, 1);
        assert_eq!(
            a.watermark_from,
            Some(0),
            "the WHERE does not hold the watermark"
        );
        assert_eq!(a.keys.len(), 1);
        assert_eq!(a.keys[0].to_string(), "#0");
        let w = a.window.as_ref().unwrap();
        assert_eq!((w.size_ms, w.time.to_string()), (60_000, "#2".into()));
        let aggs: Vec<(AggFunc, String)> = a
            .aggs
            .iter()
            .map(|c| (c.func, c.arg.as_ref().unwrap().to_string()))
            .collect();
        assert_eq!(
            aggs,
            [(AggFunc::Count, "#1".into()), (AggFunc::Sum, "#1".into())]
        );
        // One argument, one slot.
        assert_eq!(a.args, [ScalarExpr::Column(1)]);
        assert_eq!((a.aggs[0].slot, a.aggs[1].slot), (0, 0));
        let Node::Map { input: 2, exprs } = nodes[3] else {
            panic!("{:?}", nodes[3])
        };
        let exprs: Vec<String> = exprs.iter().map(|e| e.to_string()).collect();
        // The window start again, hidden, for the sink to keep each group's newest window.
        assert_eq!(exprs, ["#0", "#1", "#2", "#3", "#1"]);
        assert_eq!(nodes.len(), 4);
        let sink = &plan.sinks[0];
        assert_eq!((sink.input, sink.key.clone()), (3, Some(vec![0, 1])));
        assert_eq!(sink.version, Some(4));
        // A CSV file in `final` mode is rewritten whole: it keeps every row.
        assert_eq!(sink.frozen_after_ms, None);
    }

    /// A windowed result keyed by its window forgets a row once the window is final, unless
    /// its sink rewrites the whole table.
    #[test]
    fn which_sinks_forget_final_rows() {
        let sql = "INSERT INTO dest SELECT k, AGGRTIME, count(v) FROM src GROUP BY k \
                   COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS";
        let fields = "k,string,:w,bigint,:n,bigint,\ntable.csv.mode=changes";
        let plan = lower(&job(sql, fields)).unwrap();
        assert_eq!(plan.sinks[0].frozen_after_ms, Some(60_000));
        // Without AGGRTIME in the result, a group's row is replaced by its next window's.
        let sql = "INSERT INTO dest SELECT k, count(v) FROM src GROUP BY k \
                   COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS";
        let plan = lower(&job(sql, "k,string,:n,bigint,\ntable.csv.mode=changes")).unwrap();
        assert_eq!(plan.sinks[0].frozen_after_ms, None);
        assert_eq!(plan.sinks[0].version, Some(2));
    }

    /// A SELECT without aggregates is one Map; a cast to the sink's field type is another.
    #[test]
    fn a_projection_and_the_sink_cast() {
        let plan = lower(&job(
            "INSERT INTO dest SELECT k, v + 1 FROM src",
            "k,string,:v,double,",
        ))
        .unwrap();
        let nodes: Vec<&Node> = plan.nodes.iter().map(|n| &n.node).collect();
        assert_eq!(nodes.len(), 3);
        let Node::Map { input: 0, exprs } = nodes[1] else {
            panic!("{:?}", nodes[1])
        };
        assert_eq!(exprs[1].to_string(), "(#1 + 1)");
        let Node::Map { input: 1, exprs } = nodes[2] else {
            panic!("{:?}", nodes[2])
        };
        assert_eq!(exprs[0], ScalarExpr::Column(0));
        assert_eq!(exprs[1].to_string(), "CAST(#1 AS DOUBLE)");
        assert_eq!(plan.sinks[0].key, None, "the whole row is the key");
        assert_eq!(plan.nodes[2].label, "INSERT INTO dest");
    }

    #[test]
    fn lowering_errors_point_at_the_statement() {
        let e = lower(&job(
            "INSERT INTO dest SELECT k FROM src",
            "k,string,:v,double,",
        ))
        .unwrap_err();
        assert!(
            e.message
                .contains("the SELECT gives 1 column but the table has 2 fields"),
            "{e}"
        );
        let e = lower(&job("INSERT INTO nowhere SELECT k FROM src", "k,string,")).unwrap_err();
        assert!(e.message.contains("unknown table `nowhere`"), "{e}");
    }

    /// Aggregates of one argument share its slot, whatever the function or window;
    /// `count(*)`s read one `TRUE`; an aggregate written twice is computed once.
    #[test]
    fn aggregate_arguments_get_one_slot_each() {
        let plan = lower(&job(
            "INSERT INTO dest SELECT k, count(*), count(v), countd(v), sum(v + t), \
             max(v + t), count(1), count(v) FROM src GROUP BY k",
            "k,string,:a,bigint,:b,bigint,:c,bigint,:d,bigint,:e,bigint,:f,bigint,:g,bigint,",
        ))
        .unwrap();
        let a = plan
            .nodes
            .iter()
            .find_map(|n| match &n.node {
                Node::Aggregate(a) => Some(a),
                _ => None,
            })
            .unwrap();
        let args: Vec<String> = a.args.iter().map(|e| e.to_string()).collect();
        assert_eq!(args, ["true", "#1", "(#1 + #2)"]);
        let calls: Vec<String> = a.aggs.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            calls,
            [
                "count(*)@0",
                "count(#1)@1",
                "countd(#1)@1",
                "sum((#1 + #2))@2",
                "max((#1 + #2))@2"
            ]
        );
    }

    /// Joins of one dimension on one key (written either way round) share an operator; a join
    /// on another key gets its own.
    #[test]
    fn joins_on_one_key_share_a_group() {
        let text = "[system]\nsql=INSERT INTO a SELECT s.k, d.n FROM src s LEFT JOIN dim d \
                    ON s.k = lower(d.k); INSERT INTO b SELECT s.v FROM src s LEFT JOIN dim d \
                    ON lower(d.k) = s.k AND d.n > 1; INSERT INTO c SELECT s.v FROM src s \
                    LEFT JOIN dim d ON s.k = d.k\n\
                    [tabledesc-1]\ntable.name=src\ntable.fields=k,string,:v,bigint,\n\
                    table.type=file\ntable.file.path=src.txt\n\
                    [tabledesc-2]\ntable.name=dim\ntable.fields=k,string,:n,bigint,\n\
                    table.type=file\ntable.file.path=dim.txt\n\
                    [tabledesc-3]\ntable.name=a\ntable.type=stdout\n\
                    [tabledesc-4]\ntable.name=b\ntable.type=stdout\n\
                    [tabledesc-5]\ntable.name=c\ntable.type=stdout\n";
        let plan = lower(&Job::parse("j.ec", text).unwrap()).unwrap();
        let groups: Vec<usize> = plan
            .nodes
            .iter()
            .filter_map(|n| match &n.node {
                Node::LeftJoin(j) => Some(j.group),
                _ => None,
            })
            .collect();
        assert_eq!(groups, [0, 0, 1]);
        assert_eq!(plan.join_groups().len(), 2);
        assert_eq!(plan.join_groups()[0].len(), 2);
    }
}
