//! user aggregate (being written)
