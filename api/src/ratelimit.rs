//! In-process rate limits: keyed token buckets answering 429 `rate_limited`
//! with `Retry-After`.
//!
//! - logins: *failed* attempts per account and per client address, with a
//!   lockout that an attacker cannot turn on its victim (see [`crate::login_limit`]);
//! - sign-ups: per client address (each costs an argon2 hash);
//! - posting, searching and looking users up by username: per user.
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
//! limited like any other address unless [`RateLimitConfig::exempt_loopback`]
//! is set: behind a reverse proxy on the same host every client is 127.0.0.1,
//! so exempting loopback by default would switch the per-address limits off
//! exactly where they matter. Local tooling that signs in hundreds of users
//! from 127.0.0.1 (tests, benches) asks for the exemption explicitly.
//!
//! **Required state.** The limits are part of each side's router state
//! ([`Limits`] needs `Arc<RateLimits>: FromRef<S>`), so a router cannot be
//! built without them: there is no way for a route to run unlimited by
//! omission. The configuration is typed and checked at start-up by the
//! binary's `ServeArgs` (a bad value stops the process).

use crate::error::ApiError;
use crate::login_limit::LoginAttempt;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    pub const fn per_minute(n: f64) -> Self {
        Self {
            per_second: n / 60.0,
            burst: n,
        }
    }
}

/// Every limit. The binary fills it from its typed configuration
/// (`COTALK_RATE_*` flags and variables); [`RateLimitConfig::DEFAULT`] holds
/// the defaults both use.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    /// Failed logins per account (its failure budget, see [`crate::login_limit`]).
    pub login_failures_per_account: Rate,
    /// Failed logins and sign-ups per client address.
    pub login_per_address: Rate,
    /// How long a login from an address without failures waits while the
    /// account's failure budget is exhausted (it is delayed, never refused).
    pub locked_login_delay: Duration,
    /// Posts per user.
    pub post_per_user: Rate,
    /// Searches per user.
    pub search_per_user: Rate,
    /// `GET /v1/users?username=` lookups per user.
    pub user_lookup_per_user: Rate,
    /// Invite token uses (previews and joins) per user: bounds guessing of
    /// tokens and join codes (issue 16).
    pub invite_per_user: Rate,
    /// Use the first `X-Forwarded-For` address.
    pub trust_forwarded_for: bool,
    /// Loopback peers skip the per-address limits.
    pub exempt_loopback: bool,
}

impl RateLimitConfig {
    /// The defaults: far above what a person does, and above what the
    /// benches do per user.
    pub const DEFAULT: Self = Self {
        login_failures_per_account: Rate::per_minute(10.0),
        login_per_address: Rate::per_minute(30.0),
        locked_login_delay: Duration::from_millis(1000),
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
        // A person adds a few people at a time; enumerating usernames at
        // one a second takes a day for 86 400 guesses.
        user_lookup_per_user: Rate {
            per_second: 1.0,
            burst: 20.0,
        },
        // Opening a link is rare; guessing a 4-digit code at one a
        // second takes hours, a 256-bit token never ends.
        invite_per_user: Rate {
            per_second: 1.0,
            burst: 20.0,
        },
        trust_forwarded_for: false,
        exempt_loopback: false,
    };
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self::DEFAULT
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

    fn refill(&self, b: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + elapsed * self.rate.per_second).min(self.rate.burst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Bucket>> {
        // A poisoned lock only means another request panicked mid-update; the
        // counts are still usable.
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Take one token for `key` at `now`: `Ok`, or the seconds to wait.
    pub fn take_at(&self, key: &K, now: Instant) -> Result<(), u64> {
        let mut buckets = self.lock();
        if !buckets.contains_key(key) && buckets.len() >= MAX_KEYS {
            // Idle keys are full again: forgetting them changes nothing.
            buckets.retain(|_, b| self.refill(b, now) < self.rate.burst);
            if buckets.len() >= MAX_KEYS {
                // Still full of active keys: let the request through untracked
                // rather than grow without bound or refuse everyone.
                return Ok(());
            }
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.rate.burst,
            at: now,
        });
        let tokens = self.refill(bucket, now);
        bucket.at = now;
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            let wait = (1.0 - tokens) / self.rate.per_second;
            Err(wait.ceil().max(1.0) as u64)
        }
    }

