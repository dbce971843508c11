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
