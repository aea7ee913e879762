//! `cotalk projections`: `status` (generation, checkpoint, lag and state of
//! every projection and of the relay) and `replay` (rebuild projections from
//! the log into a new generation, see [`projector::rebuild`]).
//!
//! Progress of a replay is a bar per projection (events done/total,
//! events/s, ETA) when stdout is a terminal, and a plain line every two
//! seconds otherwise (`progress redis g2: 12000/100000 events …`), so logs
//! and scripts can follow it. Ctrl-C or SIGTERM stops a replay resumably.

use crate::bench::report::Table;
use crate::config::Config;
use crate::serve::{lazy_pool, log_pool};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use projector::rebuild::{self, Progress, RebuildEvent, RebuildOptions};
use projector::status::{self, Status};
use projector::{ProjectionName, ProjectorConfig};
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// `cotalk projections` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Generation, checkpoint, lag and state of every projection and of the relay.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild a projection (or `all`) from the log into a new generation.
    Replay(ReplayArgs),
}

/// Options of `cotalk projections replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// `redis`, `history`, `search` or `all`.
    pub name: String,
    /// Zero-downtime: switch only once the new generation holds at least what
    /// the serving one does (readers never see a position go back).
    #[arg(long)]
    pub shadow: bool,
    /// Seconds to wait for a running projector to move over to the new
    /// generation and remove the old one before removing it here.
    #[arg(long, default_value_t = 30)]
    pub handover_timeout: u64,
    /// Positions per page read from the log.
    #[arg(long, default_value_t = 20_000)]
    pub page: i64,
    /// Pages read and decoded at once.
    #[arg(long, default_value_t = 2)]
    pub readers: usize,
    /// Search index writer threads.
    #[arg(long, default_value_t = 2)]
    pub search_threads: usize,
    /// Most events per Redis transaction (longer ones hold other Redis
    /// clients, the serving generation's readers among them, a little longer).
    #[arg(long, default_value_t = rebuild::ApplyPlan::default().redis_chunk)]
    pub redis_chunk: usize,
    /// Print the outcome as JSON on stdout (progress then goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// The projector configuration of a one-off command.
async fn projector_config(config: &Config, write_connections: u32) -> Result<ProjectorConfig> {
    Ok(ProjectorConfig::new(
        &config.namespace,
        log_pool(&config.database_url, write_connections)?,
        lazy_pool(&config.read_database_url, 4)?,
        &config.redis_url,
        &config.nats_url,
        &config.data_dir,
    )
    .with_pii(config.pii().context("load or create the master key")?))
}

/// Run a `projections` subcommand.
pub async fn run(config: &Config, command: ProjectionsCommand) -> Result<()> {
    match command {
        ProjectionsCommand::Status { json } => {
            let cfg = projector_config(config, 2).await?;
            let s = status::collect(&cfg).await;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print_status(&s);
            }
            Ok(())
        }
        ProjectionsCommand::Replay(args) => replay(config, &args).await,
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Who runs a leased task: its lease holder, `none`, or `-` when the task
/// is not leased (each query node runs its own `search`).
fn active_on(lease: Option<&status::LeaseStatus>) -> String {
    match lease {
        None => "-".into(),
        Some(l) => match (&l.holder, &l.reason) {
            (Some(holder), _) => holder.clone(),
            (None, Some(_)) => "unknown".into(),
            (None, None) => "none".into(),
        },
    }
}

fn print_status(s: &Status) {
    match &s.head {
        Some(h) => println!(
            "namespace {} · log head {} ({})",
            s.namespace,
            h.position,
            h.recorded_at.map_or_else(
                || "empty log".into(),
                |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
            )
        ),
        None => println!("namespace {} · log head unreadable", s.namespace),
    }
    let mut t = Table::new(
        "projections",
        &[
            "component",
            "generation",
            "checkpoint",
            "lag events",
            "lag s",
            "state",
            "active on",
            "store / reason",
        ],
    );
    let lag_cells = |lag: &Option<status::Lag>| match lag {
        Some(l) => (l.events.to_string(), format!("{:.1}", l.seconds)),
        None => ("-".into(), "-".into()),
    };
    let (le, ls) = lag_cells(&s.relay.lag);
    t.row(vec![
        projector::Task::Relay.label().into(),
        "-".into(),
        opt(s.relay.checkpoint),
        le,
        ls,
        s.relay.state.label().into(),
        active_on(Some(&s.relay.lease)),
        s.relay
            .reason
            .clone()
            .unwrap_or_else(|| "relay_checkpoints".into()),
    ]);
    for p in &s.projections {
        let (le, ls) = lag_cells(&p.lag);
        let state = match (&p.reason, p.state) {
            (Some(_), status::State::Failed) => "failed".to_owned(),
            (_, st) => st.label().to_owned(),
        };
        t.row(vec![
            p.name.as_str().into(),
            opt(p.generation),
            opt(p.checkpoint),
            le,
            ls,
            state,
            active_on(p.lease.as_ref()),
            p.reason.clone().unwrap_or_else(|| p.store.clone()),
        ]);
        if let Some(r) = &p.rebuild {
            let (le, ls) = lag_cells(&r.lag);
            let who = match &r.running {
                Some(h) => format!("replay running ({h})"),
                None => "no replay running: run it again to resume".into(),
            };
            t.row(vec![
                format!("  └ {} shadow", p.name),
                r.record.generation.to_string(),
                opt(r.checkpoint),
                le,
                ls,
                format!("{:?}", r.record.phase).to_lowercase(),
                "-".into(),
                who,
            ]);
        }
    }
    t.print();
}

/// Cancel `token` on Ctrl-C or SIGTERM.
fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
        eprintln!("stopping the replay (it resumes from its checkpoint when run again)");
        token.cancel();
    });
}

