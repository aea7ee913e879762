//! Login limits that cannot be turned against the account they protect.
//!
//! Counting every login attempt per account (what cotalk did first) lets
//! anyone keep any account locked: a handful of wrong passwords from one
//! address and the owner's right password answers 429 too. So only *failed*
//! attempts count, and what an exhausted account refuses depends on who asks:
//!
//! - **per address**: an address has a failure budget
//!   (`login_per_address`, shared with sign-ups). Past it, every login from
//!   that address answers 429: it is guessing, whichever accounts it tries.
//! - **per account**: an account has a failure budget
//!   (`login_failures_per_account`). While it is exhausted, an address with
//!   failures on record *against this account* (the (account, address)
//!   bucket is not full) answers 429 with `Retry-After` (when the budget has a
//!   token again); any other address is only delayed
//!   (`locked_login_delay`) and then verified as usual. The owner, logging
//!   in from anywhere they have not mistyped, gets in, at worst a second
//!   later; an attacker with many addresses gets one delayed guess per
//!   address before each is refused too, and each address still spends its
//!   own budget.
//! - **successes are free**: every bucket the attempt touched holds a
//!   *reservation* until the verdict; a correct password gives them all back
//!   and clears the (account, address) record, an attempt that never got a
//!   verdict (the store was down, the client went away) gives them back too.
//!   Reserving up front, rather than counting after argon2, keeps a burst of
//!   parallel guesses from all passing the check before the first failure is
//!   counted.
//!
//! All of it is decided **before argon2 and before the store is read**, and
//! the same way for usernames that exist and ones that do not: a refusal
//! costs no hashing time and says nothing about which accounts exist.
//! Addresses that are unknown (in-process callers) or exempt (loopback with
//! `exempt_loopback`) skip the per-address budget and never have failures on
//! record, so they are delayed but never refused by an account's budget.

use crate::error::ApiError;
use crate::ratelimit::RateLimits;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The account key of a username as sent: usernames are lower case, and
/// "Kim" and "kim " must not have budgets of their own.
fn account_key(username: &str) -> String {
    username.trim().to_lowercase()
}

/// What an attempt holds until its verdict.
#[derive(Debug, Default)]
struct Reserved {
    address: bool,
    account: bool,
    pair: bool,
}

/// A login attempt allowed to reach argon2. Report its outcome with
/// [`LoginAttempt::failed`] or [`LoginAttempt::succeeded`]; dropped without
/// either (an error before the verdict), it gives back what it reserved.
#[derive(Debug)]
#[must_use = "report the outcome with failed() or succeeded()"]
pub struct LoginAttempt {
    limits: Arc<RateLimits>,
    account: String,
    /// The limited address (None: unknown or exempt).
    address: Option<IpAddr>,
    reserved: Reserved,
    delay: Option<Duration>,
}

impl LoginAttempt {
    /// Check and reserve for a login to `username` from `address` at `now`
    /// (see the module documentation); 429 when refused.
    pub fn begin(
        limits: &Arc<RateLimits>,
        username: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<Self, ApiError> {
        let mut attempt = Self {
            limits: limits.clone(),
            account: account_key(username),
            address: limits.limited_address(address),
            reserved: Reserved::default(),
            delay: None,
        };
        if let Some(ip) = attempt.address {
            // Dropping `attempt` on a refusal below gives this back.
            limits
                .login_address
                .take_at(&ip, now)
                .map_err(ApiError::rate_limited)?;
            attempt.reserved.address = true;
        }
        match limits.login_account.take_at(&attempt.account, now) {
            Ok(()) => attempt.reserved.account = true,
            Err(retry_after) => {
                let on_record = attempt.address.is_some_and(|ip| {
                    !limits
                        .login_pair
                        .is_full_at(&(attempt.account.clone(), ip), now)
                });
                if on_record {
                    return Err(ApiError::rate_limited(retry_after));
                }
                attempt.delay = Some(limits.config.locked_login_delay).filter(|d| !d.is_zero());
            }
        }
        if let Some(ip) = attempt.address {
            // Recorded now, not after argon2: parallel guesses from this
            // address see it at once.
            attempt.reserved.pair = limits
                .login_pair
                .take_at(&(attempt.account.clone(), ip), now)
                .is_ok();
        }
        Ok(attempt)
    }

    /// How long to wait before verifying (the account's budget is exhausted
    /// and this address has no failures on record).
    pub fn delay(&self) -> Option<Duration> {
        self.delay
    }

    /// The password was wrong (or the user unknown): the reservations count.
    pub fn failed(mut self) {
        self.reserved = Reserved::default();
    }

    /// The password was right: give everything back and clear this
    /// address's record against the account.
    pub fn succeeded(mut self) {
        self.release(Instant::now());
        if let Some(ip) = self.address {
            self.limits.login_pair.reset(&(self.account.clone(), ip));
        }
    }

    fn release(&mut self, now: Instant) {
        let reserved = std::mem::take(&mut self.reserved);
        let limits = &self.limits;
        if let Some(ip) = self.address {
            if reserved.address {
                limits.login_address.refund_at(&ip, now);
            }
            if reserved.pair {
                limits
                    .login_pair
                    .refund_at(&(self.account.clone(), ip), now);
            }
        }
        if reserved.account {
            limits.login_account.refund_at(&self.account, now);
        }
    }
}

impl Drop for LoginAttempt {
    fn drop(&mut self) {
        self.release(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::{Rate, RateLimitConfig};

    fn limits() -> Arc<RateLimits> {
        Arc::new(RateLimits::new(RateLimitConfig {
            login_failures_per_account: Rate::per_minute(3.0),
            login_per_address: Rate::per_minute(5.0),
            ..RateLimitConfig::DEFAULT
        }))
    }

    fn ip(n: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, n]))
    }

