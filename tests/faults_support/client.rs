//! The chaos suite's load: commands over HTTP to a `cotalk serve --role
//! command` child, each under its own `Idempotency-Key` and retried with that
//! same key until it is acknowledged (a connection cut by a `kill -9`, a 503
//! while Postgres is down). A client that saw no answer cannot know whether
//! its command happened; the key is what makes the retry safe, and the log
//! check afterwards ([`super::log`]) is what proves it.
//!
//! Every answer's status is recorded in [`Seen`]: the suite requires that no
//! 5xx but 503 was ever answered and that every 503 carried `Retry-After`.
//! Each worker sends at least its share of commands and goes on until
//! [`HttpLoad::finish`] is called (so that every fault meets a running load);
//! bounded all the same: a command not acknowledged by the load's deadline
//! fails the test.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Workers (one user each) sending commands concurrently.
pub const WORKERS: usize = 4;
/// How long one request may take before the client counts the server as hung.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest pause between two attempts of one command.
const MAX_BACKOFF: Duration = Duration::from_millis(250);

/// One acknowledged command.
#[derive(Clone, Debug)]
pub struct Ack {
    pub key: String,
    /// The `position` the answer carried (of the command's last event).
    pub position: i64,
}

/// Everything the load saw besides acknowledgements.
#[derive(Debug, Default)]
pub struct Seen {
    /// Answers by status.
    pub statuses: BTreeMap<u16, usize>,
    /// 503 answers without `Retry-After`.
    pub without_retry_after: usize,
    /// 5xx answers other than 503: `status body` of each.
    pub server_errors: Vec<String>,
    /// Connections refused or cut (the command process killed or restarting).
    pub connection_errors: usize,
    /// Requests that got no answer within [`REQUEST_TIMEOUT`].
    pub timeouts: usize,
}

/// A logged-in user of the load.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: Uuid,
    pub token: String,
}

/// The load, shared by its workers and the fault injector.
pub struct HttpLoad {
    base: RwLock<String>,
    http: reqwest::Client,
    pub acks: Mutex<Vec<Ack>>,
    pub seen: Mutex<Seen>,
    inflight: AtomicUsize,
    acked: AtomicUsize,
    finished: AtomicBool,
    actors: Vec<Actor>,
    rooms: Vec<Uuid>,
    ops: usize,
    seed: u64,
    deadline: Instant,
}

enum Attempt {
    /// The wanted answer: its body.
    Done(Value),
    /// Try again after this long.
    Again(Duration),
}

impl HttpLoad {
    /// Register and log in one user per worker and create two rooms they all
    /// share. Everything (setup included) must be acknowledged within `limit`.
    pub async fn setup(base: String, seed: u64, ops: usize, limit: Duration) -> HttpLoad {
        let mut load = HttpLoad {
            base: RwLock::new(base),
            http: reqwest::Client::new(),
            acks: Mutex::new(Vec::new()),
            seen: Mutex::new(Seen::default()),
            inflight: AtomicUsize::new(0),
            acked: AtomicUsize::new(0),
            finished: AtomicBool::new(false),
            actors: Vec::new(),
            rooms: Vec::new(),
            ops,
            seed,
            deadline: Instant::now() + limit,
        };
        for w in 0..WORKERS {
            let username = format!("chaos{w}");
            let body = json!({
                "username": username,
                "display_name": format!("카오스 {w}"),
                "password": "password-1",
            });
            let reg = load
                .command(Method::POST, "/v1/users", None, body, 201)
                .await;
            let login = json!({ "username": username, "password": "password-1" });
            let session = load
                .request(Method::POST, "/v1/sessions", None, None, &login, 201)
                .await;
            load.actors.push(Actor {
                id: field(&reg, "user_id"),
                token: session["token"].as_str().expect("token").to_owned(),
            });
        }
        let members: Vec<String> = load.actors[1..].iter().map(|a| a.id.to_string()).collect();
        let owner = load.actors[0].token.clone();
        for name in ["chaos-a", "chaos-b"] {
            let body = json!({ "name": name, "members": members });
            let room = load
                .command(Method::POST, "/v1/rooms", Some(&owner), body, 201)
                .await;
            load.rooms.push(field(&room, "room_id"));
        }
        load
    }

    /// Send the next attempts to `base` (the command process restarted on
    /// another port).
    pub fn set_base(&self, base: String) {
        *self.base.write().unwrap() = base;
    }

    /// Commands acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }

