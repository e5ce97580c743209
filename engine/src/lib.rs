//! tally's engine: renders a [`tally_sql::plan::Plan`] as a timely dataflow of differential
//! collections and drives it on every worker: sources in, epochs forward, sinks flushed.

pub mod accum;
pub mod checkpoint;
mod cluster;
pub mod http;
mod persist;
pub mod render;
pub mod results;
mod run;
pub mod store;

pub use render::explain;
pub use run::{run, EngineError, RunOptions, RunSummary};
