//! The HTTP server: one accept loop that `cotalk serve` and the black-box
//! tests both use, so tests serve exactly as production does.
//!
//! - [`serve_listener`]: accepts connections, caps them per client address,
//!   serves each with hyper (HTTP/1.1, WebSocket upgrades) under the
//!   header-read and idle timeouts of [`HttpOptions`] (`conn`), and shuts down
//!   gracefully.
//! - [`headers`]: response headers every answer gets (`Cache-Control`,
//!   `Referrer-Policy`, `X-Content-Type-Options`).
//! - [`trace`]: the request log span, with credentials taken out of the URI.
//!
//! `axum::serve` has none of the timeouts or the cap, which is why this
//! exists. Only HTTP/1.1 is served (hyper is built without HTTP/2).

mod conn;
pub mod headers;
pub mod trace;

use crate::config::ServeArgs;
use axum::Router;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Connection limits of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// How long a request head may take, from its first byte (or from the
    /// opening of the connection, for the first request).
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Most open connections per client address (per IPv6 /64).
    pub max_connections_per_address: usize,
}

impl HttpOptions {
    /// The options `serve` was started with.
    pub fn from_args(args: &ServeArgs) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(args.idle_timeout_secs),
            max_connections_per_address: args.max_connections_per_address as usize,
        }
    }
}

/// Open connections per client address.
#[derive(Default)]
struct AddressCounts(Mutex<HashMap<IpAddr, usize>>);

/// One open connection of an address; frees its place when dropped.
struct AddressSlot {
    counts: Arc<AddressCounts>,
    address: IpAddr,
}

impl AddressCounts {
    /// A place for a connection from `address`, unless it has `max` already.
    fn take(self: &Arc<Self>, address: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let open = counts.entry(address).or_insert(0);
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(AddressSlot {
            counts: self.clone(),
            address,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = counts.get_mut(&self.address) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// Whose connection this is, for the cap: the IPv4 address, or the IPv6 /64
/// (one subscriber's prefix: anyone holding one has 2^64 addresses to use).
fn client_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

/// An error of the one connection being accepted, not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// Serve `router` on `listener` until `shutdown`, then stop accepting, let
/// every connection finish its in-flight request and return when all have
/// closed (upgraded WebSockets are the stream hub's to close).
///
/// Each request carries `ConnectInfo<SocketAddr>` of its peer.
pub async fn serve_listener(
    listener: TcpListener,
    router: Router,
    options: HttpOptions,
    shutdown: CancellationToken,
) {
    let counts = Arc::new(AddressCounts::default());
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, mostly: accepting again at once
                // would spin; what is open will close in time.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = counts.take(client_key(peer.ip()), options.max_connections_per_address)
        else {
            tracing::debug!(%peer, "too many connections from this address, closing");
            metrics::counter!("cotalk_http_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        // Answers are written whole; waiting to coalesce them only adds latency.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "could not set TCP_NODELAY");
        }
        connections.spawn(conn::serve(
            stream,
            peer,
            slot,
            router.clone(),
            options,
            shutdown.clone(),
        ));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_counted_per_address_and_freed() {
        let counts = Arc::new(AddressCounts::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let first = counts.take(a, 2).unwrap();
        let _second = counts.take(a, 2).unwrap();
        assert!(counts.take(a, 2).is_none());
        assert!(counts.take("10.0.0.2".parse().unwrap(), 2).is_some());
        drop(first);
        assert!(counts.take(a, 2).is_some());
    }

    #[test]
    fn ipv6_clients_are_counted_per_slash_64() {
        let one = client_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let other = client_key("2001:db8:1:2:bbbb::2".parse().unwrap());
        assert_eq!(one, other);
        assert_ne!(one, client_key("2001:db8:1:3::1".parse().unwrap()));
        let mapped = client_key("::ffff:192.0.2.7".parse().unwrap());
        assert_eq!(mapped, "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
