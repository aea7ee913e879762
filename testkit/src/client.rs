//! A typed client of cotalk's HTTP API, for the tests, `cotalk seed` and
//! `cotalk bench`: one method per route, taking the route's request struct
//! and returning its answer struct (both from the `contract` crate, the
//! types the server parses and answers with).
//!
//! A [`Client`] is cheap to clone; [`Client::auth`], [`Client::key`],
//! [`Client::at`] and [`Client::max_wait`] return a copy that sends the
//! bearer token, `Idempotency-Key`, `X-Min-Position` and `X-Max-Wait-Ms`
//! with every call. A refused call is
//! a [`ClientError::Refused`] with the status, headers and typed
//! [`Problem`]; [`Client::raw`] sends anything (a malformed body, an unknown
//! route) and returns the answer as it came, for error-path tests.

use contract::commands::{
    AddMemberRequest, CreateRoomRequest, DirectRoomRequest, EditMessageRequest, FriendRequest,
    LoginRequest, LoginResponse, MessagePostedResponse, PositionResponse, PostMessageRequest,
    ReadMarkerRequest, RegisterRequest, RegisterResponse, RenameRoomRequest, RoomCreatedResponse,
    SetNoticeRequest, UpdateMeRequest,
};
use contract::ops::{Health, Readiness};
use contract::queries::{
    FriendsResponse, MeResponse, MessagesResponse, MyRoomsResponse, RoomResponse, SearchResponse,
    UserResponse,
};
use contract::Problem;
use domain::{MessageId, RoomId, UserId};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::ops::Deref;

#[path = "client_meetups.rs"]
mod meetups;
#[path = "client_notifications.rs"]
mod notifications;
mod people;

/// `X-Position`, the position a query answer reflects.
pub const X_POSITION: &str = "x-position";

/// A client of one server (`http://host:port`).
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    idempotency_key: Option<String>,
    min_position: Option<i64>,
    max_wait_ms: Option<u64>,
}

/// A query answer and the position it reflects (`X-Position`).
#[derive(Clone, Debug, PartialEq)]
pub struct Read<T> {
    /// The answer.
    pub body: T,
    /// `X-Position`.
    pub position: i64,
}

impl<T> Deref for Read<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.body
    }
}

/// A refused call: everything the server answered.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// The method called.
    pub method: Method,
    /// The path called.
    pub path: String,
    /// The status answered.
    pub status: StatusCode,
    /// The headers answered (`Retry-After`, `X-Position` …).
    pub headers: HeaderMap,
    /// The problem+json body, when it was one.
    pub problem: Option<Problem>,
    /// The body as text.
    pub body: String,
}

/// Why a call did not give the answer it names.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: connection refused or cut, timeout.
    #[error("{method} {path}: no answer: {source}")]
    Transport {
        /// The method called.
        method: Method,
        /// The path called.
        path: String,
        /// What reqwest saw.
        #[source]
        source: reqwest::Error,
    },
    /// An answer other than success.
    #[error("{} {} answered {}: {}", .0.method, .0.path, .0.status, .0.body)]
    Refused(Box<Refusal>),
    /// A success other than the route's documented one (a 200 where the
    /// contract says 201, say).
    #[error("{method} {path} answered {status}, the contract says {expected}")]
    UnexpectedStatus {
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// The status answered.
        status: StatusCode,
        /// The status the contract documents.
        expected: StatusCode,
    },
    /// A success whose body is not the route's answer type.
    #[error("{method} {path}: answer does not decode ({source}): {body}")]
    Decode {
        /// The method called.
        method: Method,
        /// The path called.
        path: String,
        /// Why it does not decode.
        #[source]
        source: serde_json::Error,
        /// The body as text.
        body: String,
    },
}

