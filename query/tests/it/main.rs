//! Query routes against real Redis and Postgres, with read models written by
//! a fixture in the projector's shapes (`domain::views`).

mod auth;
mod consistency;
mod e2e;
mod fixture;
mod heartbeat;
mod messages;
mod rooms;
mod users;
