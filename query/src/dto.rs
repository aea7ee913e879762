//! The JSON answers of the query routes. They live in the `contract` crate,
//! shared with the clients; this module names them for the handlers.

pub use contract::queries::*;
pub use contract::Problem;