/// Shows progress as bars on a terminal, as lines otherwise.
enum Display {
    Bars {
        multi: MultiProgress,
        bars: Vec<ProgressBar>,
    },
    Lines {
        to_stderr: bool,
        /// When the display was made (the first line's rate counts from it).
        since: Instant,
        last: Option<(Instant, Vec<i64>)>,
    },
}

impl Display {
    fn new(json: bool) -> Self {
        if !json && std::io::stdout().is_terminal() {
            Self::Bars {
                multi: MultiProgress::new(),
                bars: Vec::new(),
            }
        } else {
            Self::Lines {
                to_stderr: json,
                since: Instant::now(),
                last: None,
            }
        }
    }

    fn note(&self, msg: &str) {
        match self {
            Self::Bars { multi, .. } => {
                let _ = multi.println(msg);
            }
            Self::Lines {
                to_stderr: true, ..
            } => eprintln!("{msg}"),
            Self::Lines { .. } => println!("{msg}"),
        }
    }

    fn progress(&mut self, p: &Progress) {
        let total = (p.head - p.start).max(0) as u64;
        match self {
            Self::Bars { multi, bars } => {
                if bars.is_empty() {
                    let style = ProgressStyle::with_template(
                        "{prefix:>12} [{bar:40.cyan/blue}] {pos}/{len} events  {per_sec}  eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
                    for pp in &p.projections {
                        let bar = multi.add(ProgressBar::new(total));
                        bar.set_style(style.clone());
                        bar.set_prefix(format!("{} g{}", pp.name, pp.generation));
                        bars.push(bar);
                    }
                }
                for (bar, pp) in bars.iter().zip(&p.projections) {
                    bar.set_length(total);
                    bar.set_position((pp.applied - p.start).max(0) as u64);
                }
            }
            Self::Lines {
                to_stderr,
                since: started,
                last,
            } => {
                let now = Instant::now();
                let applied: Vec<i64> = p.projections.iter().map(|pp| pp.applied).collect();
                let (since, before) = match last {
                    Some((at, _)) if at.elapsed() < Duration::from_secs(2) => return,
                    Some((at, before)) => (at.elapsed().as_secs_f64(), before.clone()),
                    None => (
                        started.elapsed().as_secs_f64(),
                        p.projections.iter().map(|pp| pp.from).collect(),
                    ),
                };
                if last.is_none() && applied.iter().all(|a| *a <= p.start) {
                    return;
                }
                for (pp, b) in p.projections.iter().zip(&before) {
                    let done = (pp.applied - p.start).max(0);
                    let rate = if since > 0.0 {
                        (pp.applied - b) as f64 / since
                    } else {
                        0.0
                    };
                    let eta = if rate > 0.0 {
                        format!("{:.0}s", (p.head - pp.applied).max(0) as f64 / rate)
                    } else {
                        "-".into()
                    };
                    let pct = if total > 0 {
                        100.0 * done as f64 / total as f64
                    } else {
                        100.0
                    };
                    let line = format!(
                        "progress {} g{}: {done}/{total} events ({pct:.1}%) {rate:.0} events/s eta {eta}",
                        pp.name, pp.generation
                    );
                    if *to_stderr {
                        eprintln!("{line}");
                    } else {
                        println!("{line}");
                    }
                }
                *last = Some((now, applied));
            }
        }
    }

    fn finish(&self) {
        if let Self::Bars { bars, .. } = self {
            for b in bars {
                b.finish();
            }
        }
    }
}

async fn replay(config: &Config, args: &ReplayArgs) -> Result<()> {
    // The one place a projection's name is parsed from the command line.
    let names: Vec<ProjectionName> = if args.name == "all" {
        ProjectionName::ALL.to_vec()
    } else {
        vec![args
            .name
            .parse::<ProjectionName>()
            .map_err(projector::ProjectorError::from)?]
    };
    let cfg = projector_config(config, args.readers as u32 + 4).await?;
    let opts = RebuildOptions {
        shadow: args.shadow,
        page: args.page,
        readers: args.readers,
        handover_timeout: Duration::from_secs(args.handover_timeout),
        apply: rebuild::ApplyPlan {
            search_threads: args.search_threads,
            redis_chunk: args.redis_chunk,
            ..Default::default()
        },
        ..Default::default()
    };
    let cancel = CancellationToken::new();
    cancel_on_signal(cancel.clone());
    let mut display = Display::new(args.json);
    let outcomes = rebuild::rebuild(
        &cfg,
        &names,
        &opts,
        |e| match e {
            RebuildEvent::Progress(p) => display.progress(&p),
            RebuildEvent::Note(n) => display.note(&n),
        },
        cancel,
    )
    .await;
    display.finish();
    // The error as is: "a replay of redis is already running (pid=…)" says it all.
    let outcomes = outcomes?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcomes)?);
        return Ok(());
    }
    let mut t = Table::new(
        "replay",
        &[
            "projection",
            "generation",
            "checkpoint",
            "events",
            "seconds",
            "events/s",
            "messages/s",
            "old generation",
        ],
    );
    for o in &outcomes {
        let rate = |n: u64| {
            if o.build_seconds > 0.0 {
                format!("{:.0}", n as f64 / o.build_seconds)
            } else {
                "-".into()
            }
        };
        t.row(vec![
            o.name.as_str().into(),
            format!("{} → {}", o.previous, o.generation),
            o.checkpoint.to_string(),
            o.events.to_string(),
            format!("{:.1}", o.build_seconds),
            rate(o.events),
            rate(o.messages),
            format!("{:?}", o.old_generation),
        ]);
    }
    t.print();
    Ok(())
}
