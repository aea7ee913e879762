//! `/proc/<pid>/stat` read carefully, and a snapshot of every process's CPU
//! time: the raw material of the benches' CPU-per-post figures.
//!
//! The process name (`comm`, field 2) is chosen by the process and may
//! contain spaces and parentheses (`(a) b)`), so fields are split only after
//! the *last* `)` of the line; the fields before it are the pid and the name.

use std::collections::HashMap;

/// What one `/proc/<pid>/stat` line says about a process's CPU time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// Process id (field 1).
    pub pid: u32,
    /// Executable name as the kernel keeps it, at most 15 bytes (field 2).
    pub comm: String,
    /// Parent process id (field 4).
    pub ppid: u32,
    /// Time in user mode of all the process's threads, in clock ticks (field 14).
    pub utime: u64,
    /// Time in kernel mode of all the process's threads, in clock ticks (field 15).
    pub stime: u64,
    /// Time of waited-for children in user mode, in clock ticks (field 16).
    pub cutime: u64,
    /// Time of waited-for children in kernel mode, in clock ticks (field 17).
    pub cstime: u64,
    /// Start time after boot in clock ticks (field 22): with the pid, it
    /// tells a process from a later one that reuses its pid.
    pub starttime: u64,
}

impl ProcStat {
    /// User plus system time of every thread of the process, in clock ticks.
    /// Waited-for children's time (`cutime`, `cstime`) is left out on purpose:
    /// a server's reaped children may be other clients' work (Postgres
    /// backends of other databases).
    pub fn ticks(&self) -> u64 {
        self.utime + self.stime
    }
}

/// A `/proc/<pid>/stat` line that does not have the documented shape.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatError {
    /// No `(` before the name or no `)` after it.
    #[error("no parenthesised process name")]
    NoName,
    /// A field is missing after the name.
    #[error("missing field {0}")]
    Missing(usize),
    /// A numeric field is not a number.
    #[error("field {0} is not a number")]
    NotNumber(usize),
}

/// Parse one `/proc/<pid>/stat` line (`man 5 proc`).
pub fn parse_stat(line: &str) -> Result<ProcStat, StatError> {
    let open = line.find('(').ok_or(StatError::NoName)?;
    let close = line.rfind(')').ok_or(StatError::NoName)?;
    if close < open {
        return Err(StatError::NoName);
    }
    let pid = line[..open]
        .trim()
        .parse()
        .map_err(|_| StatError::NotNumber(1))?;
    let comm = line[open + 1..close].to_owned();
    // Field 3 (state) is the first after the name.
    let rest: Vec<&str> = line[close + 1..].split_whitespace().collect();
    let field = |n: usize| -> Result<u64, StatError> {
        rest.get(n - 3)
            .ok_or(StatError::Missing(n))?
            .parse()
            .map_err(|_| StatError::NotNumber(n))
    };
    Ok(ProcStat {
        pid,
        comm,
        ppid: u32::try_from(field(4)?).map_err(|_| StatError::NotNumber(4))?,
        utime: field(14)?,
        stime: field(15)?,
        cutime: field(16)?,
        cstime: field(17)?,
        starttime: field(22)?,
    })
}

/// Clock ticks per second of `/proc`'s time fields (`sysconf(_SC_CLK_TCK)`).
pub fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

/// Every readable process's stat at one moment, by pid.
#[derive(Debug, Default, Clone)]
pub struct ProcTable {
    /// The processes by pid.
    pub by_pid: HashMap<u32, ProcStat>,
}

impl ProcTable {
    /// Read `/proc/*/stat`. Processes that exit while it is read, or whose
    /// line does not parse, are left out. Blocking: a few milliseconds.
    pub fn read() -> Self {
        let mut by_pid = HashMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let name = entry.file_name();
                let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                if let Some(stat) = read_stat(pid) {
                    by_pid.insert(pid, stat);
                }
            }
        }
        Self { by_pid }
    }

    /// `root` and every process descending from it.
    pub fn tree(&self, root: u32) -> Vec<u32> {
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for s in self.by_pid.values() {
            children.entry(s.ppid).or_default().push(s.pid);
        }
        let mut out = Vec::new();
        let mut todo = vec![root];
        while let Some(pid) = todo.pop() {
            if self.by_pid.contains_key(&pid) {
                out.push(pid);
                todo.extend(children.get(&pid).into_iter().flatten());
            }
        }
        out
    }
}

/// One process's stat, if it exists and parses.
pub fn read_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(text.trim_end()).ok()
}

/// A process's resident memory in KiB: `Rss` of `/proc/<pid>/smaps_rollup`
/// (every mapping, counted once), else `VmRSS` of `/proc/<pid>/status`.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let field = |file: &str, name: &str| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
    };
    field("smaps_rollup", "Rss:").or_else(|| field("status", "VmRSS:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line as the kernel writes it, with `comm` in place.
    fn line(comm: &str) -> String {
        format!(
            "4242 ({comm}) S 17 4242 4242 0 -1 4194560 3000 0 5 0 1234 567 8 9 20 0 12 0 98765 1000000 500 18446744073709551615 1 1 0 0 0 0 0 4096 1 0 0 0 17 1 0 0 0 0 0"
        )
    }

    #[test]
    fn reads_the_time_fields() {
        let s = parse_stat(&line("postgres")).unwrap();
        assert_eq!(
            s,
            ProcStat {
                pid: 4242,
                comm: "postgres".into(),
                ppid: 17,
                utime: 1234,
                stime: 567,
                cutime: 8,
                cstime: 9,
                starttime: 98765,
            }
        );
        assert_eq!(s.ticks(), 1801);
    }

    #[test]
    fn a_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        for comm in ["tokio-runtime w", "a) b (c", ") 1 2 3 (", "x)"] {
            let s = parse_stat(&line(comm)).unwrap();
            assert_eq!(s.comm, comm);
            assert_eq!(
                (s.ppid, s.utime, s.stime, s.starttime),
                (17, 1234, 567, 98765)
            );
        }
    }

    #[test]
    fn a_malformed_line_is_an_error() {
        assert_eq!(parse_stat("4242 postgres S 1"), Err(StatError::NoName));
        assert_eq!(parse_stat("4242 (sh) S 1 2 3"), Err(StatError::Missing(14)));
        assert_eq!(
            parse_stat(&line("sh").replace(" 1234 ", " x ")),
            Err(StatError::NotNumber(14))
        );
        assert_eq!(parse_stat("x (sh) S"), Err(StatError::NotNumber(1)));
    }

    #[test]
    fn this_process_is_in_the_table_with_its_parent() {
        let table = ProcTable::read();
        let me = std::process::id();
        let stat = table.by_pid.get(&me).expect("this process is listed");
        assert!(table.tree(stat.ppid).contains(&me));
        assert_eq!(table.tree(me)[0], me);
        assert!(ticks_per_second() >= 1);
    }

    #[test]
    fn this_process_has_resident_memory() {
        assert!(rss_kib(std::process::id()).is_some_and(|kib| kib > 0));
        assert_eq!(rss_kib(u32::MAX), None);
    }
}
