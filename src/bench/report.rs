//! Bench output: aligned tables on stdout, and JSON files with the machine
//! description, git revision and parameters beside every figure.

use anyhow::Result;
use serde_json::{json, Value};
use std::path::PathBuf;

/// A table with a title, printed aligned.
pub struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A new table with column names.
    pub fn new(title: &str, header: &[&str]) -> Self {
        Self {
            title: title.to_owned(),
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Add a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Print it.
    pub fn print(&self) {
        let cols = self.header.len();
        let mut width = vec![0; cols];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate().take(cols) {
                width[i] = width[i].max(cell.chars().count());
            }
        }
        println!("\n{}", self.title);
        let line = |row: &Vec<String>| {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{:<w$}", c, w = width[i]))
                .collect();
            println!("| {} |", cells.join(" | "));
        };
        line(&self.header);
        println!(
            "|{}|",
            width
                .iter()
                .map(|w| "-".repeat(w + 2))
                .collect::<Vec<_>>()
                .join("|")
        );
        for row in &self.rows {
            line(row);
        }
    }
}

/// `12345.6` → `"12 346"`-style figures are hard to grep; keep plain numbers.
pub fn num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// What machine and revision a result came from.
pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_default();
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let git = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": cpu,
        "memory_gib": (mem_kb as f64 / 1024.0 / 1024.0).round(),
        "os": std::env::consts::OS,
        "git_revision": git,
        "at": chrono::Utc::now().to_rfc3339(),
    })
}

/// Write `{out}/{part}-{timestamp}.json` and `{out}/{part}-latest.json`.
pub fn save(common: &super::Common, part: &str, result: &Value) -> Result<PathBuf> {
    std::fs::create_dir_all(&common.out)?;
    let doc =
        json!({ "part": part, "quick": common.quick, "machine": machine(), "result": result });
    let text = serde_json::to_string_pretty(&doc)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let path = common.out.join(format!("{part}-{stamp}.json"));
    std::fs::write(&path, &text)?;
    std::fs::write(common.out.join(format!("{part}-latest.json")), &text)?;
    println!("\nresults: {}", path.display());
    Ok(path)
}
