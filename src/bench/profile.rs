//! cotalk's own CPU by stage, from a profile: `perf record` samples the
//! server process (every thread, on-CPU time, `cpu-clock` so it works without
//! hardware counters in a VM) during a step, with DWARF call stacks because
//! release builds keep no frame pointers; `perf script` prints the stacks and
//! each sample goes to one stage by the first frame, from the leaf up, that
//! names one of cotalk's parts ([`STAGES`]).
//!
//! It is an attribution by code, not by request: a sample in `sqlx` called
//! from the event store counts as *append*, one in `serde_json` called from
//! a query handler as *queries*. Samples with no recognisable frame (the
//! runtime's scheduler and IO driver, allocator calls whose stack could not
//! be unwound) stay *runtime/other*. Shares are of sampled on-CPU time;
//! multiplied by the server's measured CPU per post they give µs per post.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

/// Stage of a frame by the prefix of its (demangled) symbol, most specific
/// first. `None`: the frame is the domain's pure code, which the command side
/// (decision) and the projections both call, so the caller further up decides.
pub const STAGES: &[(&str, Option<&str>)] = &[
    ("query::stream", Some("fan-out")),
    ("tokio_tungstenite::", Some("fan-out")),
    ("tungstenite::", Some("fan-out")),
    ("projector::relay", Some("relay")),
    ("projector::history_projection", Some("projection: history")),
    ("projector::redis_projection", Some("projection: redis")),
    ("projector::search_projection", Some("projection: search")),
    ("search::", Some("projection: search")),
    ("tantivy", Some("projection: search")),
    ("projector::", Some("projection: other")),
    ("readmodel::", Some("projection: other")),
    ("command::store", Some("append")),
    ("eventlog::", Some("append")),
    ("command::", Some("decision")),
    ("domain::", None),
    ("query::", Some("queries")),
    ("api::", Some("HTTP")),
    ("hyper::", Some("HTTP")),
    ("hyper_util::", Some("HTTP")),
    ("axum::", Some("HTTP")),
    ("tower_http::", Some("HTTP")),
    ("tower::", Some("HTTP")),
];

/// The bucket of a sample nothing names.
const OTHER: &str = "runtime/other";

/// The stage of one sample's stack, frames from the leaf to the root.
pub fn stage_of<'a>(frames: impl IntoIterator<Item = &'a str>) -> &'static str {
    let mut domain = false;
    for frame in frames {
        // `<command::store::Writer as core::future::Future>::poll` belongs
        // to the type's crate.
        let name = frame.trim_start_matches(['<', '&', '*']);
        let name = name.strip_prefix("mut ").unwrap_or(name);
        let name = name.strip_prefix("dyn ").unwrap_or(name);
        match STAGES.iter().find(|(p, _)| name.starts_with(p)) {
            Some((_, Some(stage))) => return stage,
            Some((_, None)) => domain = true,
            None => {}
        }
    }
    if domain {
        "decision"
    } else {
        OTHER
    }
}

/// Samples per stage in `perf script -F ip,sym` output (blocks of indented
/// `address symbol` lines separated by blank lines).
pub fn buckets(script: &str) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    let mut frames: Vec<&str> = Vec::new();
    let mut flush = |frames: &mut Vec<&str>| {
        if !frames.is_empty() {
            *out.entry(stage_of(frames.iter().copied())).or_insert(0) += 1;
            frames.clear();
        }
    };
    for line in script.lines() {
        if line.trim().is_empty() {
            flush(&mut frames);
        } else if line.starts_with([' ', '\t']) {
            let sym = line.trim().split_once(' ').map_or("", |(_, s)| s.trim());
            frames.push(sym);
        } else {
            // A new sample's header line.
            flush(&mut frames);
        }
    }
    flush(&mut frames);
    out
}

