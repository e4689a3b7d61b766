//! Read models fed by the event log. Each reads the log from a stored
//! offset, so it resumes after a crash and can be rebuilt from the log.

pub mod search;