impl ClientError {
    /// The status answered, if there was an answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Refused(r) => Some(r.status),
            Self::UnexpectedStatus { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The problem answered, if any.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Refused(r) => r.problem.as_ref(),
            _ => None,
        }
    }

    /// The problem's `code`, if any.
    pub fn code(&self) -> Option<&str> {
        self.problem().map(|p| p.code.as_str())
    }

    /// A header of the refusal (`Retry-After` …), if answered.
    pub fn header(&self, name: &str) -> Option<&str> {
        match self {
            Self::Refused(r) => r.headers.get(name).and_then(|v| v.to_str().ok()),
            _ => None,
        }
    }
}

/// The result of a call.
pub type Result<T> = std::result::Result<T, ClientError>;

/// An answer as it came (see [`Client::raw`]).
#[derive(Clone, Debug)]
pub struct RawAnswer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub bytes: Vec<u8>,
}

impl RawAnswer {
    /// The problem+json body, when it is one.
    pub fn problem(&self) -> Option<Problem> {
        serde_json::from_slice(&self.bytes).ok()
    }

    /// The problem's `code`, or "" when the body is not a problem.
    pub fn code(&self) -> String {
        self.problem().map(|p| p.code).unwrap_or_default()
    }

    /// The body as a typed answer.
    pub fn json<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.bytes)
    }

    /// The body as any JSON (Null when it is none), for checks that are not
    /// about one answer type (nothing leaks, say).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `X-Position`, if answered.
    pub fn position(&self) -> Option<i64> {
        self.header(X_POSITION).and_then(|v| v.parse().ok())
    }
}

/// A request being built by [`Client::raw`].
#[must_use]
pub struct RawRequest {
    req: reqwest::RequestBuilder,
}

impl RawRequest {
    /// A JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.req = self.req.json(body);
        self
    }

    /// Any body, as `application/json`.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.req = self
            .req
            .header("content-type", "application/json")
            .body(body.into());
        self
    }

    /// Any header.
    pub fn header(mut self, name: &str, value: impl ToString) -> Self {
        self.req = self.req.header(name, value.to_string());
        self
    }

    /// Send and read the whole answer.
    pub async fn send(self) -> reqwest::Result<RawAnswer> {
        let res = self.req.send().await?;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await?.to_vec();
        Ok(RawAnswer {
            status,
            headers,
            bytes,
        })
    }
}

impl Client {
    /// A client of the server at `base` (`http://127.0.0.1:8080`).
    pub fn new(base: impl Into<String>) -> Self {
        Self::with_http(reqwest::Client::new(), base)
    }

