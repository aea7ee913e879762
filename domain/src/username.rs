//! username aggregate (being written)
