//! In-process rate limits: keyed token buckets answering 429 `rate_limited`
//! with `Retry-After`.
//!
//! - logins and sign-ups: per account (the username as sent) and per client
//!   address, checked *before* any password hashing, and for unknown and known
//!   usernames alike, so the limit neither costs argon2 time nor reveals
//!   which accounts exist;
//! - posting and searching: per user.
//!
//! **Per node.** The buckets live in this process's memory: with several
//! command (or query) nodes behind a load balancer, each enforces the limit on
//! its own, so the cluster-wide allowance is the per-node limit times the
//! number of nodes. Memory is bounded: each limiter keeps at most
//! [`MAX_KEYS`] buckets and drops idle (refilled) ones first.
//!
//! **Addresses.** The client address is the socket peer address (the server
//! must be served with `into_make_service_with_connect_info`), or the first
//! `X-Forwarded-For` entry when [`RateLimitConfig::trust_forwarded_for`] is
//! set (only behind a proxy that overwrites that header). Loopback peers are
//! exempt from the per-address limit unless configured otherwise, so local
//! tooling and benches that sign in hundreds of users from 127.0.0.1 work.
//!
//! Configuration comes from the environment ([`RateLimitConfig::from_env`]);
//! the defaults are far above what the benches do per user.

use crate::error::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Most buckets one limiter keeps.
pub const MAX_KEYS: usize = 100_000;

/// A rate: `per_second` tokens refilled, at most `burst` stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests allowed at once after being idle.
    pub burst: f64,
}

impl Rate {
    /// `n` per minute, with a burst of `n`.
    pub fn per_minute(n: f64) -> Self {
        Self {
            per_second: n / 60.0,
            burst: n,
        }
    }
}

/// Every limit, with defaults; each is read from an environment variable.
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// Logins and sign-ups per username (`COTALK_RATE_LOGIN_PER_ACCOUNT_PER_MIN`, 10).
    pub login_per_account: Rate,
    /// Logins and sign-ups per client address (`COTALK_RATE_LOGIN_PER_ADDRESS_PER_MIN`, 30).
    pub login_per_address: Rate,
    /// Posts per user (`COTALK_RATE_POST_PER_SEC` 1000, `COTALK_RATE_POST_BURST` 2000).
    pub post_per_user: Rate,
    /// Searches per user (`COTALK_RATE_SEARCH_PER_SEC` 20, `COTALK_RATE_SEARCH_BURST` 40).
    pub search_per_user: Rate,
    /// Use the first `X-Forwarded-For` address (`COTALK_RATE_TRUST_FORWARDED_FOR`, false).
    pub trust_forwarded_for: bool,
    /// Loopback peers skip the per-address limit (`COTALK_RATE_EXEMPT_LOOPBACK`, true).
    pub exempt_loopback: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            login_per_account: Rate::per_minute(10.0),
            login_per_address: Rate::per_minute(30.0),
            // A flood guard, not a pace: the closed-loop append bench posts
            // a few hundred per second per user, and must not be throttled.
            post_per_user: Rate {
                per_second: 1000.0,
                burst: 2000.0,
            },
            search_per_user: Rate {
                per_second: 20.0,
                burst: 40.0,
            },
            trust_forwarded_for: false,
            exempt_loopback: true,
        }
    }
}

fn env_f64(name: &str, default: f64) -> f64 {
    match std::env::var(name).ok().map(|v| v.trim().parse::<f64>()) {
        Some(Ok(v)) if v.is_finite() && v > 0.0 => v,
        Some(_) => {
            tracing::warn!(variable = name, "ignoring a bad rate limit setting");
            default
        }
        None => default,
    }
}

fn env_bool(name: &str, default: bool) -> bool {
    match std::env::var(name).ok().as_deref().map(str::trim) {
        Some("1" | "true" | "yes") => true,
        Some("0" | "false" | "no") => false,
        _ => default,
    }
}

impl RateLimitConfig {
    /// The defaults, overridden by the `COTALK_RATE_*` variables.
    pub fn from_env() -> Self {
        let d = Self::default();
        Self {
            login_per_account: Rate::per_minute(env_f64(
                "COTALK_RATE_LOGIN_PER_ACCOUNT_PER_MIN",
                d.login_per_account.burst,
            )),
            login_per_address: Rate::per_minute(env_f64(
                "COTALK_RATE_LOGIN_PER_ADDRESS_PER_MIN",
                d.login_per_address.burst,
            )),
            post_per_user: Rate {
                per_second: env_f64("COTALK_RATE_POST_PER_SEC", d.post_per_user.per_second),
                burst: env_f64("COTALK_RATE_POST_BURST", d.post_per_user.burst),
            },
            search_per_user: Rate {
                per_second: env_f64("COTALK_RATE_SEARCH_PER_SEC", d.search_per_user.per_second),
                burst: env_f64("COTALK_RATE_SEARCH_BURST", d.search_per_user.burst),
            },
            trust_forwarded_for: env_bool("COTALK_RATE_TRUST_FORWARDED_FOR", false),
            exempt_loopback: env_bool("COTALK_RATE_EXEMPT_LOOPBACK", true),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by `K`, at most [`MAX_KEYS`] of them.
#[derive(Debug)]
pub struct Limiter<K> {
    rate: Rate,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// A limiter at `rate`.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one token for `key` at `now`: `Ok`, or the seconds to wait.
    pub fn take_at(&self, key: &K, now: Instant) -> Result<(), u64> {
        let rate = self.rate;
        // A poisoned lock only means another request panicked mid-update; the
        // counts are still usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let refill = |b: &Bucket| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            (b.tokens + elapsed * rate.per_second).min(rate.burst)
        };
        if !buckets.contains_key(key) && buckets.len() >= MAX_KEYS {
            // Idle keys are full again: forgetting them changes nothing.
            buckets.retain(|_, b| refill(b) < rate.burst);
            if buckets.len() >= MAX_KEYS {
                // Still full of active keys: let the request through untracked
                // rather than grow without bound or refuse everyone.
                return Ok(());
            }
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: rate.burst,
            at: now,
        });
        let tokens = refill(bucket);
        bucket.at = now;
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            let wait = (1.0 - tokens) / rate.per_second;
            Err(wait.ceil().max(1.0) as u64)
        }
    }

