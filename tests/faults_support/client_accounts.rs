//! Account deletion in the chaos load (issue 18): every other new user
//! deletes their account right after signing up. `DELETE /v1/me` revokes the
//! caller's sessions before it commits, so a retry after a lost answer can
//! meet 401: the session ended, whether or not the deletion committed. The
//! client then logs in again: refused means the credentials are gone (the
//! deletion committed; its position is read from the log afterwards, see
//! [`HttpLoad::resolve_deletions`]), accepted means it did not, and the
//! deletion is retried under the same `Idempotency-Key` with the new token.

use super::{Ack, HttpLoad};
use contract::commands::LoginRequest;
use reqwest::StatusCode;
use sqlx::PgPool;
use std::sync::atomic::Ordering;
use testkit::client::ClientError;
use uuid::Uuid;

const PASSWORD: &str = "password-1";

/// `Ok(None)` for a 401, the answer otherwise.
fn none_on_401<T>(r: testkit::client::Result<T>) -> testkit::client::Result<Option<T>> {
    match r {
        Err(e @ ClientError::Refused(_)) if e.status() == Some(StatusCode::UNAUTHORIZED) => {
            Ok(None)
        }
        other => other.map(Some),
    }
}

impl HttpLoad {
    /// `username` (signed up, logged in with `token`) deletes the account.
    pub(super) async fn delete_account(&self, username: &str, mut token: String) {
        let key = Uuid::new_v4().to_string();
        loop {
            let deleted = self
                .request("delete an account", None, |c| {
                    let (c, password) = (c.key(key.clone()).auth(token.clone()), PASSWORD);
                    async move { none_on_401(c.delete_me(password).await) }
                })
                .await;
            if let Some(answer) = deleted {
                self.acks.lock().unwrap().push(Ack {
                    key,
                    position: answer.position,
                });
                self.acked.fetch_add(1, Ordering::SeqCst);
                self.deletions.fetch_add(1, Ordering::SeqCst);
                return;
            }
            let login = LoginRequest {
                username: username.to_owned(),
                password: PASSWORD.to_owned(),
            };
            let session = self
                .request("log in to delete again", None, |c| {
                    let login = login.clone();
                    async move { none_on_401(c.login(&login).await) }
                })
                .await;
            match session {
                Some(s) => token = s.token,
                None => {
                    // The credentials are gone: the deletion committed.
                    self.unanswered_deletions.lock().unwrap().push(key);
                    self.acked.fetch_add(1, Ordering::SeqCst);
                    self.deletions.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
        }
    }

    /// Accounts deleted by the load.
    pub fn deletions(&self) -> usize {
        self.deletions.load(Ordering::SeqCst)
    }

    /// Acknowledge the deletions whose answer was lost but which committed
    /// (see the module documentation) at the position the log holds for
    /// their key; `None` when one has no events (it was lost after all).
    pub async fn resolve_deletions(&self, pool: &PgPool) -> Result<(), String> {
        let keys = std::mem::take(&mut *self.unanswered_deletions.lock().unwrap());
        for key in keys {
            let position: Option<i64> = sqlx::query_scalar(
                "SELECT max(position) FROM events WHERE metadata->>'idempotency_key' = $1",
            )
            .bind(&key)
            .fetch_one(pool)
            .await
            .map_err(|e| e.to_string())?;
            let position = position.ok_or_else(|| format!("{key}: deletion has no events"))?;
            self.acks.lock().unwrap().push(Ack { key, position });
        }
        Ok(())
    }
}
