//! The published field lists of the CRM summaries chatdesk keeps as raw JSON
//! (`Associate`, `Person`, `Contact`, …): which keys each may hold and the
//! JSON type of each, used to type-check a summary when it is received.

pub use crate::wire::schema::*;
