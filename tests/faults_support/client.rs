//! The chaos suite's load: commands over HTTP to a `cotalk serve --role
//! command` child, each under its own `Idempotency-Key` and retried with that
//! same key until it is acknowledged (a connection cut by a `kill -9`, a 503
//! while Postgres is down). A client that saw no answer cannot know whether
//! its command happened; the key is what makes the retry safe, and the log
//! check afterwards ([`super::log`]) is what proves it.
//!
//! Every refusal's status is recorded in [`Seen`]: the suite requires that no
//! 5xx but 503 was ever answered and that every 503 carried `Retry-After`.
//! Each worker sends at least its share of commands and goes on until
//! [`HttpLoad::finish`] is called (so that every fault meets a running load);
//! bounded all the same: a command not acknowledged by the load's deadline
//! fails the test.

use contract::commands::{
    CreateRoomRequest, EditMessageRequest, LoginRequest, PostMessageRequest, RegisterRequest,
};
use contract::Positioned;
use domain::{MeetupId, MessageId, RoomId, UserId};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};
use testkit::client::{Client, ClientError};
use uuid::Uuid;

#[path = "client_accounts.rs"]
mod accounts;
#[path = "client_attach.rs"]
mod attach;
#[path = "client_meetups.rs"]
mod meetups;
#[path = "client_people.rs"]
mod people;

pub use attach::UploadAck;

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

/// What every fault run asserts of the load's answers once it is over:
/// each reminder the load's meet-ups are owed fired exactly once, no 5xx
/// but 503, every 503 with `Retry-After`, every request answered.
pub fn assert_answers(seen: &Seen, owed: usize, fired: &super::log::Reminders) {
    assert_eq!(
        (fired.fired, fired.distinct),
        (owed as i64, owed as i64),
        "reminders fired (all, distinct) vs owed: each exactly once"
    );
    assert!(
        seen.server_errors.is_empty(),
        "5xx other than 503: {:?}",
        seen.server_errors
    );
    assert_eq!(
        seen.without_retry_after, 0,
        "503 answers without Retry-After"
    );
    assert_eq!(seen.timeouts, 0, "requests never answered");
}

/// Everything the load saw besides acknowledgements.
#[derive(Debug, Default)]
pub struct Seen {
    /// Refusals (answers other than a success) by status.
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
    pub id: UserId,
    pub token: String,
}

/// The load, shared by its workers and the fault injector.
pub struct HttpLoad {
    /// The client of the command process (its address changes on restart).
    client: RwLock<Client>,
    pub acks: Mutex<Vec<Ack>>,
    /// Acknowledged uploads (they take no `Idempotency-Key`).
    pub uploads: Mutex<Vec<UploadAck>>,
    pub seen: Mutex<Seen>,
    inflight: AtomicUsize,
    acked: AtomicUsize,
    finished: AtomicBool,
    actors: Vec<Actor>,
    rooms: Vec<RoomId>,
    /// Each worker's latest meet-up with a reminder due (see `meetup_step`).
    meetups: Mutex<Vec<Option<MeetupId>>>,
    /// Reminders the scheduler owes: one per meet-up planned due at once.
    reminders_owed: AtomicUsize,
    /// Keys of account deletions that committed but whose answer was lost.
    unanswered_deletions: Mutex<Vec<String>>,
    /// Accounts deleted.
    deletions: AtomicUsize,
    ops: usize,
    seed: u64,
    deadline: Instant,
}

enum Attempt<T> {
    /// The wanted answer.
    Done(T),
    /// Try again after this long.
    Again(Duration),
}

impl HttpLoad {
    /// Register and log in one user per worker and create two rooms they all
    /// share. Everything (setup included) must be acknowledged within `limit`.
    pub async fn setup(base: String, seed: u64, ops: usize, limit: Duration) -> HttpLoad {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("an HTTP client");
        let mut load = HttpLoad {
            client: RwLock::new(Client::with_http(http, base)),
            acks: Mutex::new(Vec::new()),
            uploads: Mutex::new(Vec::new()),
            seen: Mutex::new(Seen::default()),
            inflight: AtomicUsize::new(0),
            acked: AtomicUsize::new(0),
            finished: AtomicBool::new(false),
            actors: Vec::new(),
            rooms: Vec::new(),
            meetups: Mutex::new(vec![None; WORKERS]),
            reminders_owed: AtomicUsize::new(0),
            unanswered_deletions: Mutex::new(Vec::new()),
            deletions: AtomicUsize::new(0),
            ops,
            seed,
            deadline: Instant::now() + limit,
        };
        for w in 0..WORKERS {
            let username = format!("chaos{w}");
            let register = RegisterRequest {
                username: username.clone(),
                display_name: format!("카오스 {w}"),
                password: "password-1".into(),
            };
            let registered = load
                .command("register", None, |c| {
                    let register = register.clone();
                    async move { c.register(&register).await }
                })
                .await;
            let login = LoginRequest {
                username,
                password: "password-1".into(),
            };
            let session = load
                .request("log in", None, |c| {
                    let login = login.clone();
                    async move { c.login(&login).await }
                })
                .await;
            load.actors.push(Actor {
                id: registered.user_id,
                token: session.token,
            });
        }
        let members: Vec<UserId> = load.actors[1..].iter().map(|a| a.id).collect();
        for name in ["chaos-a", "chaos-b"] {
            let create = CreateRoomRequest {
                name: name.into(),
                members: members.clone(),
            };
            let room = load
                .command("create a room", Some(0), |c| {
                    let create = create.clone();
                    async move { c.create_room(&create).await }
                })
                .await;
            load.rooms.push(room.room_id);
        }
        load
    }