    fn status(r: &Result<LoginAttempt, ApiError>) -> u16 {
        r.as_ref().map_or_else(|e| e.status.as_u16(), |_| 0)
    }

    #[test]
    fn an_attacker_cannot_lock_the_owner_out() {
        let l = limits();
        let t = Instant::now();
        // The attacker's address uses up the account's failure budget.
        for _ in 0..3 {
            let a = LoginAttempt::begin(&l, "victim", ip(1), t).unwrap();
            assert_eq!(a.delay(), None);
            a.failed();
        }
        // Then it is refused, with the time until the budget refills.
        let refused = LoginAttempt::begin(&l, "victim", ip(1), t).unwrap_err();
        assert_eq!(refused.status.as_u16(), 429);
        assert_eq!(refused.retry_after, Some(20));
        // The owner, from an address that has not failed, is delayed only.
        let owner = LoginAttempt::begin(&l, "Victim ", ip(2), t).unwrap();
        assert_eq!(owner.delay(), Some(Duration::from_secs(1)));
        owner.succeeded();
        // Other accounts are not affected for the attacker's address either
        // (until its own budget runs out: 3 failures of 5 so far).
        LoginAttempt::begin(&l, "someone", ip(1), t)
            .unwrap()
            .failed();
        LoginAttempt::begin(&l, "someone", ip(1), t)
            .unwrap()
            .failed();
        assert_eq!(status(&LoginAttempt::begin(&l, "another", ip(1), t)), 429);
    }

    #[test]
    fn successes_and_unfinished_attempts_cost_nothing() {
        let l = limits();
        let t = Instant::now();
        for _ in 0..20 {
            LoginAttempt::begin(&l, "owner", ip(3), t)
                .unwrap()
                .succeeded();
            // An attempt dropped before its verdict (the store was down).
            drop(LoginAttempt::begin(&l, "owner", ip(3), t).unwrap());
        }
        let a = LoginAttempt::begin(&l, "owner", ip(3), t).unwrap();
        assert_eq!(a.delay(), None, "the account's budget is untouched");
        a.failed();
        // A success clears the address's record against the account.
        LoginAttempt::begin(&l, "owner", ip(3), t)
            .unwrap()
            .succeeded();
        assert!(l
            .login_pair
            .is_full_at(&("owner".into(), IpAddr::from([10, 0, 0, 3])), t));
    }

    #[test]
    fn parallel_guesses_are_reserved_up_front() {
        let l = limits();
        let t = Instant::now();
        // Five guesses in flight at once from one address: the account's
        // budget (3) is reserved by the first three, the rest are refused
        // because the address already has attempts on record.
        let in_flight: Vec<_> = (0..5)
            .map(|_| LoginAttempt::begin(&l, "victim", ip(4), t))
            .collect();
        let refused = in_flight.iter().filter(|r| status(r) == 429).count();
        assert_eq!(refused, 2);
    }

    #[test]
    fn exempt_and_unknown_addresses_are_delayed_never_refused() {
        let l = Arc::new(RateLimits::new(RateLimitConfig {
            login_failures_per_account: Rate::per_minute(1.0),
            exempt_loopback: true,
            ..RateLimitConfig::DEFAULT
        }));
        let t = Instant::now();
        let local = Some(IpAddr::from([127, 0, 0, 1]));
        LoginAttempt::begin(&l, "victim", local, t)
            .unwrap()
            .failed();
        for address in [local, None] {
            let a = LoginAttempt::begin(&l, "victim", address, t).unwrap();
            assert!(a.delay().is_some());
            a.failed();
        }
    }
}
