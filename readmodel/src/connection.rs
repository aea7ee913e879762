//! Where the read models live: one Redis, or a Redis Cluster.
//!
//! `COTALK_REDIS_URL` names either one server (`redis://host:port`) or a
//! cluster: `redis+cluster://host:port[,host:port…]` (seed nodes; the client
//! learns the rest from them), or several `redis://` URLs separated by
//! commas. [`RedisTarget`] opens either and hands out [`RedisConn`]s, which
//! every reader and writer takes through [`redis::aio::ConnectionLike`].
//!
//! Under a cluster, every command of one transaction, script or pipeline
//! must hash to one slot. cotalk keeps that true by putting a hash tag in
//! the namespace (`{cotalk}`): every key starts with the namespace, so all
//! of a deployment's keys live in one slot, served by one master and
//! copied to its replica. That is Redis Cluster for failover: a master's
//! death promotes its replica within `cluster-node-timeout`, and the client
//! follows the `MOVED` answers to it. It spreads no load: a namespace's
//! keys sit on one master (see ARCHITECTURE.md, "Cluster deployment").
//! [`RedisTarget::check_namespace`] refuses a namespace without a tag on a
//! cluster, so nothing ever fails later with `CROSSSLOT`.
//!
//! Commands that name no key (`SCAN`) go to the master owning the
//! namespace's slot ([`RedisConn::on_owner_of`]); on one server they are
//! sent as they are.

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use std::time::Duration;

/// The scheme that names a cluster by its seed nodes.
const CLUSTER_SCHEME: &str = "redis+cluster://";
/// Slots of a Redis Cluster.
const SLOTS: u16 = 16384;

/// How long to wait for a connection and for each answer.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Connecting (and, under a cluster, learning the slot map).
    pub connect: Duration,
    /// One answer.
    pub response: Duration,
}

impl Timeouts {
    /// Connect within `connect`, each answer within `response`.
    pub const fn new(connect: Duration, response: Duration) -> Self {
        Self { connect, response }
    }
}

/// One Redis server or one Redis Cluster, not yet connected.
#[derive(Clone)]
pub enum RedisTarget {
    /// A single server (with any replicas it has behind it).
    Single(redis::Client),
    /// A Redis Cluster, by its seed nodes.
    Cluster(ClusterClient),
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Single(c) => f
                .debug_tuple("Single")
                .field(c.get_connection_info())
                .finish(),
            Self::Cluster(_) => f.write_str("Cluster"),
        }
    }
}

impl From<redis::Client> for RedisTarget {
    fn from(client: redis::Client) -> Self {
        Self::Single(client)
    }
}

impl RedisTarget {
    /// Parse `url` (see the module docs). Connects to nothing.
    pub fn open(url: &str) -> RedisResult<Self> {
        let url = url.trim();
        let seeds: Vec<String> = match url.strip_prefix(CLUSTER_SCHEME) {
            Some(rest) => rest
                .split(',')
                .map(|s| format!("redis://{}", s.trim()))
                .collect(),
            None if url.contains(',') => url.split(',').map(|s| s.trim().to_owned()).collect(),
            None => return Ok(Self::Single(redis::Client::open(url)?)),
        };
        if seeds.iter().any(|s| s == "redis://") {
            return Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "an empty seed node in the cluster URL",
            )));
        }
        Ok(Self::Cluster(
            ClusterClient::builder(seeds).retries(3).build()?,
        ))
    }

    /// Whether this is a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Refuse a namespace that would spread a transaction over several
    /// slots: on a cluster it must hold a non-empty hash tag (`{name}`),
    /// which, every key starting with the namespace, is every key's tag.
    pub fn check_namespace(&self, namespace: &str) -> Result<(), String> {
        if !self.is_cluster() || hash_tag(namespace).is_some() {
            return Ok(());
        }
        Err(format!(
            "the namespace `{namespace}` has no hash tag: on a Redis Cluster every key of a \
             transaction must share a slot, so set COTALK_NAMESPACE to `{{{namespace}}}`"
        ))
    }

    /// A multiplexed connection with bounded waits. It does not reconnect
    /// by itself on one server: callers that keep it drop it on an error
    /// and ask again. A cluster connection follows failovers on its own.
    pub async fn connect(&self, timeouts: Timeouts) -> RedisResult<RedisConn> {
        match self {
            Self::Single(client) => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(timeouts.connect)
                    .set_response_timeout(timeouts.response);
                Ok(RedisConn::Multiplexed(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
            Self::Cluster(client) => Ok(RedisConn::Cluster(
                client
                    .get_async_connection_with_config(cluster_config(timeouts))
                    .await?,
            )),
        }
    }

    /// A connection that reconnects by itself (a `ConnectionManager` on one
    /// server, retrying `retries` times up to `max_delay_ms` apart), for
    /// state shared by many requests.
    pub async fn connect_managed(
        &self,
        timeouts: Timeouts,
        retries: usize,
        max_delay_ms: u64,
    ) -> RedisResult<RedisConn> {
        match self {
            Self::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(timeouts.connect)
                    .set_response_timeout(timeouts.response)
                    .set_number_of_retries(retries)
                    .set_max_delay(max_delay_ms);
                Ok(RedisConn::Managed(
                    ConnectionManager::new_with_config(client.clone(), config).await?,
                ))
            }
            Self::Cluster(_) => self.connect(timeouts).await,
        }
    }
}