    /// Worker `w`'s bearer token.
    pub fn token(&self, w: usize) -> &str {
        &self.actors[w].token
    }

    /// The rooms every worker is a member of.
    pub fn rooms(&self) -> &[RoomId] {
        &self.rooms
    }

    /// Send the next attempts to `base` (the command process restarted on
    /// another port).
    pub fn set_base(&self, base: String) {
        let mut client = self.client.write().unwrap();
        *client = Client::with_http(client.http().clone(), base);
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

    /// Reminders the scheduler must have fired once the load is over.
    pub fn reminders_owed(&self) -> usize {
        self.reminders_owed.load(Ordering::SeqCst)
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

    /// Posts (about three in four, one in fifteen of them with a file),
    /// edits of the worker's own messages, sign-ups (2 %) and other sessions
    /// of the worker's user logging in, refreshing and logging out (4 %);
    /// every tenth step a people command or a meet-up command.
    async fn worker(&self, w: usize) {
        let mut rng = StdRng::seed_from_u64(self.seed.wrapping_add(w as u64 * 104_729));
        let mut mine: Vec<(RoomId, MessageId)> = Vec::new();
        let mut i = 0;
        while i < self.ops || !self.finished.load(Ordering::SeqCst) {
            i += 1;
            if self.people_step(w, i).await || self.meetup_step(w, i).await {
                continue;
            }
            let roll = rng.gen_range(0..100);
            if roll < 2 {
                self.sign_up(w, i).await;
            } else if roll < 6 {
                self.session_churn(w).await;
            } else if roll < 11 {
                let room = *self.rooms.choose(&mut rng).unwrap();
                self.post_with_file(w, i, room).await;
            } else if roll < 25 && !mine.is_empty() {
                let (room, msg) = *mine.choose(&mut rng).unwrap();
                // Unique, so that no edit is a no-op without events.
                let edit = EditMessageRequest {
                    body: format!("고침 {w}-{i} edited"),
                };
                self.command("edit", Some(w), |c| {
                    let edit = edit.clone();
                    async move { c.edit_message(room, msg, &edit).await }
                })
                .await;
            } else {
                let room = *self.rooms.choose(&mut rng).unwrap();
                let post = PostMessageRequest::text(format!("회의는 {w}-{i} meeting"));
                let posted = self
                    .command("post", Some(w), |c| {
                        let post = post.clone();
                        async move { c.post_message(room, &post).await }
                    })
                    .await;
                mine.push((room, posted.message_id));
            }
        }
    }

    /// A new user signs up (a command: acknowledged with its key), logs in
    /// and, on even steps, deletes the account.
    async fn sign_up(&self, w: usize, i: usize) {
        let username = format!("chaos{w}n{i}");
        let register = RegisterRequest {
            username: username.clone(),
            display_name: format!("새 사용자 {w}-{i}"),
            password: "password-1".into(),
        };
        self.command("sign up", None, |c| {
            let register = register.clone();
            async move { c.register(&register).await }
        })
        .await;
        let login = LoginRequest {
            username: username.clone(),
            password: "password-1".into(),
        };
        let session = self
            .request("log in a new user", None, |c| {
                let login = login.clone();
                async move { c.login(&login).await }
            })
            .await;
        if i.is_multiple_of(2) {
            self.delete_account(&username, session.token).await;
        }
    }

    /// Another session of worker `w`'s user: log in, refresh, log out. The
    /// worker's own session is untouched. Refresh and logout are not
    /// idempotent: an attempt whose answer was lost (a killed process) may
    /// have rotated or revoked, and the retry then gets 401, which is
    /// accepted after a first attempt only. A refresh retried that way ends
    /// the session (reuse of a rotated refresh token), so no log-out follows.
    async fn session_churn(&self, w: usize) {
        let login = LoginRequest {
            username: format!("chaos{w}"),
            password: "password-1".into(),
        };
        let first = self
            .request("log in again", None, |c| {
                let login = login.clone();
                async move { c.login(&login).await }
            })
            .await;
        let refresh = first.refresh_token.clone();
        let refreshed = self
            .request_after_retry_401("refresh", move |c| {
                let refresh = refresh.clone();
                async move { c.refresh(&refresh).await }
            })
            .await;
        // No answer: an attempt whose answer was lost rotated the pair, and
        // the retry presented the old refresh token again, which counts as
        // reuse and ends the session: nothing is left to log out of.
        let Some(refreshed) = refreshed else {
            return;
        };
        let token = refreshed.token;
        self.request_after_retry_401("log out", move |c| {
            let token = token.clone();
            async move { c.auth(token).logout().await }
        })
        .await;
    }

    /// [`HttpLoad::request`], taking a 401 after an earlier attempt as the
    /// sign that that attempt did happen (`None`).
    async fn request_after_retry_401<T, F, Fut>(&self, what: &str, call: F) -> Option<T>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = testkit::client::Result<T>>,
    {
        let tried = AtomicUsize::new(0);
        self.request(what, None, |c| {
            let earlier = tried.fetch_add(1, Ordering::SeqCst) > 0;
            let attempt = call(c);
            async move {
                match attempt.await {
                    Err(e) if earlier && e.status() == Some(StatusCode::UNAUTHORIZED) => Ok(None),
                    other => other.map(Some),
                }
            }
        })
        .await
    }

    /// A command under a new `Idempotency-Key` as the worker `actor` (none:
    /// anonymous), retried until acknowledged; records the acknowledgement.
    async fn command<T, F, Fut>(&self, what: &str, actor: Option<usize>, call: F) -> Positioned<T>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = testkit::client::Result<Positioned<T>>>,
    {
        let key = Uuid::new_v4().to_string();
        let answer = self
            .request(what, actor, |c| call(c.key(key.clone())))
            .await;
        let position = answer.position;
        self.acks.lock().unwrap().push(Ack { key, position });
        self.acked.fetch_add(1, Ordering::SeqCst);
        answer
    }

    /// Call until the answer is a success; panics on a client error (a bug
    /// of the test) and when the deadline passes.
    async fn request<T, F, Fut>(&self, what: &str, actor: Option<usize>, call: F) -> T
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = testkit::client::Result<T>>,
    {
        let mut attempts = 0u32;
        loop {
            assert!(
                Instant::now() < self.deadline,
                "{what} not acknowledged after {attempts} attempts \
                 before the load's deadline; seen so far: {:?}",
                self.seen.lock().unwrap()
            );
            attempts += 1;
            let mut client = self.client.read().unwrap().clone();
            if let Some(a) = actor {
                client = client.auth(self.actors[a].token.clone());
            }
            self.inflight.fetch_add(1, Ordering::SeqCst);
            let outcome = call(client).await;
            self.inflight.fetch_sub(1, Ordering::SeqCst);
            match self.judge(what, outcome) {
                Attempt::Done(v) => return v,
                Attempt::Again(pause) => {
                    let backoff = Duration::from_millis(20 * u64::from(attempts.min(10)));
                    tokio::time::sleep(pause.min(backoff).min(MAX_BACKOFF)).await;
                }
            }
        }
    }

    /// Record an attempt's answer and say whether to try again.
    fn judge<T>(&self, what: &str, outcome: testkit::client::Result<T>) -> Attempt<T> {
        let refusal = match outcome {
            Ok(answer) => return Attempt::Done(answer),
            Err(ClientError::Transport { source, .. }) => return self.transport_error(&source),
            Err(e @ (ClientError::Decode { .. } | ClientError::UnexpectedStatus { .. })) => {
                panic!("{what}: {e}")
            }
            Err(ClientError::Refused(refusal)) => refusal,
        };
        let status = refusal.status;
        let retry_after = refusal
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut seen = self.seen.lock().unwrap();
        *seen.statuses.entry(status.as_u16()).or_default() += 1;
        let pause = Duration::from_secs(retry_after.unwrap_or(1));
        let (method, path, body) = (&refusal.method, &refusal.path, &refusal.body);
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
                    .push(format!("{s} {method} {path}: {body}"));
                Attempt::Again(pause)
            }
            s => panic!("{what}: {method} {path}: unexpected {s}: {body}"),
        }
    }

    fn transport_error<T>(&self, e: &reqwest::Error) -> Attempt<T> {
        let mut seen = self.seen.lock().unwrap();
        if e.is_timeout() {
            seen.timeouts += 1;
        } else {
            seen.connection_errors += 1;
        }
        Attempt::Again(Duration::from_millis(50))
    }
}