    /// A client over `http` (its pool, timeouts …).
    pub fn with_http(http: reqwest::Client, base: impl Into<String>) -> Self {
        Self {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
            token: None,
            idempotency_key: None,
            min_position: None,
            max_wait_ms: None,
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The underlying HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// This client, sending `token` as the bearer token.
    pub fn auth(&self, token: impl Into<String>) -> Self {
        Self {
            token: Some(token.into()),
            ..self.clone()
        }
    }

    /// This client, sending `key` as the `Idempotency-Key`.
    pub fn key(&self, key: impl Into<String>) -> Self {
        Self {
            idempotency_key: Some(key.into()),
            ..self.clone()
        }
    }

    /// This client, asking queries to reflect at least `position`
    /// (`X-Min-Position`: read your writes).
    pub fn at(&self, position: i64) -> Self {
        Self {
            min_position: Some(position),
            ..self.clone()
        }
    }

    /// This client, letting queries wait at most `ms` milliseconds for
    /// their `X-Min-Position` (`X-Max-Wait-Ms`).
    pub fn max_wait(&self, ms: u64) -> Self {
        Self {
            max_wait_ms: Some(ms),
            ..self.clone()
        }
    }

    /// A request to `path` (with the query string, if any) carrying this
    /// client's token, key, position and wait.
    pub fn raw(&self, method: Method, path: &str) -> RawRequest {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(key) = &self.idempotency_key {
            req = req.header("idempotency-key", key);
        }
        if let Some(position) = self.min_position {
            req = req.header("x-min-position", position);
        }
        if let Some(ms) = self.max_wait_ms {
            req = req.header("x-max-wait-ms", ms);
        }
        RawRequest { req }
    }

    /// Send `body` (none for `None`) and read the answer as `T`, or the
    /// refusal; also the status and `X-Position`.
    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(StatusCode, T, i64)> {
        let mut req = self.raw(method.clone(), path);
        if let Some(body) = body {
            req = req.json(body);
        }
        let answer = req.send().await.map_err(|source| ClientError::Transport {
            method: method.clone(),
            path: path.to_owned(),
            source,
        })?;
        if !answer.status.is_success() {
            return Err(ClientError::Refused(Box::new(Refusal {
                method,
                path: path.to_owned(),
                status: answer.status,
                problem: answer.problem(),
                body: answer.text(),
                headers: answer.headers,
            })));
        }
        let body = answer.json().map_err(|source| ClientError::Decode {
            method,
            path: path.to_owned(),
            source,
            body: answer.text(),
        })?;
        Ok((answer.status, body, answer.position().unwrap_or(-1)))
    }

    /// Send a command and read its answer, which must carry the route's
    /// documented success status (`expected`): another 2xx is an error too,
    /// so callers that only look at the typed answer still check the status.
    async fn command<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        expected: StatusCode,
    ) -> Result<T> {
        let (status, answer, _) = self.call(method.clone(), path, body).await?;
        if status != expected {
            return Err(ClientError::UnexpectedStatus {
                method,
                path: path.to_owned(),
                status,
                expected,
            });
        }
        Ok(answer)
    }

    async fn query<T: DeserializeOwned>(&self, path: &str) -> Result<Read<T>> {
        let (_, body, position) = self.call::<(), T>(Method::GET, path, None).await?;
        Ok(Read { body, position })
    }

    /// `POST /v1/users`: sign up.
    pub async fn register(&self, req: &RegisterRequest) -> Result<RegisterResponse> {
        self.command(Method::POST, "/v1/users", Some(req), StatusCode::CREATED)
            .await
    }

    /// `POST /v1/sessions`: log in.
    pub async fn login(&self, req: &LoginRequest) -> Result<LoginResponse> {
        self.command(Method::POST, "/v1/sessions", Some(req), StatusCode::CREATED)
            .await
    }

    /// `POST /v1/sessions/refresh`: exchange a refresh token for a new pair.
    pub async fn refresh(&self, refresh_token: &str) -> Result<LoginResponse> {
        let req = contract::sessions::RefreshRequest {
            refresh_token: refresh_token.to_owned(),
        };
        self.command(
            Method::POST,
            "/v1/sessions/refresh",
            Some(&req),
            StatusCode::CREATED,
        )
        .await
    }

    /// `DELETE /v1/sessions/current`: log out.
    pub async fn logout(&self) -> Result<contract::sessions::Ended> {
        self.command::<(), _>(Method::DELETE, "/v1/sessions/current", None, StatusCode::OK)
            .await
    }

    /// `GET /v1/me/sessions`: the caller's live sessions.
    pub async fn sessions(&self) -> Result<contract::sessions::SessionsResponse> {
        let (_, body, _) = self
            .call::<(), _>(Method::GET, "/v1/me/sessions", None)
            .await?;
        Ok(body)
    }

    /// `DELETE /v1/me/sessions/{session_id}`: end one of the caller's sessions.
    pub async fn end_session(&self, session: uuid::Uuid) -> Result<contract::sessions::Ended> {
        let path = format!("/v1/me/sessions/{session}");
        self.command::<(), _>(Method::DELETE, &path, None, StatusCode::OK)
            .await
    }

    /// `POST /v1/me/password`: change the password (other sessions end).
    pub async fn change_password(
        &self,
        current_password: &str,
        new_password: &str,
    ) -> Result<PositionResponse> {
        let req = contract::sessions::ChangePasswordRequest {
            current_password: current_password.to_owned(),
            new_password: new_password.to_owned(),
        };
        self.command(Method::POST, "/v1/me/password", Some(&req), StatusCode::OK)
            .await
    }

    /// `DELETE /v1/me`: delete the caller's account (issue 18).
    pub async fn delete_me(&self, password: &str) -> Result<PositionResponse> {
        let req = contract::sessions::DeleteAccountRequest {
            password: password.to_owned(),
        };
        self.command(Method::DELETE, "/v1/me", Some(&req), StatusCode::OK)
            .await
    }

    /// `PATCH /v1/me`: change the display name.
    pub async fn update_me(&self, req: &UpdateMeRequest) -> Result<PositionResponse> {
        self.command(Method::PATCH, "/v1/me", Some(req), StatusCode::OK)
            .await
    }

    /// `POST /v1/friends`: ask someone to be friends (or accept their request).
    pub async fn request_friend(&self, req: &FriendRequest) -> Result<PositionResponse> {
        self.command(Method::POST, "/v1/friends", Some(req), StatusCode::CREATED)
            .await
    }

    /// `POST /v1/friends/{user_id}/accept`.
    pub async fn accept_friend(&self, user: UserId) -> Result<PositionResponse> {
        let path = format!("/v1/friends/{user}/accept");
        self.command::<(), _>(Method::POST, &path, None, StatusCode::OK)
            .await
    }

    /// `DELETE /v1/friends/{user_id}`: unfriend, decline or cancel.
    pub async fn end_friendship(&self, user: UserId) -> Result<PositionResponse> {
        let path = format!("/v1/friends/{user}");
        self.command::<(), _>(Method::DELETE, &path, None, StatusCode::OK)
            .await
    }

    /// `POST /v1/rooms`: create a group room.
    pub async fn create_room(&self, req: &CreateRoomRequest) -> Result<RoomCreatedResponse> {
        self.command(Method::POST, "/v1/rooms", Some(req), StatusCode::CREATED)
            .await
    }

    /// `POST /v1/rooms/direct`: the direct room of the caller and another
    /// user; the status is 201 when it was created, 200 when it existed.
    pub async fn open_direct(
        &self,
        req: &DirectRoomRequest,
    ) -> Result<(StatusCode, RoomCreatedResponse)> {
        let (status, body, _) = self
            .call(Method::POST, "/v1/rooms/direct", Some(req))
            .await?;
        Ok((status, body))
    }

    /// `PATCH /v1/rooms/{room_id}`: rename.
    pub async fn rename_room(
        &self,
        room: RoomId,
        req: &RenameRoomRequest,
    ) -> Result<PositionResponse> {
        let path = format!("/v1/rooms/{room}");
        self.command(Method::PATCH, &path, Some(req), StatusCode::OK)
            .await
    }

    /// `POST /v1/rooms/{room_id}/members`: add a member.
    pub async fn add_member(
        &self,
        room: RoomId,
        req: &AddMemberRequest,
    ) -> Result<PositionResponse> {
        let path = format!("/v1/rooms/{room}/members");
        self.command(Method::POST, &path, Some(req), StatusCode::CREATED)
            .await
    }

    /// `DELETE /v1/rooms/{room_id}/members/{user_id}`: leave or kick.
    pub async fn remove_member(&self, room: RoomId, user: UserId) -> Result<PositionResponse> {
        let path = format!("/v1/rooms/{room}/members/{user}");
        self.command::<(), _>(Method::DELETE, &path, None, StatusCode::OK)
            .await
    }

    /// `POST /v1/rooms/{room_id}/messages`: post.
    pub async fn post_message(
        &self,
        room: RoomId,
        req: &PostMessageRequest,
    ) -> Result<MessagePostedResponse> {
        let path = format!("/v1/rooms/{room}/messages");
        self.command(Method::POST, &path, Some(req), StatusCode::CREATED)
            .await
    }

    /// `POST /v1/rooms/{room_id}/attachments`: upload `bytes` (named
    /// `name`, percent-encoded into `X-File-Name`).
    pub async fn upload_attachment(
        &self,
        room: RoomId,
        bytes: Vec<u8>,
        name: Option<&str>,
    ) -> Result<contract::attachments::AttachmentStoredResponse> {
        let path = format!("/v1/rooms/{room}/attachments");
        let mut req = self
            .raw(Method::POST, &path)
            .header("content-type", "application/octet-stream")
            .body(bytes);
        if let Some(name) = name {
            let encoded: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
            req = req.header("x-file-name", encoded.replace('+', "%20"));
        }
        let answer = req.send().await.map_err(|source| ClientError::Transport {
            method: Method::POST,
            path: path.clone(),
            source,
        })?;
        if answer.status != StatusCode::CREATED {
            return Err(ClientError::Refused(Box::new(Refusal {
                method: Method::POST,
                path,
                status: answer.status,
                problem: answer.problem(),
                body: answer.text(),
                headers: answer.headers,
            })));
        }
        answer.json().map_err(|source| ClientError::Decode {
            method: Method::POST,
            path,
            source,
            body: answer.text(),
        })
    }

    /// `PATCH /v1/rooms/{room_id}/messages/{message_id}`: edit.
    pub async fn edit_message(
        &self,
        room: RoomId,
        message: MessageId,
        req: &EditMessageRequest,
    ) -> Result<PositionResponse> {
        let path = format!("/v1/rooms/{room}/messages/{message}");
        self.command(Method::PATCH, &path, Some(req), StatusCode::OK)
            .await
    }

    /// `DELETE /v1/rooms/{room_id}/messages/{message_id}`.
    pub async fn delete_message(
        &self,
        room: RoomId,
        message: MessageId,
    ) -> Result<PositionResponse> {
        let path = format!("/v1/rooms/{room}/messages/{message}");
        self.command::<(), _>(Method::DELETE, &path, None, StatusCode::OK)
            .await
    }

    /// `PUT /v1/rooms/{room_id}/messages/{message_id}/reactions/{emoji}`
    /// (`emoji` is percent-encoded here).
    pub async fn react(
        &self,
        room: RoomId,
        message: MessageId,
        emoji: &str,
    ) -> Result<PositionResponse> {
        let path = format!(
            "/v1/rooms/{room}/messages/{message}/reactions/{}",
            percent_encode(emoji)
        );
        self.command::<(), _>(Method::PUT, &path, None, StatusCode::OK)
            .await
    }

    /// `DELETE /v1/rooms/{room_id}/messages/{message_id}/reactions/{emoji}`.
    pub async fn unreact(
        &self,
        room: RoomId,
        message: MessageId,
        emoji: &str,
    ) -> Result<PositionResponse> {
        let path = format!(
            "/v1/rooms/{room}/messages/{message}/reactions/{}",
            percent_encode(emoji)
        );
        self.command::<(), _>(Method::DELETE, &path, None, StatusCode::OK)
            .await
    }

    /// `POST /v1/rooms/{room_id}/messages/{message_id}/hide`: delete for me.
    pub async fn hide_message(&self, room: RoomId, message: MessageId) -> Result<PositionResponse> {
        let path = format!("/v1/rooms/{room}/messages/{message}/hide");
        self.command::<(), _>(Method::POST, &path, None, StatusCode::OK)
            .await
    }

    /// `PUT /v1/rooms/{room_id}/notice`.
    pub async fn set_notice(
        &self,
        room: RoomId,
        req: &SetNoticeRequest,
    ) -> Result<PositionResponse> {
        let path = format!("/v1/rooms/{room}/notice");
        self.command(Method::PUT, &path, Some(req), StatusCode::OK)
            .await
    }

    /// `DELETE /v1/rooms/{room_id}/notice`.
    pub async fn clear_notice(&self, room: RoomId) -> Result<PositionResponse> {
        let path = format!("/v1/rooms/{room}/notice");
        self.command::<(), _>(Method::DELETE, &path, None, StatusCode::OK)
            .await
    }

    /// `POST /v1/rooms/{room_id}/read`: move the read marker.
    pub async fn mark_read(
        &self,
        room: RoomId,
        req: &ReadMarkerRequest,
    ) -> Result<PositionResponse> {
        let path = format!("/v1/rooms/{room}/read");
        self.command(Method::POST, &path, Some(req), StatusCode::OK)
            .await
    }

    /// `GET /v1/me`.
    pub async fn me(&self) -> Result<Read<MeResponse>> {
        self.query("/v1/me").await
    }

    /// `GET /v1/users/{user_id}`.
    pub async fn user(&self, user: UserId) -> Result<Read<UserResponse>> {
        self.query(&format!("/v1/users/{user}")).await
    }

    /// `GET /v1/users?username=`.
    pub async fn find_user(&self, username: &str) -> Result<Read<UserResponse>> {
        let query = encode(&[("username", username)]);
        self.query(&format!("/v1/users?{query}")).await
    }

    /// `GET /v1/me/friends`.
    pub async fn friends(&self) -> Result<Read<FriendsResponse>> {
        self.query("/v1/me/friends").await
    }

    /// `GET /v1/rooms/{room_id}`.
    pub async fn room(&self, room: RoomId) -> Result<Read<RoomResponse>> {
        self.query(&format!("/v1/rooms/{room}")).await
    }

    /// `GET /v1/me/rooms?` + `query` (`limit=`, `cursor=`; "" for the first page).
    pub async fn my_rooms(&self, query: &[(&str, &str)]) -> Result<Read<MyRoomsResponse>> {
        self.query(&format!("/v1/me/rooms?{}", encode(query))).await
    }

    /// `GET /v1/rooms/{room_id}/messages?` + `query` (`before=`, `after=`, `limit=`).
    pub async fn messages(
        &self,
        room: RoomId,
        query: &[(&str, &str)],
    ) -> Result<Read<MessagesResponse>> {
        let path = format!("/v1/rooms/{room}/messages?{}", encode(query));
        self.query(&path).await
    }

    /// `GET /v1/search/messages?` + `query` (`q=` and the filters).
    pub async fn search(&self, query: &[(&str, &str)]) -> Result<Read<SearchResponse>> {
        self.query(&format!("/v1/search/messages?{}", encode(query)))
            .await
    }
}

impl Client {
    /// `GET /healthz`.
    pub async fn health(&self) -> Result<Health> {
        self.command::<(), _>(Method::GET, "/healthz", None, StatusCode::OK)
            .await
    }

