//! `cotalk seed`: a demo that makes the web client look lived-in. Five users
//! (printed with their password), friendships, group and direct rooms, and
//! Korean and English conversations, one of them long enough to scroll back
//! through.
//!
//! Everything goes through the real command routes, served on a loopback
//! port of this process and called with the typed client
//! (`testkit::client`), so every validation applies and the events are the
//! ones a client would have caused. Running it again appends nothing: when
//! every demo user exists already it stops at once, and each command carries
//! an `Idempotency-Key` so an interrupted run resumes without duplicates.

use crate::config::Config;
use anyhow::{Context, Result};
use api::ratelimit::{RateLimitConfig, RateLimits};
use axum::http::StatusCode;
use command::repository::Repository;
use command::CommandState;
use contract::commands::{
    CreateRoomRequest, DirectRoomRequest, FriendRequest, LoginRequest, LoginResponse,
    PostMessageRequest, RegisterRequest, RoomCreatedResponse,
};
use domain::RoomId;
use eventlog::{BatchConfig, EventStore};
use std::future::IntoFuture;
use std::sync::Arc;
use testkit::client::{Client, ClientError};
use tokio_util::sync::CancellationToken;

/// The password of every demo user.
pub const DEMO_PASSWORD: &str = "cotalk-demo";

/// Demo users: (username, display name).
pub const DEMO_USERS: &[(&str, &str)] = &[
    ("minji", "김민지"),
    ("jihoon", "박지훈"),
    ("alice", "Alice Park"),
    ("sam", "Sam Lee"),
    ("seoyeon", "이서연"),
];

/// Index into [`DEMO_USERS`].
pub(crate) type Who = usize;
const MINJI: Who = 0;
const JIHOON: Who = 1;
const ALICE: Who = 2;
const SAM: Who = 3;
const SEOYEON: Who = 4;

/// What a seed run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The demo was there already; nothing was appended.
    AlreadySeeded,
    /// The demo was written; the log position of its last event.
    Seeded { position: i64 },
}

/// A logged-in user of the seed.
pub(crate) type Session = LoginResponse;

/// The command routes, through the typed client, with the idempotency keys
/// of the seed and the highest position answered.
pub(crate) struct Commands {
    client: Client,
    position: i64,
    /// Idempotency keys are `{prefix}{n}`, n counting from 1 in each part.
    prefix: &'static str,
    keys: usize,
}

impl Commands {
    /// The client as `user`, under the next idempotency key. Sign-ups and
    /// logins go without a key: a replayed 201 would hide that the user
    /// exists, and a replayed login would be an old token. The keys of the
    /// other commands are numbered in the same order each run.
    fn keyed(&mut self, user: &Session) -> Client {
        self.keys += 1;
        self.client
            .auth(user.token.clone())
            .key(format!("{}{}", self.prefix, self.keys))
    }

    /// Note a position answered.
    fn saw(&mut self, position: i64) {
        self.position = self.position.max(position);
    }
}

/// Options of `cotalk seed`: the demo, plus generated data on request.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SeedArgs {
    /// Generated users besides the demo ones (`demo_0001`…, same password).
    #[arg(long, default_value_t = 0)]
    pub users: usize,
    /// Generated group rooms, each with a handful of members.
    #[arg(long, default_value_t = 0)]
    pub rooms: usize,
    /// Generated messages, spread over the generated rooms.
    #[arg(long, default_value_t = 0)]
    pub messages: usize,
}

/// `cotalk seed`: write the demo unless it is there, then the generated data
/// asked for (again idempotent: the same counts write nothing more). It also
/// makes sure the operator page's admin token exists, so that `make run` can
/// print the page's address before the server starts.
pub async fn run(config: &Config, args: &SeedArgs) -> Result<Outcome> {
    crate::serve::migrate(config).await?;
    crate::ops_status::load_or_create_admin_token(config.admin_token.as_deref(), &config.data_dir)
        .context("load or create the admin token")?;
    let secret = api::auth::load_or_create_secret(config.token_secret.as_deref(), &config.data_dir)
        .context("load or create the token secret")?;
    let keys = Arc::new(api::TokenKeys::new(&secret, chrono::Duration::hours(1)));
    let pool = crate::serve::lazy_pool(&config.database_url, 4)?;
    let store = EventStore::connect(pool, BatchConfig::default()).await;
    // In process there is no client address, so no per-address limit
    // applies; each user signs up and logs in once, and successful logins
    // spend no account budget. Loopback is exempted anyway, should the seed
    // ever go through a listener.
    let limits = Arc::new(RateLimits::new(RateLimitConfig {
        exempt_loopback: true,
        ..RateLimitConfig::DEFAULT
    }));
    let pii = config.pii().context("load or create the master key")?;
    let state = CommandState::new(Repository::new(store.clone(), 10_000), keys, limits, pii);
    // The routes on a loopback port, without connect info: as before, when
    // they were called in process, no per-address limit applies.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("bind a loopback port for the seed")?;
    let base = format!("http://{}", listener.local_addr()?);
    let stop = CancellationToken::new();
    let server = tokio::spawn(
        axum::serve(listener, command::router(state))
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );
    let mut commands = Commands {
        client: Client::new(base),
        position: 0,
        prefix: "cotalk-seed-v1-",
        keys: 0,
    };
    let mut outcome = seed(&mut commands).await;
    if outcome.is_ok() && (args.users > 0 || args.rooms > 0 || args.messages > 0) {
        commands.prefix = "cotalk-seed-bulk-v1-";
        commands.keys = 0;
        outcome = match crate::seed_bulk::generate(&mut commands, args).await {
            Ok(()) => Ok(Outcome::Seeded {
                position: commands.position,
            }),
            Err(e) => Err(e),
        };
    }
    stop.cancel();
    let _ = server.await;
    store.shutdown().await;
    outcome
}

