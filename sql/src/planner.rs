//! The planner's entry point: a job is bound ([`crate::bind`]) and lowered ([`crate::lower`])
//! to a [`Plan`].

use crate::error::Diagnostic;
use crate::job::Job;
use crate::plan::Plan;

/// Plans a loaded job.
pub fn plan(job: &Job) -> Result<Plan, Diagnostic> {
    crate::lower::lower(job)
}