    /// `GET /readyz`: the status (200 when ready, 503 when a dependency does
    /// not answer) and the report, which both statuses carry.
    pub async fn readiness(&self) -> Result<(StatusCode, Readiness)> {
        let path = "/readyz";
        let answer =
            self.raw(Method::GET, path)
                .send()
                .await
                .map_err(|source| ClientError::Transport {
                    method: Method::GET,
                    path: path.to_owned(),
                    source,
                })?;
        let report = answer.json().map_err(|source| ClientError::Decode {
            method: Method::GET,
            path: path.to_owned(),
            source,
            body: answer.text(),
        })?;
        Ok((answer.status, report))
    }
}

/// `query` as a URL query string.
fn encode(query: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    out.extend_pairs(query);
    out.finish()
}

/// A signed-up, logged-in user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The user.
    pub id: UserId,
    /// Their bearer token.
    pub token: String,
    /// Position of the registration.
    pub position: i64,
}

impl Client {
    /// Sign `username` up and log in.
    pub async fn sign_up(
        &self,
        username: &str,
        display_name: &str,
        password: &str,
    ) -> Result<Session> {
        let registered = self
            .register(&RegisterRequest {
                username: username.to_owned(),
                display_name: display_name.to_owned(),
                password: password.to_owned(),
            })
            .await?;
        let login = self
            .login(&LoginRequest {
                username: username.to_owned(),
                password: password.to_owned(),
            })
            .await?;
        Ok(Session {
            id: registered.user_id,
            token: login.token,
            position: registered.position,
        })
    }

    /// This client, as `session`'s user.
    pub fn of(&self, session: &Session) -> Self {
        self.auth(session.token.clone())
    }
}

/// A path segment with every byte but the unreserved ones percent-encoded.
pub fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() * 3);
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