/// Sign `username` up with the demo password; false when it exists already.
pub(crate) async fn sign_up(c: &mut Commands, username: &str, display_name: &str) -> Result<bool> {
    let req = RegisterRequest {
        username: username.to_owned(),
        display_name: display_name.to_owned(),
        password: DEMO_PASSWORD.to_owned(),
    };
    match c.client.register(&req).await {
        Ok(registered) => {
            c.saw(registered.position);
            Ok(true)
        }
        Err(e) if e.status() == Some(StatusCode::CONFLICT) => Ok(false),
        Err(e) => Err(e).with_context(|| format!("seed: sign-up of {username}")),
    }
}

/// Log in as `username` with the demo password.
pub(crate) async fn log_in(c: &mut Commands, username: &str) -> Result<Session> {
    let req = LoginRequest {
        username: username.to_owned(),
        password: DEMO_PASSWORD.to_owned(),
    };
    c.client.login(&req).await.with_context(|| {
        format!("log in as {username} (a user of the same name with another password?)")
    })
}

async fn seed(c: &mut Commands) -> Result<Outcome> {
    let mut created = 0;
    for (username, display_name) in DEMO_USERS {
        created += usize::from(sign_up(c, username, display_name).await?);
    }
    if created == 0 {
        return Ok(Outcome::AlreadySeeded);
    }
    let mut users = Vec::new();
    for (username, _) in DEMO_USERS {
        users.push(log_in(c, username).await?);
    }
    for (a, b) in [
        (MINJI, JIHOON),
        (MINJI, ALICE),
        (ALICE, SAM),
        (JIHOON, SEOYEON),
    ] {
        befriend(c, &users[a], &users[b]).await?;
    }

    let hiking = room(c, &users, ALICE, "Weekend hiking 🥾", &[SAM, MINJI, JIHOON]).await?;
    talk(c, &users, hiking, HIKING).await?;
    let lunch = room(c, &users, JIHOON, "점심 메뉴 🍜", &[MINJI, SEOYEON, SAM]).await?;
    talk(c, &users, lunch, LUNCH).await?;
    let dm = direct(c, &users, ALICE, SAM).await?;
    talk(c, &users, dm, ALICE_SAM).await?;
    let product = room(
        c,
        &users,
        MINJI,
        "제품팀 · Product",
        &[JIHOON, ALICE, SEOYEON],
    )
    .await?;
    // Older history first, so the timeline has something to scroll back to.
    for (i, (who, text)) in BACKLOG.iter().cycle().take(48).enumerate() {
        let day = i / BACKLOG.len() + 1;
        let body = format!("{text} (day {day})");
        post(c, &users, product, *who, &body).await?;
    }
    talk(c, &users, product, PRODUCT).await?;
    let dm = direct(c, &users, MINJI, JIHOON).await?;
    talk(c, &users, dm, MINJI_JIHOON).await?;
    Ok(Outcome::Seeded {
        position: c.position,
    })
}

async fn befriend(c: &mut Commands, a: &Session, b: &Session) -> Result<()> {
    let asked = c
        .keyed(a)
        .request_friend(&FriendRequest { user_id: b.user_id })
        .await;
    match asked {
        Ok(answer) => c.saw(answer.position),
        Err(e) if e.status() == Some(StatusCode::CONFLICT) => return Ok(()),
        Err(e) => return Err(e).context("seed: friend request"),
    }
    match c.keyed(b).accept_friend(a.user_id).await {
        Ok(answer) => c.saw(answer.position),
        // Already friends (a resumed run): nothing to accept.
        Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => {}
        Err(e) => return Err(e).context("seed: accept a friend request"),
    }
    Ok(())
}

/// A created room's id, noting its position.
fn created(c: &mut Commands, answer: Result<RoomCreatedResponse, ClientError>) -> Result<RoomId> {
    let answer = answer.context("seed: create a room")?;
    c.saw(answer.position);
    Ok(answer.room_id)
}

pub(crate) async fn room(
    c: &mut Commands,
    users: &[Session],
    owner: Who,
    name: &str,
    members: &[Who],
) -> Result<RoomId> {
    let req = CreateRoomRequest {
        name: name.to_owned(),
        members: members.iter().map(|m| users[*m].user_id).collect(),
    };
    let answer = c.keyed(&users[owner]).create_room(&req).await;
    created(c, answer)
}