/// Whether `perf record` can sample here: a short recording of `sleep`
/// must hold at least one sample.
pub async fn check() -> Result<()> {
    let data = data_path("check");
    let rec = tokio::process::Command::new("perf")
        .args(["record", "-q", "-e", "cpu-clock", "-F", "999", "-o"])
        .arg(&data)
        .args([
            "--",
            "sh",
            "-c",
            "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .context("perf is not installed")?;
    let script = script(&data).await;
    let _ = std::fs::remove_file(&data);
    if !rec.status.success() {
        bail!(
            "perf record failed: {}",
            String::from_utf8_lossy(&rec.stderr).trim()
        );
    }
    if script?.trim().is_empty() {
        bail!("perf record took no samples");
    }
    Ok(())
}

/// `--profile`: whether to profile, after checking once that perf can
/// sample here (the reason is printed when it cannot).
pub async fn usable(wanted: bool) -> bool {
    if !wanted {
        return false;
    }
    match check().await {
        Ok(()) => true,
        Err(e) => {
            println!("  profile: skipped, perf cannot sample here: {e:#}");
            false
        }
    }
}

/// Stop `recording` (if any) and attribute it; errors become `{"error": …}`.
pub async fn finish(recording: Option<Recording>, cpu_us_per_post: f64) -> Value {
    match recording {
        None => Value::Null,
        Some(r) => r
            .finish(cpu_us_per_post)
            .await
            .unwrap_or_else(|e| json!({ "error": format!("{e:#}") })),
    }
}

/// A `perf record` of one process, running.
pub struct Recording {
    child: tokio::process::Child,
    data: PathBuf,
}

impl Recording {
    /// Start sampling `pid` (all its threads).
    pub fn start(pid: u32, label: &str) -> Result<Self> {
        let data = data_path(label);
        let child = tokio::process::Command::new("perf")
            .args(["record", "-q", "-e", "cpu-clock", "-F", "499"])
            .args(["--call-graph", "dwarf,16384", "-p"])
            .arg(pid.to_string())
            .arg("-o")
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start perf record")?;
        Ok(Self { child, data })
    }

    /// Stop the recording and attribute its samples to stages; `cpu_us_per_post`
    /// (the server's, from `/proc`) turns shares into µs per post.
    pub async fn finish(mut self, cpu_us_per_post: f64) -> Result<Value> {
        // perf writes its file on SIGINT; it is this process's own child.
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
            }
        }
        let _ = self.child.wait().await;
        let script = script(&self.data).await;
        let _ = std::fs::remove_file(&self.data);
        let buckets = buckets(&script?);
        let total: u64 = buckets.values().sum();
        if total == 0 {
            bail!("perf recorded no samples");
        }
        let stages: Vec<Value> = buckets
            .iter()
            .map(|(stage, n)| {
                let share = *n as f64 / total as f64;
                json!({ "stage": stage, "samples": n, "share": share, "us_per_post": share * cpu_us_per_post })
            })
            .collect();
        Ok(json!({ "samples": total, "stages": stages }))
    }
}

fn data_path(label: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "cotalk-bench-perf-{label}-{}.data",
        std::process::id()
    ))
}

/// The recorded stacks as text, symbols only, inlined frames not expanded
/// (expanding them takes minutes on a DWARF recording).
async fn script(data: &std::path::Path) -> Result<String> {
    let out = tokio::process::Command::new("perf")
        .args(["script", "--no-inline", "-F", "ip,sym", "-i"])
        .arg(data)
        .stderr(Stdio::null())
        .output()
        .await
        .context("run perf script")?;
    if !out.status.success() {
        bail!("perf script failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Print one step's stage breakdown.
pub fn print(label: &str, profile: &Value) {
    let Some(stages) = profile["stages"].as_array() else {
        return;
    };
    let parts: Vec<String> = stages
        .iter()
        .map(|s| {
            format!(
                "{} {:.0}% ({} µs)",
                s["stage"].as_str().unwrap_or("?"),
                100.0 * s["share"].as_f64().unwrap_or(0.0),
                super::report::num(s["us_per_post"].as_f64().unwrap_or(0.0))
            )
        })
        .collect();
    println!(
        "  profile {label} ({} samples): {}",
        profile["samples"],
        parts.join(", ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_goes_to_the_innermost_named_part() {
        let append = [
            "__memmove_avx_unaligned_erms",
            "sqlx_postgres::connection::executor::run",
            "command::store::writer::Writer::flush::{{closure}}",
            "command::routes::post_message::{{closure}}",
            "hyper::proto::h1::dispatch::Dispatcher::poll_loop",
        ];
        assert_eq!(stage_of(append), "append");
        let decision = [
            "domain::room::decide",
            "command::runner::Runner::run::{{closure}}",
            "axum::routing::Router::call",
        ];
        assert_eq!(stage_of(decision), "decision");
        let projection = [
            "domain::room::evolve",
            "<projector::redis_projection::RedisProjection as projector::Projection>::apply::{{closure}}",
        ];
        assert_eq!(stage_of(projection), "projection: redis");
        assert_eq!(stage_of(["domain::views::x"]), "decision");
        let fan_out = [
            "<tokio_tungstenite::WebSocketStream<S> as futures_sink::Sink>::poll_flush",
            "query::stream::socket::run::{{closure}}",
        ];
        assert_eq!(stage_of(fan_out), "fan-out");
        assert_eq!(stage_of(["hyper::proto::h1::role::parse_headers"]), "HTTP");
        assert_eq!(stage_of(["<&mut projector::relay::Relay>::tick"]), "relay");
        assert_eq!(
            stage_of(["epoll_wait", "tokio::runtime::io::driver::Driver::turn"]),
            OTHER
        );
        assert_eq!(stage_of([]), OTHER);
    }

    #[test]
    fn perf_script_blocks_are_counted_once_each() {
        let script = "
\t    55d0c0 tantivy::indexer::segment_writer::SegmentWriter::add_document
\t    55d0c1 projector::search_projection::SearchProjection::apply

\t    71aa00 [unknown]
\t    71aa01 __libc_start_main

\t    81bb00 hyper::proto::h1::io::Buffered::poll_read
";
        let b = buckets(script);
        assert_eq!(b.get("projection: search"), Some(&1));
        assert_eq!(b.get(OTHER), Some(&1));
        assert_eq!(b.get("HTTP"), Some(&1));
        assert_eq!(b.values().sum::<u64>(), 3);
    }
}
