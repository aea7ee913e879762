//! Child processes the fault tests start and kill: `cotalk serve` for one
//! role, a private `nats-server` and a private `redis-server`. Every child is
//! owned by a guard that kills it (SIGKILL) and reaps it when dropped, so a
//! failing test leaves nothing running. All of them listen on loopback only,
//! on ports found free by binding `127.0.0.1:0`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a child may take to come up or to stop.
const STARTUP: Duration = Duration::from_secs(60);
const SHUTDOWN: Duration = Duration::from_secs(30);

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

/// A directory removed on drop, kept (and named) when the test failed or
/// `COTALK_FAULTS_KEEP` is set, so its logs can be read.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "cotalk-faults-{tag}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path).expect("create the scratch directory");
        Self { path }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("COTALK_FAULTS_KEEP").is_some() {
            eprintln!("fault test logs kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The last lines of a log file (for failure messages).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One child process, killed and reaped on drop.
pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    /// Start `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the child's log");
        let err = out.try_clone().expect("clone the log handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Self {
            name: name.to_owned(),
            log: log.to_owned(),
            child: Some(child),
        }
    }

    /// Its OS process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Panic (with the log's tail) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(c) = self.child.as_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                panic!(
                    "{} exited ({status}); log {}:\n{}",
                    self.name,
                    self.log.display(),
                    tail(&self.log, 40)
                );
            }
        }
    }

    /// SIGTERM, then wait (bounded) for a clean exit.
    pub async fn terminate(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + SHUTDOWN;
        loop {
            match c.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                _ => {
                    let _ = c.kill();
                    let _ = c.wait();
                    panic!(
                        "{} did not stop within {SHUTDOWN:?} of SIGTERM; log {}:\n{}",
                        self.name,
                        self.log.display(),
                        tail(&self.log, 40)
                    );
                }
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Wait until something accepts TCP connections on `port`.
async fn wait_listening(proc: &mut Proc, port: u16) {
    let deadline = Instant::now() + STARTUP;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        proc.assert_running();
        assert!(
            Instant::now() < deadline,
            "{} not listening on {port} after {STARTUP:?}",
            proc.name
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A private server process on its own loopback port, which a test stops
/// (`kill -9`) and starts again in place, with the same arguments.
pub struct Daemon {
    pub port: u16,
    name: &'static str,
    program: String,
    args: Vec<std::ffi::OsString>,
    logs: PathBuf,
    starts: usize,
    proc: Option<Proc>,
}

impl Daemon {
    async fn start(
        name: &'static str,
        program: &str,
        port: u16,
        args: Vec<std::ffi::OsString>,
        logs: &Path,
    ) -> Self {
        let mut d = Self {
            port,
            name,
            program: program.to_owned(),
            args,
            logs: logs.to_owned(),
            starts: 0,
            proc: None,
        };
        d.spawn().await;
        d
    }

    async fn spawn(&mut self) {
        self.starts += 1;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        let log = self.logs.join(format!("{}-{}.log", self.name, self.starts));
        let mut proc = Proc::spawn(self.name, cmd, &log);
        wait_listening(&mut proc, self.port).await;
        self.proc = Some(proc);
    }

    /// `kill -9`, then start again after `down_for`.
    pub async fn restart(&mut self, down_for: Duration) {
        self.stop();
        tokio::time::sleep(down_for).await;
        self.spawn().await;
    }

    /// `kill -9`; [`Daemon::start_again`] brings it back.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    /// Start again on the same port after [`Daemon::stop`].
    pub async fn start_again(&mut self) {
        if self.proc.is_none() {
            self.spawn().await;
        }
    }
}

/// A private JetStream server (its own port and store directory, kept
/// across restarts), so that restarting it disturbs no other test.
pub struct NatsServer(Daemon);

impl NatsServer {
    pub async fn start(dir: &Path) -> Self {
        let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("nats-server");
        let port = free_port();
        let args = ["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"]
            .into_iter()
            .map(Into::into)
            .chain([dir.join("nats-store").into_os_string()])
            .collect();
        Self(Daemon::start("nats", bin, port, args, dir).await)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.0.port)
    }
}

/// A private Redis without persistence: a restart empties it.
pub struct RedisServer(Daemon);

impl RedisServer {
    pub async fn start(dir: &Path) -> Self {
        let port = free_port();
        let args = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
        ]
        .into_iter()
        .map(Into::into)
        .chain([dir.as_os_str().to_owned()])
        .collect();
        Self(Daemon::start("redis", "redis-server", port, args, dir).await)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.0.port)
    }
}

impl std::ops::Deref for NatsServer {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.0
    }
}

