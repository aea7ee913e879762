//! Auth hardening through HTTP: tokens with `alg: none`, a tampered signature,
//! an expired lifetime, a wrong issuer or audience are refused; an unknown user
//! and a wrong password get byte-identical answers (both also pay one argon2
//! verification, against a dummy hash for the unknown user — timing is not
//! asserted here, it would be flaky); per-account and per-address login limits
//! and per-user post and search limits answer 429 with `Retry-After`; and the
//! request limits (body size, page size, query length) hold.
//!
//! Every server of this binary runs with small limits; the client address
//! comes from `X-Forwarded-For` (trusted here by configuration), so one test
//! can speak from several addresses.

#[path = "auth_hardening/defaults.rs"]
mod defaults;
#[path = "auth_hardening/input.rs"]
mod input;
mod support;
#[path = "auth_hardening/unknown_user.rs"]
mod unknown_user;

use base64::Engine as _;
use chrono::Utc;
use cotalk::config::RateArgs;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{Answer, Server, User};

const SECRET: &[u8] = b"test-secret-test-secret-test-secret";

/// This binary's small limits.
fn small_limits() -> RateArgs {
    RateArgs {
        rate_login_per_account_per_min: 3.0,
        rate_login_per_address_per_min: 5.0,
        rate_login_delay_ms: 300,
        rate_trust_forwarded_for: true,
        // Sign-ups of the test users come from 127.0.0.1 without a header.
        rate_exempt_loopback: true,
        // Refill so slow that no token comes back during a test.
        rate_post_per_sec: 0.01,
        rate_post_burst: 5.0,
        rate_search_per_sec: 0.01,
        rate_search_burst: 3.0,
        rate_user_lookup_per_sec: 0.01,
        rate_user_lookup_burst: 3.0,
        rate_invite_per_sec: 0.01,
        rate_invite_burst: 3.0,
    }
}

/// A server with this binary's small limits.
async fn start() -> Server {
    support::start_rated(small_limits()).await
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// HMAC-SHA256 (RFC 2104), to sign tokens with chosen headers and claims.
fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

fn token(header: &Value, claims: &Value, key: &[u8]) -> String {
    let signing = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    format!("{signing}.{}", b64(&hmac(key, signing.as_bytes())))
}

fn claims(user: impl std::fmt::Display, iss: &str, aud: &str, exp_in: i64) -> Value {
    let now = Utc::now().timestamp();
    json!({"sub": user.to_string(), "iat": now, "exp": now + exp_in, "iss": iss, "aud": aud})
}

async fn me(s: &Server, token: &str) -> Answer {
    s.call(Method::GET, "/v1/me")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let s = start().await;
    let u = s.user("tokenuser").await;
    let hs = json!({"alg": "HS256", "typ": "JWT"});
    let (iss, aud) = (api::auth::ISSUER, api::auth::AUDIENCE);
    // Our own signer gives a token the server takes: the cases below differ in one thing.
    let good = token(&hs, &claims(u.id, iss, aud, 600), SECRET);
    me(&s, &good).await.expect(200, None);
    me(&s, &u.token).await.expect(200, None);

    let mut tampered = good.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims(u.id, iss, aud, 600).to_string().as_bytes())
    );
    let cases = [
        ("alg none", none),
        (
            "alg HS512 header",
            token(
                &json!({"alg": "HS512", "typ": "JWT"}),
                &claims(u.id, iss, aud, 600),
                SECRET,
            ),
        ),
        ("tampered signature", tampered),
        ("expired", token(&hs, &claims(u.id, iss, aud, -60), SECRET)),
        (
            "wrong issuer",
            token(&hs, &claims(u.id, "evil", aud, 600), SECRET),
        ),
        (
            "wrong audience",
            token(&hs, &claims(u.id, iss, "other-api", 600), SECRET),
        ),
        (
            "other key",
            token(&hs, &claims(u.id, iss, aud, 600), b"another-key"),
        ),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (what, t) in cases {
        let a = me(&s, &t).await;
        assert_eq!(a.status.as_u16(), 401, "{what}: {}", a.body);
        assert_eq!(a.code(), "unauthenticated", "{what}");
    }
    s.call(Method::GET, "/v1/me")
        .send()
        .await
        .expect(401, Some("unauthenticated"));
}

