//! Load generators for Vetrina's benchmarks. They run as a process of their own, so what they
//! measure is the server as clients see it.

pub mod flash;
pub mod floor;
pub mod light_ws;
pub mod peer;
pub mod room;
pub mod timeline;
pub mod whep;

/// A process's resident memory, from `/proc/<pid>/status`.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// CPU time a process has used so far (user + system), from `/proc/<pid>/stat` ("self" for
/// this one), in milliseconds (Linux counts it in ticks of 10 ms).
pub fn cpu_ms(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: the fields start after its closing parenthesis.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) * 10)
}

/// The value at fraction `p` (0 to 1) of a sorted list.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    (!sorted.is_empty()).then(|| sorted[((sorted.len() as f64 - 1.0) * p).round() as usize])
}
