//! Read models fed by the event log. Each is a [`runner::Projection`] run by
//! a [`runner::Runner`]: it reads the log from the offset it committed with
//! its effects, so it resumes after a crash, can be rebuilt from the log on
//! demand, and reports its lag on `/metrics`. The search index is the first.

pub mod runner;
pub mod search;