    /// Take one token for `key`, or 429 `rate_limited` with `Retry-After`.
    pub fn take(&self, key: &K) -> Result<(), ApiError> {
        self.take_at(key, Instant::now())
            .map_err(ApiError::rate_limited)
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// No key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every limiter of a process; shared through a request extension.
#[derive(Debug)]
pub struct RateLimits {
    /// The configuration the limiters were made from.
    pub config: RateLimitConfig,
    /// Logins and sign-ups per username.
    pub login_account: Limiter<String>,
    /// Logins and sign-ups per client address.
    pub login_address: Limiter<IpAddr>,
    /// Posts per user.
    pub post: Limiter<uuid::Uuid>,
    /// Searches per user.
    pub search: Limiter<uuid::Uuid>,
}

impl RateLimits {
    /// Limiters for `config`.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            login_account: Limiter::new(config.login_per_account),
            login_address: Limiter::new(config.login_per_address),
            post: Limiter::new(config.post_per_user),
            search: Limiter::new(config.search_per_user),
            config,
        }
    }

    /// Check a login or sign-up attempt for `username` from `address`.
    pub fn login(&self, username: &str, address: Option<IpAddr>) -> Result<(), ApiError> {
        if let Some(ip) = address {
            if !(self.config.exempt_loopback && ip.is_loopback()) {
                self.login_address.take(&ip)?;
            }
        }
        self.login_account.take(&username.trim().to_lowercase())
    }
}

/// The process's limits, if the router was given them (a request extension
/// `Arc<RateLimits>`), and the client address of the request.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The limits; `None` when the router was built without them (no limits).
    pub limits: Option<Arc<RateLimits>>,
    /// The client address, when known (see the module documentation).
    pub address: Option<IpAddr>,
}

fn forwarded_for(parts: &Parts) -> Option<IpAddr> {
    let value = parts.headers.get("x-forwarded-for")?.to_str().ok()?;
    value.split(',').next()?.trim().parse().ok()
}

impl<S: Send + Sync> FromRequestParts<S> for Limits {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let limits = parts.extensions.get::<Arc<RateLimits>>().cloned();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let trust = limits
            .as_ref()
            .is_some_and(|l| l.config.trust_forwarded_for);
        let address = if trust {
            forwarded_for(parts).or(peer)
        } else {
            peer
        };
        Ok(Self { limits, address })
    }
}

impl Limits {
    /// See [`RateLimits::login`]; passes when there are no limits.
    pub fn login(&self, username: &str) -> Result<(), ApiError> {
        match &self.limits {
            Some(l) => l.login(username, self.address),
            None => Ok(()),
        }
    }

    /// One post by `user`.
    pub fn post(&self, user: uuid::Uuid) -> Result<(), ApiError> {
        match &self.limits {
            Some(l) => l.post.take(&user),
            None => Ok(()),
        }
    }

    /// One search by `user`.
    pub fn search(&self, user: uuid::Uuid) -> Result<(), ApiError> {
        match &self.limits {
            Some(l) => l.search.take(&user),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let l = Limiter::new(Rate {
            per_second: 1.0,
            burst: 3.0,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take_at(&1u8, t0).is_ok());
        }
        assert_eq!(l.take_at(&1u8, t0), Err(1));
        assert!(l.take_at(&2u8, t0).is_ok(), "keys are independent");
        assert!(l.take_at(&1u8, t0 + Duration::from_millis(1100)).is_ok());
        assert!(l.take_at(&1u8, t0 + Duration::from_millis(1100)).is_err());
    }

    #[test]
    fn retry_after_rounds_up_for_slow_rates() {
        let l = Limiter::new(Rate::per_minute(2.0));
        let t0 = Instant::now();
        assert!(l.take_at(&"a", t0).is_ok());
        assert!(l.take_at(&"a", t0).is_ok());
        assert_eq!(l.take_at(&"a", t0), Err(30));
    }

    #[test]
    fn idle_keys_are_evicted_when_full() {
        let l = Limiter::new(Rate {
            per_second: 1000.0,
            burst: 1.0,
        });
        let t0 = Instant::now();
        for k in 0..MAX_KEYS {
            assert!(l.take_at(&k, t0).is_ok());
        }
        assert_eq!(l.len(), MAX_KEYS);
        // A second later every bucket is full again, so a new key evicts them.
        assert!(l.take_at(&MAX_KEYS, t0 + Duration::from_secs(1)).is_ok());
        assert_eq!(l.len(), 1);
    }
}