async fn login(s: &Server, username: &str, password: &str, from: &str) -> Answer {
    s.call(Method::POST, "/v1/sessions")
        .header("x-forwarded-for", from)
        .json(json!({"username": username, "password": password}))
        .send()
        .await
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let s = start().await;
    s.user("realuser").await;
    let wrong = login(&s, "realuser", "password-2", "10.1.0.1").await;
    let unknown = login(&s, "ghostuser", "password-1", "10.1.0.2").await;
    wrong.expect(401, Some("invalid_credentials"));
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(
        wrong.headers.get("content-type"),
        unknown.headers.get("content-type")
    );
}

#[track_caller]
fn assert_limited(a: &Answer) {
    a.expect(429, Some("rate_limited"));
    let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "retry-after {retry}");
}

/// Fail logins to `username` from `from` until refused; the refusal.
async fn fail_until_refused(s: &Server, username: &str, from: &str) -> Answer {
    for _ in 0..10 {
        let a = login(s, username, "wrong-pass-1", from).await;
        if a.status.as_u16() == 429 {
            return a;
        }
        a.expect(401, Some("invalid_credentials"));
    }
    panic!("{from} was never refused logging in to {username}");
}

#[tokio::test]
async fn failed_logins_lock_out_the_guessing_address_not_the_owner() {
    let s = start().await;
    s.user("victim").await;
    // An attacker's address guesses until it is refused.
    let refused = fail_until_refused(&s, "victim", "10.2.0.1").await;
    assert_limited(&refused);
    // From there, even the right password is refused.
    assert_limited(&login(&s, "victim", "password-1", "10.2.0.1").await);
    // The owner, from an address that has not failed, gets in, again and
    // again: successes spend no budget.
    for _ in 0..4 {
        login(&s, "victim", "password-1", "10.2.0.2")
            .await
            .expect(201, None);
    }
    // A wrong password from an address without failures is answered, not refused.
    login(&s, "victim", "wrong-pass-1", "10.2.0.3")
        .await
        .expect(401, Some("invalid_credentials"));
}

#[tokio::test]
async fn unknown_accounts_are_limited_like_real_ones() {
    let s = start().await;
    s.user("realone").await;
    // Same number of failures before the refusal, same answers after it: the
    // limits do not tell which accounts exist.
    for (name, from) in [("realone", "10.5.0.1"), ("nobodyhere", "10.5.0.2")] {
        for _ in 0..3 {
            login(&s, name, "wrong-pass-1", from)
                .await
                .expect(401, Some("invalid_credentials"));
        }
        assert_limited(&login(&s, name, "wrong-pass-1", from).await);
        login(&s, name, "wrong-pass-1", "10.5.0.9")
            .await
            .expect(401, Some("invalid_credentials"));
    }
}

#[tokio::test]
async fn an_address_spraying_accounts_is_limited() {
    let s = start().await;
    // One address failing against many accounts: 5 failures, then 429.
    for i in 0..5 {
        login(&s, &format!("spray{i}"), "password-1", "10.3.0.1")
            .await
            .expect(401, None);
    }
    assert_limited(&login(&s, "spray9", "password-1", "10.3.0.1").await);
    // Sign-ups from that address count too; another address is unaffected.
    let a = s
        .call(Method::POST, "/v1/users")
        .header("x-forwarded-for", "10.3.0.1")
        .json(json!({"username": "fresh", "display_name": "f", "password": "password-1"}))
        .send()
        .await;
    assert_limited(&a);
    login(&s, "spray9", "password-1", "10.3.0.2")
        .await
        .expect(401, None);
}