    /// Take one token for `key`, or 429 `rate_limited` with `Retry-After`.
    pub fn take(&self, key: &K) -> Result<(), ApiError> {
        self.take_at(key, Instant::now())
            .map_err(ApiError::rate_limited)
    }

    /// Give back a token taken for `key` (a reservation that turned out not
    /// to count); never above the burst.
    pub fn refund_at(&self, key: &K, now: Instant) {
        let mut buckets = self.lock();
        if let Some(bucket) = buckets.get_mut(key) {
            bucket.tokens = (self.refill(bucket, now) + 1.0).min(self.rate.burst);
            bucket.at = now;
        }
    }

    /// Whether `key` has every token (nothing taken recently).
    pub fn is_full_at(&self, key: &K, now: Instant) -> bool {
        self.lock()
            .get(key)
            .is_none_or(|b| self.refill(b, now) >= self.rate.burst)
    }

    /// Forget `key` (its bucket is full again).
    pub fn reset(&self, key: &K) {
        self.lock().remove(key);
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// No key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every limiter of a process, shared by the routes through their state.
#[derive(Debug)]
pub struct RateLimits {
    /// The configuration the limiters were made from.
    pub config: RateLimitConfig,
    /// Failed logins per account (normalised username).
    pub login_account: Limiter<String>,
    /// Failed logins and sign-ups per client address.
    pub login_address: Limiter<IpAddr>,
    /// Failed logins per (account, address): the failures "on record" that
    /// decide who is refused while an account's budget is exhausted.
    pub login_pair: Limiter<(String, IpAddr)>,
    /// Posts per user.
    pub post: Limiter<uuid::Uuid>,
    /// Searches per user.
    pub search: Limiter<uuid::Uuid>,
    /// Username lookups per user.
    pub user_lookup: Limiter<uuid::Uuid>,
    /// Invite token uses per user.
    pub invite: Limiter<uuid::Uuid>,
}

impl RateLimits {
    /// Limiters for `config`.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            login_account: Limiter::new(config.login_failures_per_account),
            login_address: Limiter::new(config.login_per_address),
            login_pair: Limiter::new(config.login_failures_per_account),
            post: Limiter::new(config.post_per_user),
            search: Limiter::new(config.search_per_user),
            user_lookup: Limiter::new(config.user_lookup_per_user),
            invite: Limiter::new(config.invite_per_user),
            config,
        }
    }

    /// The address the per-address limits apply to: `None` when unknown or
    /// exempt (loopback with [`RateLimitConfig::exempt_loopback`]).
    pub fn limited_address(&self, address: Option<IpAddr>) -> Option<IpAddr> {
        address.filter(|ip| !(self.config.exempt_loopback && ip.is_loopback()))
    }

    /// One sign-up from `address`.
    pub fn sign_up(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        match self.limited_address(address) {
            Some(ip) => self.login_address.take(&ip),
            None => Ok(()),
        }
    }
}

/// The process's limits and the client address of the request.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The limits (router state).
    pub limits: Arc<RateLimits>,
    /// The client address, when known (see the module documentation).
    pub address: Option<IpAddr>,
}

fn forwarded_for(parts: &Parts) -> Option<IpAddr> {
    let value = parts.headers.get("x-forwarded-for")?.to_str().ok()?;
    value.split(',').next()?.trim().parse().ok()
}

impl<S> FromRequestParts<S> for Limits
where
    S: Send + Sync,
    Arc<RateLimits>: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let limits: Arc<RateLimits> = FromRef::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let address = if limits.config.trust_forwarded_for {
            forwarded_for(parts).or(peer)
        } else {
            peer
        };
        Ok(Self { limits, address })
    }
}