fn cluster_config(timeouts: Timeouts) -> ClusterConfig {
    ClusterConfig::new()
        .set_connection_timeout(timeouts.connect)
        .set_response_timeout(timeouts.response)
}

/// A connection to one server or to a cluster.
#[derive(Clone)]
pub enum RedisConn {
    /// One server, one multiplexed socket.
    Multiplexed(MultiplexedConnection),
    /// One server, reconnecting by itself.
    Managed(ConnectionManager),
    /// A cluster: a socket per node, commands routed by their keys' slot.
    Cluster(ClusterConnection),
}

impl RedisConn {
    /// Run `cmd`, which names no key, on the master that owns `key`'s slot
    /// (on one server: on that server).
    pub async fn on_owner_of(&mut self, key: &str, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Self::Cluster(c) => {
                let route = Route::new(slot(key), SlotAddr::Master);
                c.route_command(
                    cmd,
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                )
                .await
            }
            other => other.req_packed_command(cmd).await,
        }
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Multiplexed(c) => c.req_packed_command(cmd),
            Self::Managed(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Multiplexed(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Managed(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Multiplexed(c) => c.get_db(),
            Self::Managed(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// The part of `key` that picks its slot: the text inside the first `{…}`
/// when it is not empty.
fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let close = key[open + 1..].find('}')? + open + 1;
    (close > open + 1).then(|| &key[open + 1..close])
}

/// The cluster slot of `key`: CRC16 (XMODEM) of its hash tag, or of the
/// whole key without one, modulo 16384.
pub fn slot(key: &str) -> u16 {
    let hashed = hash_tag(key).unwrap_or(key);
    crc16::State::<crc16::XMODEM>::calculate(hashed.as_bytes()) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_the_redis_cluster_specification() {
        // The specification's own example: CRC16("123456789") = 0x31C3.
        assert_eq!(
            crc16::State::<crc16::XMODEM>::calculate(b"123456789"),
            0x31C3
        );
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));
        assert_eq!(slot("foo{}{bar}"), slot("foo{}{bar}"));
        assert_ne!(slot("foo{}{bar}"), slot("bar"));
        assert_eq!(slot("foo{{bar}}zap"), slot("{bar"));
        assert_eq!(slot("foo{bar}{zap}"), slot("bar"));
    }

    #[test]
    fn every_key_of_a_tagged_namespace_shares_its_slot() {
        let keys = crate::RedisKeys::new("{cotalk}", 3);
        let room = domain::ids::RoomId(uuid::Uuid::from_u128(7));
        let user = domain::ids::UserId(uuid::Uuid::from_u128(9));
        let tagged = slot("{cotalk}");
        for key in [
            keys.checkpoint(),
            keys.timeline(room),
            keys.rooms_of(user),
            keys.room_activity(),
            crate::RedisKeys::generation_pointer("{cotalk}"),
            crate::live::presence_key("{cotalk}", user),
            crate::sessions::revoked_key("{cotalk}"),
        ] {
            assert_eq!(slot(&key), tagged, "{key}");
        }
    }

    #[test]
    fn urls_name_one_server_or_a_cluster() {
        assert!(!RedisTarget::open("redis://127.0.0.1:6379")
            .unwrap()
            .is_cluster());
        let seeds = "redis+cluster://127.0.0.1:7001,127.0.0.1:7002";
        assert!(RedisTarget::open(seeds).unwrap().is_cluster());
        let listed = "redis://127.0.0.1:7001,redis://127.0.0.1:7002";
        assert!(RedisTarget::open(listed).unwrap().is_cluster());
        assert!(RedisTarget::open("redis+cluster://127.0.0.1:7001,").is_err());
    }

    #[test]
    fn a_cluster_needs_a_tagged_namespace() {
        let one = RedisTarget::open("redis://127.0.0.1:6379").unwrap();
        let cluster = RedisTarget::open("redis+cluster://127.0.0.1:7001").unwrap();
        assert!(one.check_namespace("cotalk").is_ok());
        assert!(cluster.check_namespace("{cotalk}").is_ok());
        assert!(cluster.check_namespace("eu{cotalk}").is_ok());
        for bad in ["cotalk", "{}cotalk", "{cotalk", "co}{talk"] {
            assert!(cluster.check_namespace(bad).is_err(), "{bad}");
        }
    }
}