#[tokio::test]
async fn posting_and_searching_are_limited_per_user() {
    let s = start().await;
    let a = s.user("poster").await;
    let b = s.user("other").await;
    let room = s.room(&a, "limits", &[&b]).await.room_id;
    for i in 0..5 {
        s.post(&a, room, &format!("message {i}")).await;
    }
    let over = s
        .call(Method::POST, &format!("/v1/rooms/{room}/messages"))
        .auth(&a)
        .json(json!({"body": "one too many"}))
        .send()
        .await;
    assert_limited(&over);
    s.post(&b, room, "others still post").await;

    let search = |u: &User| {
        // Waiting for the index (a fresh server may still be opening it).
        s.call(Method::GET, "/v1/search/messages?q=message")
            .auth(u)
            .at(b.position)
            .send()
    };
    for _ in 0..3 {
        search(&a).await.expect(200, None);
    }
    assert_limited(&search(&a).await);
    search(&b).await.expect(200, None);
}

#[tokio::test]
async fn request_size_page_size_and_query_length_are_limited() {
    let s = start().await;
    let a = s.user("sizer").await;
    let created = s.room(&a, "limits", &[]).await;
    let room = created.room_id;
    // Body over 64 KiB: 413 before any parsing.
    let big = format!(r#"{{"body": "{}"}}"#, "x".repeat(65 * 1024));
    s.call(Method::POST, &format!("/v1/rooms/{room}/messages"))
        .auth(&a)
        .raw_body(big.into_bytes())
        .send()
        .await
        .expect(413, Some("payload_too_large"));
    // Page size: 1–200.
    for limit in ["0", "201", "100000"] {
        s.call(
            Method::GET,
            &format!("/v1/rooms/{room}/messages?limit={limit}"),
        )
        .auth(&a)
        .at(created.position)
        .send()
        .await
        .expect(422, Some("invalid_limit"));
    }
    s.call(Method::GET, &format!("/v1/rooms/{room}/messages?limit=200"))
        .auth(&a)
        .at(created.position)
        .send()
        .await
        .expect(200, None);
    // Query length: 1–256 characters (the search limit allows 3 searches).
    let long = "가".repeat(257);
    s.call(Method::GET, &format!("/v1/search/messages?q={long}"))
        .auth(&a)
        .send()
        .await
        .expect(422, Some("invalid_query"));
    s.call(Method::GET, "/v1/search/messages?q=")
        .auth(&a)
        .send()
        .await
        .expect(422, Some("invalid_query"));
    let ok = "가".repeat(256);
    s.call(Method::GET, &format!("/v1/search/messages?q={ok}"))
        .auth(&a)
        .at(a.position)
        .send()
        .await
        .expect(200, None);
}

/// `POST /v1/sessions/refresh` with `token` from the address `from`.
async fn refresh_from(s: &Server, token: &str, from: &str) -> Answer {
    s.call(Method::POST, "/v1/sessions/refresh")
        .header("x-forwarded-for", from)
        .json(json!({"refresh_token": token}))
        .send()
        .await
}

#[tokio::test]
async fn failed_refreshes_spend_the_address_budget_and_good_ones_do_not() {
    let s = start().await;
    let _ = s.user("refresher").await;
    let first = s
        .api
        .login(&contract::commands::LoginRequest {
            username: "refresher".into(),
            password: "password-1".into(),
        })
        .await
        .expect("log in");
    // Twice the budget (5 a minute) of good refreshes from one
    // address: each is given back.
    let mut token = first.refresh_token;
    for _ in 0..10 {
        let a = refresh_from(&s, &token, "10.9.0.2").await;
        a.expect(201, None);
        token = a.json::<contract::commands::LoginResponse>().refresh_token;
    }
    // Guessing from another address is refused before the store is read.
    let mut refused = None;
    for i in 0..10 {
        let a = refresh_from(&s, &format!("guess-{i}"), "10.9.0.1").await;
        if a.status == 429 {
            refused = Some(a);
            break;
        }
        a.expect(401, Some("invalid_refresh_token"));
    }
    let refused = refused.expect("the guessing address was never refused");
    refused.expect(429, Some("rate_limited"));
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "retry-after {retry}");
    // A real token from the refused address waits too; elsewhere it works.
    refresh_from(&s, &token, "10.9.0.1")
        .await
        .expect(429, Some("rate_limited"));
    refresh_from(&s, &token, "10.9.0.3").await.expect(201, None);
}
