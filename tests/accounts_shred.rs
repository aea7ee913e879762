//! Crypto-shredding end to end (issue 18): a user with a distinctive
//! username and display name posts, deletes the account, and then neither
//! string is anywhere, as UTF-8, as JSON `\uXXXX` escapes or as hex (how
//! Postgres shows `bytea`): not in a `pg_dump` of either database, not in
//! any Redis key or value of the namespace, not in the data directory (the
//! search indexes), not in the files of the JetStream stream. The same after
//! `cotalk projections replay all`.
//!
//! The JetStream files are those of a private `nats-server` this test
//! starts with its own store directory (the shared one's directory is not
//! the test's to read), on a free loopback port.

mod support;

use contract::commands::UpdateMeRequest;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{serve_args, start_args, Server};
use testkit::TestEnv;
use tokio::time::Instant;

const USERNAME: &str = "zq9shredme";
const DISPLAY_NAME: &str = "삭제될이름";
const STATUS: &str = "삭제될상태 zq9status";

/// A `nats-server` of this test's own, stopped (by its handle) on drop.
struct PrivateNats {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl PrivateNats {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("cotalk-shred-nats-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = [
            "/usr/sbin/nats-server",
            "/usr/local/bin/nats-server",
            "nats-server",
        ]
        .into_iter()
        .find(|b| !b.starts_with('/') || Path::new(b).exists())
        .unwrap();
        let child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", "-1", "-js", "-sd"])
            .arg(&dir)
            .arg("--ports_file_dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let ports = dir.join(format!("nats-server_{}.ports", child.id()));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let url = loop {
            if let Ok(text) = std::fs::read_to_string(&ports) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                    if let Some(url) = v["nats"][0].as_str() {
                        break url.to_owned();
                    }
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Self { child, dir, url }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every form a string may take in a dump: UTF-8, JSON escapes of its
/// non-ASCII characters (lower and upper case hex), hex of its UTF-8 bytes.
fn forms(s: &str) -> Vec<(String, Vec<u8>)> {
    let escaped = |upper: bool| {
        s.chars()
            .map(|c| match (c.is_ascii(), upper) {
                (true, _) => c.to_string(),
                (false, false) => format!("\\u{:04x}", c as u32),
                (false, true) => format!("\\u{:04X}", c as u32),
            })
            .collect::<String>()
    };
    vec![
        (format!("{s} (utf-8)"), s.as_bytes().to_vec()),
        (format!("{s} (\\u escapes)"), escaped(false).into_bytes()),
        (format!("{s} (\\U escapes)"), escaped(true).into_bytes()),
        (format!("{s} (hex)"), hex::encode(s.as_bytes()).into_bytes()),
    ]
}

/// Which forms of the personal strings `haystack` holds.
fn found(haystack: &[u8]) -> Vec<String> {
    [USERNAME, DISPLAY_NAME, STATUS]
        .iter()
        .flat_map(|s| forms(s))
        .filter(|(_, needle)| {
            haystack
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
        })
        .map(|(label, _)| label)
        .collect()
}

fn pg_dump(url: &str) -> Vec<u8> {
    let bin = ["/usr/lib/postgresql/15/bin/pg_dump", "pg_dump"]
        .into_iter()
        .find(|b| !b.starts_with('/') || Path::new(b).exists())
        .unwrap();
    let out = Command::new(bin)
        .arg("--dbname")
        .arg(url)
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every key of the namespace and its value, read by type.
async fn redis_bytes(env: &TestEnv) -> Vec<u8> {
    let client = redis::Client::open(env.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{}*", env.namespace))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert!(!keys.is_empty());
    let mut all = Vec::new();
    for k in keys {
        let t: String = redis::cmd("TYPE")
            .arg(&k)
            .query_async(&mut conn)
            .await
            .unwrap();
        let mut cmd = match t.as_str() {
            "hash" => redis::cmd("HGETALL"),
            "zset" => redis::cmd("ZRANGE"),
            "set" => redis::cmd("SMEMBERS"),
            "list" => redis::cmd("LRANGE"),
            "stream" => redis::cmd("XRANGE"),
            _ => redis::cmd("GET"),
        };
        cmd.arg(&k);
        match t.as_str() {
            "zset" => cmd.arg(0).arg(-1).arg("WITHSCORES"),
            "list" => cmd.arg(0).arg(-1),
            "stream" => cmd.arg("-").arg("+"),
            _ => &mut cmd,
        };
        let v: redis::Value = cmd.query_async(&mut conn).await.unwrap();
        all.extend(k.as_bytes());
        all.extend(format!("{v:?}").as_bytes());
        flatten(&v, &mut all);
    }
    all
}

fn flatten(v: &redis::Value, out: &mut Vec<u8>) {
    match v {
        redis::Value::BulkString(b) => out.extend(b),
        redis::Value::SimpleString(s) => out.extend(s.as_bytes()),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            items.iter().for_each(|i| flatten(i, out))
        }
        redis::Value::Map(pairs) => pairs.iter().for_each(|(a, b)| {
            flatten(a, out);
            flatten(b, out);
        }),
        _ => {}
    }
}

/// The bytes of every file under `dir`.
fn files(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return all;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            all.extend(files(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            all.extend(bytes);
        }
    }
    all
}

/// Scan every place; the forms found, per place.
async fn scan(s: &Server, nats: &PrivateNats) -> Vec<(&'static str, Vec<String>)> {
    let stream = files(&nats.dir.join("jetstream"));
    assert!(!stream.is_empty(), "the JetStream store holds the stream");
    vec![
        (
            "pg_dump of the event log",
            found(&pg_dump(&s.env.database_url)),
        ),
        (
            "pg_dump of the read database",
            found(&pg_dump(&s.env.read_database_url)),
        ),
        ("redis", found(&redis_bytes(&s.env).await)),
        (
            "data directory (search indexes)",
            found(&files(&s.config.data_dir)),
        ),
        ("jetstream files", found(&stream)),
    ]
}

fn assert_clean(places: &[(&str, Vec<String>)]) {
    let dirty: Vec<_> = places.iter().filter(|(_, f)| !f.is_empty()).collect();
    assert!(dirty.is_empty(), "personal data left: {dirty:?}");
}

#[tokio::test]
async fn nothing_personal_is_left_anywhere_after_deletion_and_a_replay() {
    let nats = PrivateNats::start();
    let mut env = TestEnv::new().await;
    env.nats_url = nats.url.clone();
    let s = start_args(env, serve_args(cotalk::config::Role::All), None).await;
    let leaver = s
        .api
        .sign_up(USERNAME, DISPLAY_NAME, "password-1")
        .await
        .unwrap();
    let friend = s.user("shred_friend").await;
    s.as_user(&leaver)
        .update_me(&UpdateMeRequest {
            display_name: None,
            status_message: Some(STATUS.into()),
            show_presence: None,
        })
        .await
        .unwrap();
    let room = s.room(&leaver, "흔적 방", &[&friend]).await.room_id;
    s.post(&leaver, room, "첫 글").await;
    let last = s.post(&leaver, room, "둘째 글").await;

    // Before: the profile shows the names (the scan sees them where they
    // are), and the log never held them in the clear.
    let reader = s.as_user(&friend).at(last.position);
    assert_eq!(
        reader.user(leaver.id).await.unwrap().display_name,
        DISPLAY_NAME
    );
    let before = scan(&s, &nats).await;
    assert!(
        !before[2].1.is_empty(),
        "the scan finds the profile: {before:?}"
    );
    assert!(before[0].1.is_empty(), "plain text in the log: {before:?}");
    assert!(before[4].1.is_empty(), "plain text on the bus: {before:?}");

    let deleted = s.as_user(&leaver).delete_me("password-1").await.unwrap();
    let page = reader
        .at(deleted.position)
        .messages(room, &[])
        .await
        .unwrap();
    assert!(page
        .messages
        .iter()
        .all(|m| m.deleted_user && m.author_id == leaver.id.0));
    wait_for_the_bus(&s, deleted.position).await;
    assert_clean(&scan(&s, &nats).await);

    // Rebuilt from the log: the same, and the same answers.
    let out = Command::new(env!("CARGO_BIN_EXE_cotalk"))
        .args(["projections", "replay", "all", "--handover-timeout", "60"])
        .envs(support::child_env(&s.config))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run the replay");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let profile = reader.at(deleted.position).user(leaver.id).await.unwrap();
    assert!(profile.deleted_user && profile.username.is_empty());
    let page = reader
        .at(deleted.position)
        .messages(room, &[])
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 2);
    assert!(page.messages.iter().all(|m| m.deleted_user));
    assert_clean(&scan(&s, &nats).await);
}

/// Wait until the relay has put the deletion on the bus (the stream's last
/// message ends at or past `position`), so the scan sees every event.
async fn wait_for_the_bus(s: &Server, position: i64) {
    let client = async_nats::connect(&s.env.nats_url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let name = format!("{}-events", s.env.namespace);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut stream) = js.get_stream(&name).await {
            if let Ok(info) = stream.info().await {
                let last = info.state.last_sequence;
                if let Ok(m) = stream.get_raw_message(last).await {
                    let end = m
                        .headers
                        .get("Cotalk-Position")
                        .and_then(|v| v.as_str().parse::<i64>().ok());
                    if end.is_some_and(|end| end >= position) {
                        return;
                    }
                }
            }
        }
        assert!(Instant::now() < deadline, "the relay did not publish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
