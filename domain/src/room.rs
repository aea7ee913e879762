//! room aggregate (being written)
