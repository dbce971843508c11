//! Helpers shared by the benchmark binaries (`theater-bench`, `theater-soak`).

/// Resident set size of this process, in KiB (Linux: `/proc/self/statm`).
pub fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// CPU time (user + system, µs) used so far by the process `pid` (Linux: `/proc/PID/stat`, in
/// clock ticks of 10 ms).
fn cpu_us_of(stat: &str) -> Option<u64> {
    // The command name is in parentheses and may hold spaces: the fields start after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000)
}

/// CPU time (µs) used so far by this process.
pub fn self_cpu_us() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| cpu_us_of(&s))
        .unwrap_or(0)
}

/// CPU time (µs) used so far by every `postgres` process on this machine (the server and its
/// backends): what a local PostgreSQL server costs, next to [`self_cpu_us`].
pub fn postgres_cpu_us() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|s| s.contains("(postgres)"))
        .filter_map(|s| cpu_us_of(&s))
        .sum()
}