impl Limits {
    /// One sign-up (before any hashing).
    pub fn sign_up(&self) -> Result<(), ApiError> {
        self.limits.sign_up(self.address)
    }

    /// Start a login attempt for `username`, before the store or argon2 is
    /// touched: 429 for an address over its failure budget or with failures
    /// on record against an account whose budget is exhausted; otherwise an
    /// attempt (after the delay, if any) whose outcome must be reported.
    pub async fn login(&self, username: &str) -> Result<LoginAttempt, ApiError> {
        let attempt = LoginAttempt::begin(&self.limits, username, self.address, Instant::now())?;
        if let Some(delay) = attempt.delay() {
            tokio::time::sleep(delay).await;
        }
        Ok(attempt)
    }

    /// Start a refresh from this address, before the store is read: 429
    /// once the address has spent its failure budget (the one logins and
    /// sign-ups share). Only failures count: report the outcome.
    pub fn refresh(&self) -> Result<RefreshAttempt, ApiError> {
        let address = self.limits.limited_address(self.address);
        if let Some(ip) = address {
            self.limits.login_address.take(&ip)?;
        }
        Ok(RefreshAttempt {
            limits: self.limits.clone(),
            address,
        })
    }

    /// One post by `user`.
    pub fn post(&self, user: uuid::Uuid) -> Result<(), ApiError> {
        self.limits.post.take(&user)
    }

    /// One search by `user`.
    pub fn search(&self, user: uuid::Uuid) -> Result<(), ApiError> {
        self.limits.search.take(&user)
    }

    /// One username lookup by `user`.
    pub fn user_lookup(&self, user: uuid::Uuid) -> Result<(), ApiError> {
        self.limits.user_lookup.take(&user)
    }

    /// One use of an invite token (preview or join) by `user`.
    pub fn invite(&self, user: uuid::Uuid) -> Result<(), ApiError> {
        self.limits.invite.take(&user)
    }
}

/// A refresh's reservation on its address's failure budget. Refresh tokens
/// are 256 random bits, so nobody guesses one; the budget stops a client
/// from making the store look up token after token. A refresh that fails
/// (unknown, expired, reused) keeps its token taken; anything else gives it
/// back.
#[derive(Debug)]
#[must_use = "report the outcome with failed() or give it back with release()"]
pub struct RefreshAttempt {
    limits: Arc<RateLimits>,
    address: Option<IpAddr>,
}

impl RefreshAttempt {
    /// The token was refused: the reservation counts.
    pub fn failed(self) {}

    /// It worked, or no verdict was reached (the store was down): give the
    /// reservation back.
    pub fn release(self) {
        if let Some(ip) = self.address {
            self.limits.login_address.refund_at(&ip, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn refunds_and_fullness() {
        let l = Limiter::new(Rate::per_minute(2.0));
        let t0 = Instant::now();
        assert!(l.is_full_at(&"a", t0), "an unknown key is full");
        l.take_at(&"a", t0).unwrap();
        assert!(!l.is_full_at(&"a", t0));
        l.refund_at(&"a", t0);
        assert!(l.is_full_at(&"a", t0));
        l.refund_at(&"a", t0);
        l.take_at(&"a", t0).unwrap();
        l.take_at(&"a", t0).unwrap();
        assert!(
            l.take_at(&"a", t0).is_err(),
            "refunds never exceed the burst"
        );
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

    #[test]
    fn loopback_is_limited_unless_exempt() {
        let local = Some(IpAddr::from([127, 0, 0, 1]));
        let limited = RateLimits::new(RateLimitConfig::DEFAULT);
        assert_eq!(limited.limited_address(local), local);
        let exempt = RateLimits::new(RateLimitConfig {
            exempt_loopback: true,
            ..RateLimitConfig::DEFAULT
        });
        assert_eq!(exempt.limited_address(local), None);
        let remote = Some(IpAddr::from([10, 0, 0, 1]));
        assert_eq!(exempt.limited_address(remote), remote);
    }
}
