//! The bench's side of its client workers ([`super::conn_client`]): start
//! them as child processes of this binary, send their orders, read their
//! reports, and kill them (only them) when done.

use super::conn_client::{Order, Report, MARK};
use anyhow::{bail, Context, Result};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// One worker process.
pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    /// Start `cotalk bench connections-client`.
    pub fn start() -> Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["bench", "connections-client"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("start a client worker")?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("a client worker without pipes");
        };
        Ok(Self {
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
        })
    }

    /// Send one order.
    pub async fn order(&mut self, order: &Order) -> Result<()> {
        let line = format!("{}\n", serde_json::to_string(order)?);
        self.stdin.write_all(line.as_bytes()).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// The next report, within `limit`.
    pub async fn report(&mut self, limit: Duration) -> Result<Report> {
        let next = async {
            while let Some(line) = self.stdout.next_line().await? {
                if let Some(json) = line.strip_prefix(MARK) {
                    return Ok(serde_json::from_str(json)?);
                }
            }
            bail!("a client worker ended early")
        };
        tokio::time::timeout(limit, next)
            .await
            .context("a client worker did not report in time")?
    }

    /// Tell the worker to stop and wait for it (briefly; then kill it).
    pub async fn stop(mut self) {
        let _ = self.order(&Order::Stop).await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Send each worker its order and collect one report from each, in order.
pub async fn all(
    workers: &mut [Worker],
    orders: Vec<Order>,
    limit: Duration,
) -> Result<Vec<Report>> {
    for (w, order) in workers.iter_mut().zip(orders) {
        w.order(&order).await?;
    }
    let mut reports = Vec::with_capacity(workers.len());
    for w in workers.iter_mut() {
        reports.push(w.report(limit).await?);
    }
    Ok(reports)
}