async fn direct(c: &mut Commands, users: &[Session], a: Who, b: Who) -> Result<RoomId> {
    let req = DirectRoomRequest {
        user_id: users[b].user_id,
    };
    let answer = c.keyed(&users[a]).open_direct(&req).await;
    created(c, answer.map(|(_, room)| room))
}

pub(crate) async fn post(
    c: &mut Commands,
    users: &[Session],
    room: RoomId,
    who: Who,
    body: &str,
) -> Result<()> {
    let posted = c
        .keyed(&users[who])
        .post_message(room, &PostMessageRequest::text(body))
        .await
        .context("seed: post a message")?;
    c.saw(posted.position);
    Ok(())
}

async fn talk(
    c: &mut Commands,
    users: &[Session],
    room: RoomId,
    lines: &[(Who, &str)],
) -> Result<()> {
    for (who, text) in lines {
        post(c, users, room, *who, text).await?;
    }
    Ok(())
}

pub(crate) const BACKLOG: &[(Who, &str)] = &[
    (MINJI, "오늘 스탠드업은 10시에 시작할게요"),
    (JIHOON, "네, 어제 배포 건은 문제 없었어요"),
    (ALICE, "Morning! The staging build is green again"),
    (SEOYEON, "디자인 리뷰는 오후 3시로 잡았습니다"),
    (MINJI, "좋아요. 고객 인터뷰 정리도 공유 부탁드려요"),
    (ALICE, "I'll pair with Jihoon on the search latency issue"),
    (JIHOON, "인덱스 커밋 주기를 조금 늘려볼게요"),
    (SEOYEON, "아이콘 세트 새로 뽑았어요, 피그마에 올려뒀습니다"),
];

pub(crate) const PRODUCT: &[(Who, &str)] = &[
    (
        MINJI,
        "다들 안녕하세요! 이번 주 릴리스 일정 확인 부탁드려요 🙏",
    ),
    (JIHOON, "백엔드 쪽은 목요일까지 마무리할 수 있을 것 같아요"),
    (
        ALICE,
        "Frontend is almost done, just polishing the search page",
    ),
    (SEOYEON, "검색 결과 화면 시안 다시 보내드릴게요"),
    (
        MINJI,
        "어제 회의록을 공유했어요. 결정 사항 꼭 확인해 주세요",
    ),
    (
        ALICE,
        "Thanks Minji! Is the Korean search working with particles now?",
    ),
    (
        JIHOON,
        "네, '회의록을' 이라고 써도 '회의록'으로 찾을 수 있어요",
    ),
    (ALICE, "Amazing 🎉 I'll add that to the release notes"),
    (SEOYEON, "저 다음 주 화요일 휴가예요~ 참고 부탁드려요"),
    (MINJI, "네 알겠어요. 데모는 금요일 오후 2시에 할게요"),
    (JIHOON, "Demo on Friday 2pm works for me 👍"),
];

pub(crate) const HIKING: &[(Who, &str)] = &[
    (ALICE, "Who's up for Bukhansan this Saturday?"),
    (SAM, "I'm in! What time should we meet?"),
    (MINJI, "저도 갈래요! 8시에 구파발역 어때요?"),
    (ALICE, "8am at Gupabal station sounds perfect"),
    (JIHOON, "I'll bring snacks and extra water 💧"),
    (SAM, "Weather says sunny, 18°C. Great hiking weather"),
];

pub(crate) const LUNCH: &[(Who, &str)] = &[
    (JIHOON, "오늘 점심 뭐 먹을까요?"),
    (SEOYEON, "김치찌개 어때요? 회사 앞에 새로 생긴 곳이요"),
    (MINJI, "좋아요! 12시 10분에 로비에서 봐요"),
    (SAM, "Can I join? I've been craving kimchi jjigae 😋"),
    (JIHOON, "Of course! 같이 가요"),
];

const ALICE_SAM: &[(Who, &str)] = &[
    (ALICE, "Did you get a chance to review my pull request?"),
    (SAM, "Yes, left a few comments. Looks good overall!"),
    (ALICE, "Great, I'll fix them before lunch"),
];

const MINJI_JIHOON: &[(Who, &str)] = &[
    (MINJI, "지훈님, 내일 발표 자료 한번 봐주실 수 있어요?"),
    (JIHOON, "네 그럼요! 오늘 저녁에 볼게요"),
    (MINJI, "감사합니다 😊 커피 살게요"),
];

/// What `cotalk seed` prints: the demo logins.
pub fn describe(outcome: &Outcome) -> String {
    let users: Vec<&str> = DEMO_USERS.iter().map(|(u, _)| *u).collect();
    let head = match outcome {
        Outcome::AlreadySeeded => "demo already seeded; nothing written".to_owned(),
        Outcome::Seeded { position } => format!("demo seeded (log position {position})"),
    };
    format!(
        "{head}\ndemo logins: {} (password: {DEMO_PASSWORD})",
        users.join(", ")
    )
}