    /// Requests sent and not answered yet.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::SeqCst)
    }

    /// Commands [`HttpLoad::run`] sends at least.
    pub fn planned(&self) -> usize {
        WORKERS * self.ops
    }

    /// Let the workers stop once they have sent their share.
    pub fn finish(&self) {
        self.finished.store(true, Ordering::SeqCst);
    }

    /// How many 503 answers the load has had.
    pub fn unavailable_answers(&self) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.statuses.get(&503).copied().unwrap_or(0)
    }

    /// Run every worker to completion.
    pub async fn run(&self) {
        futures::future::join_all((0..WORKERS).map(|w| self.worker(w))).await;
    }

    /// Posts (four in five) and edits of the worker's own messages.
    async fn worker(&self, w: usize) {
        let mut rng = StdRng::seed_from_u64(self.seed.wrapping_add(w as u64 * 104_729));
        let token = self.actors[w].token.clone();
        let mut mine: Vec<(Uuid, Uuid)> = Vec::new();
        let mut i = 0;
        while i < self.ops || !self.finished.load(Ordering::SeqCst) {
            i += 1;
            if rng.gen_range(0..5) == 0 && !mine.is_empty() {
                let (room, msg) = *mine.choose(&mut rng).unwrap();
                let path = format!("/v1/rooms/{room}/messages/{msg}");
                // Unique, so that no edit is a no-op without events.
                let body = json!({ "body": format!("고침 {w}-{i} edited") });
                self.command(Method::PATCH, &path, Some(&token), body, 200)
                    .await;
            } else {
                let room = *self.rooms.choose(&mut rng).unwrap();
                let path = format!("/v1/rooms/{room}/messages");
                let body = json!({ "body": format!("회의는 {w}-{i} meeting") });
                let ans = self
                    .command(Method::POST, &path, Some(&token), body, 201)
                    .await;
                mine.push((room, field(&ans, "message_id")));
            }
        }
    }

    /// A command under a new `Idempotency-Key`, retried until acknowledged
    /// with `want`; records the acknowledgement.
    async fn command(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
        want: u16,
    ) -> Value {
        let key = Uuid::new_v4().to_string();
        let ans = self
            .request(method, path, token, Some(&key), &body, want)
            .await;
        let position = ans["position"]
            .as_i64()
            .unwrap_or_else(|| panic!("acknowledged without a position: {ans}"));
        self.acks.lock().unwrap().push(Ack { key, position });
        self.acked.fetch_add(1, Ordering::SeqCst);
        ans
    }

    /// Send until the answer is `want`; panics on a client error (a bug of
    /// the test) and when the deadline passes.
    async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: &Value,
        want: u16,
    ) -> Value {
        let mut attempts = 0u32;
        loop {
            assert!(
                Instant::now() < self.deadline,
                "{method} {path} (key {key:?}) not acknowledged after {attempts} attempts \
                 before the load's deadline; seen so far: {:?}",
                self.seen.lock().unwrap()
            );
            attempts += 1;
            self.inflight.fetch_add(1, Ordering::SeqCst);
            let outcome = self
                .attempt(method.clone(), path, token, key, body, want)
                .await;
            self.inflight.fetch_sub(1, Ordering::SeqCst);
            match outcome {
                Attempt::Done(v) => return v,
                Attempt::Again(pause) => {
                    let backoff = Duration::from_millis(20 * u64::from(attempts.min(10)));
                    tokio::time::sleep(pause.min(backoff).min(MAX_BACKOFF)).await;
                }
            }
        }
    }

    async fn attempt(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: &Value,
        want: u16,
    ) -> Attempt {
        let url = format!("{}{path}", self.base.read().unwrap());
        let mut req = self
            .http
            .request(method.clone(), url)
            .timeout(REQUEST_TIMEOUT)
            .json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        let res = match req.send().await {
            Ok(res) => res,
            Err(e) => return self.transport_error(&e),
        };
        let status = res.status();
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let bytes = match res.bytes().await {
            Ok(b) => b,
            Err(e) => return self.transport_error(&e),
        };
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut seen = self.seen.lock().unwrap();
        *seen.statuses.entry(status.as_u16()).or_default() += 1;
        if status.as_u16() == want {
            return Attempt::Done(answer);
        }
        let pause = Duration::from_secs(retry_after.unwrap_or(1));
        match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                if retry_after.is_none() {
                    seen.without_retry_after += 1;
                }
                Attempt::Again(pause)
            }
            // The server retried a contended stream and gave up; same key again.
            StatusCode::CONFLICT | StatusCode::TOO_MANY_REQUESTS => Attempt::Again(pause),
            s if s.is_server_error() => {
                seen.server_errors
                    .push(format!("{s} {method} {path}: {answer}"));
                Attempt::Again(pause)
            }
            s => panic!("{method} {path}: unexpected {s}: {answer}"),
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> Attempt {
        let mut seen = self.seen.lock().unwrap();
        if e.is_timeout() {
            seen.timeouts += 1;
        } else {
            seen.connection_errors += 1;
        }
        Attempt::Again(Duration::from_millis(50))
    }
}

fn field(v: &Value, name: &str) -> Uuid {
    v[name]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("answer without {name}: {v}"))
}