impl std::ops::DerefMut for NatsServer {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.0
    }
}

impl std::ops::Deref for RedisServer {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.0
    }
}

impl std::ops::DerefMut for RedisServer {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.0
    }
}

/// `cotalk serve --role ROLE` as a child process, restartable.
pub struct Cotalk {
    pub role: &'static str,
    pub port: u16,
    env: Vec<(String, String)>,
    logs: PathBuf,
    starts: usize,
    proc: Option<Proc>,
}

impl Cotalk {
    /// Start and wait until `/healthz` answers (the role's tasks are then running).
    pub async fn start(role: &'static str, env: Vec<(String, String)>, logs: &Path) -> Self {
        let mut c = Self {
            role,
            port: 0,
            env,
            logs: logs.to_owned(),
            starts: 0,
            proc: None,
        };
        c.spawn().await;
        c
    }

    async fn spawn(&mut self) {
        self.starts += 1;
        self.port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cotalk"));
        cmd.arg("serve")
            .env_remove("COTALK_READ_REPLICA_URL")
            .env("COTALK_ROLE", self.role)
            .env("COTALK_LISTEN", format!("127.0.0.1:{}", self.port))
            .env(
                "RUST_LOG",
                std::env::var("COTALK_FAULTS_LOG").unwrap_or_else(|_| "info".into()),
            );
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let log = self.logs.join(format!("{}-{}.log", self.role, self.starts));
        let mut proc = Proc::spawn(&format!("cotalk {}", self.role), cmd, &log);
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        let deadline = Instant::now() + STARTUP;
        loop {
            let ok = http
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            proc.assert_running();
            assert!(
                Instant::now() < deadline,
                "{} not healthy after {STARTUP:?}; log {}:\n{}",
                proc.name,
                log.display(),
                tail(&log, 40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.proc = Some(proc);
    }

    /// `kill -9` (no chance to flush or ack anything), then start afresh.
    pub async fn kill9_and_restart(&mut self) {
        self.kill9();
        self.spawn().await;
    }

    /// `kill -9`; [`Cotalk::start_again`] brings it back.
    pub fn kill9(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    /// Start again after [`Cotalk::kill9`] (on a new port).
    pub async fn start_again(&mut self) {
        if self.proc.is_none() {
            self.spawn().await;
        }
    }

    /// Its OS process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().and_then(Proc::pid)
    }

    /// Where it serves HTTP (the port changes with every start).
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stop cleanly (SIGTERM), bounded.
    pub async fn terminate(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate().await;
        }
    }

    /// Panic with the log if the process died on its own.
    pub fn assert_running(&mut self) {
        if let Some(p) = self.proc.as_mut() {
            p.assert_running();
        }
    }

    /// A gauge from `/metrics` (`name{labels} value`), if present.
    pub async fn gauge(&self, name: &str, label: &str) -> Option<f64> {
        let base = format!("http://127.0.0.1:{}", self.port);
        gauge(&base, crate::support::ADMIN_TOKEN, name, label).await
    }
}

/// A metric of the node at `base` (`/metrics`, with the admin `token`),
/// the first series named `name` whose labels contain `label`.
pub async fn gauge(base: &str, token: &str, name: &str, label: &str) -> Option<f64> {
    let text = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}
