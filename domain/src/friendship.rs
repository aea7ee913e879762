//! friendship aggregate (being written)
