//! The planner's entry point: a job is bound ([`crate::bind`]) and lowered ([`crate::lower`])
//! to a [`Plan`].

use crate::bind::select::BoundQuery;
use crate::error::Diagnostic;
use crate::job::Job;
use crate::plan::Plan;

/// Plans a loaded job.
pub fn plan(job: &Job) -> Result<Plan, Diagnostic> {
    crate::lower::lower(job)
}

/// Plans a loaded job, or gives every independent error in it (`tally check`).
pub fn check(job: &Job) -> Result<Plan, Vec<Diagnostic>> {
    crate::lower::check(job)
}

/// Plans a loaded job and keeps its bound form (each JOIN and SELECT as lowering read it),
/// for `tally explain`.
pub fn explain(job: &Job) -> Result<(BoundQuery, Plan), Diagnostic> {
    crate::lower::lower_bound(job)
}
