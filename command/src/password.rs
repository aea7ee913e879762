//! Password hashing: argon2id with the OWASP-recommended parameters
//! (19 MiB memory, 2 iterations, 1 lane). Unknown usernames are verified
//! against a fixed dummy hash so "no such user" and "wrong password" take the
//! same time and get the same answer.
//!
//! Hashes run on a fixed set of dedicated threads, one per core, fed through
//! a queue. One hash takes tens of milliseconds and 19 MiB: on the runtime it
//! would stall other requests, and on the unbounded blocking pool a burst of
//! sign-ups ran dozens at once on different threads, each of whose allocator
//! arenas kept its 19 MiB (32 sign-ups left 640 MB resident). Dedicated
//! threads bound CPU use to the cores and let a log-in flood queue instead
//! of starving everything else. Each thread also keeps one block buffer and
//! hashes into it: the allocator did not reuse argon2's freed 19 MiB even on
//! the same thread (every hash added 19.5 MB of resident memory for good).

use argon2::password_hash::{Output, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::cell::RefCell;
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

/// The OWASP parameters new hashes use.
fn owasp() -> Params {
    Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid")
}

thread_local! {
    /// This hashing thread's argon2 memory, allocated once and reused.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// argon2id of `password` with `salt` and `params` into an output of `len`
/// bytes, using this thread's block buffer.
fn argon2id(
    params: &Params,
    password: &[u8],
    salt: Salt<'_>,
    len: usize,
) -> Result<Output, HashError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt_buf = [0u8; 64];
    let salt = salt
        .decode_b64(&mut salt_buf)
        .map_err(|e| HashError(e.to_string()))?;
    BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        let needed = params.block_count();
        if blocks.len() < needed {
            blocks.resize(needed, Block::default());
        }
        Output::init_with(len, |out| {
            argon
                .hash_password_into_with_memory(password, salt, out, &mut blocks[..needed])
                .map_err(|_| argon2::password_hash::Error::Crypto)
        })
        .map_err(|e| HashError(e.to_string()))
    })
}

/// A PHC string (`$argon2id$v=19$m=…`) for `password` with `salt`.
fn phc(password: &[u8], salt: &SaltString) -> Result<String, HashError> {
    let params = owasp();
    let hash = argon2id(
        &params,
        password,
        salt.as_salt(),
        Params::DEFAULT_OUTPUT_LEN,
    )?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: (&params)
            .try_into()
            .map_err(|e: argon2::password_hash::Error| HashError(e.to_string()))?,
        salt: Some(salt.as_salt()),
        hash: Some(hash),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored` (argon2id only).
fn matches(password: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    // `Output` compares in constant time.
    argon2id(&params, password, salt, expected.len()).is_ok_and(|out| out == expected)
}

type Job = Box<dyn FnOnce() + Send>;

/// Hashes and verifies passwords off the async runtime.
#[derive(Clone)]
pub struct Passwords {
    dummy: Arc<String>,
    jobs: mpsc::SyncSender<Job>,
}

/// Hashing failed (never a client's fault).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl Passwords {
    /// Start one hashing thread per core and compute the dummy hash once.
    pub fn new() -> Self {
        let salt = SaltString::encode_b64(b"cotalk-dummy-salt").expect("constant salt is valid");
        let dummy = phc(b"not-a-real-password", &salt).expect("hashing a constant succeeds");
        let (jobs, queue) = mpsc::sync_channel::<Job>(1024);
        let queue = Arc::new(Mutex::new(queue));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..cores {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    // The lock is held only to take one job; the channel closes
                    // when the last `Passwords` is dropped, ending the thread.
                    let job = match queue.lock() {
                        Ok(rx) => rx.recv(),
                        Err(poisoned) => poisoned.into_inner().recv(),
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Self {
            dummy: Arc::new(dummy),
            jobs,
        }
    }

    /// Run `work` on a hashing thread.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
        });
        let jobs = self.jobs.clone();
        // `send` blocks only when 1024 jobs are already queued.
        tokio::task::spawn_blocking(move || jobs.send(job))
            .await
            .map_err(|e| HashError(e.to_string()))?
            .map_err(|e| HashError(e.to_string()))?;
        rx.await.map_err(|e| HashError(e.to_string()))
    }

    /// Hash a new password (PHC string with a random salt).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move || {
            let mut bytes = [0u8; 16];
            rand::Rng::fill(&mut rand::thread_rng(), &mut bytes);
            let salt = SaltString::encode_b64(&bytes).map_err(|e| HashError(e.to_string()))?;
            phc(password.as_bytes(), &salt)
        })
        .await?
    }

    /// Check `password` against `stored` (or against the dummy hash when there
    /// is no such user, so both cases cost the same).
    pub async fn verify(&self, password: String, stored: Option<String>) -> bool {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy.as_str().to_owned());
        let ok = self
            .run(move || matches(password.as_bytes(), &hash))
            .await
            .unwrap_or(false);
        ok && known
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_do() {
        let p = Passwords::new();
        let h = p.hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(p.verify("correct horse".into(), Some(h.clone())).await);
        assert!(!p.verify("wrong horse".into(), Some(h)).await);
        assert!(!p.verify("not-a-real-password".into(), None).await);
    }

    #[test]
    fn hashes_agree_with_the_reference_implementation() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let ours = phc(b"secret-password", &salt).unwrap();
        let reference = Argon2::new(Algorithm::Argon2id, Version::V0x13, owasp())
            .hash_password(b"secret-password", &salt)
            .unwrap()
            .to_string();
        assert_eq!(ours, reference);
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"secret-password", &parsed)
            .is_ok());
        assert!(!matches(b"other", &ours));
        assert!(!matches(
            b"secret-password",
            "$argon2i$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$x"
        ));
    }

    #[tokio::test]
    async fn many_at_once_all_complete() {
        let p = Passwords::new();
        let all = futures::future::join_all((0..8).map(|i| p.hash(format!("password-{i}")))).await;
        assert!(all.iter().all(Result::is_ok));
    }
}
