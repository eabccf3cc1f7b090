//! Every network wait has a deadline, all derived here from one setting
//! (`--timeout`): the longest wait for progress (connecting, the TLS
//! handshake, the first byte of an answer, each read and each write); a
//! deadline for a whole request (a server that drips its answer one byte
//! at a time still ends); and a bound on how long one request is retried.

use std::time::Duration;

use ureq::config::ConfigBuilder;
use ureq::typestate::AgentScope;

/// The default `--timeout`.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(30);
/// A request must end within this many idle timeouts.
const REQUEST_FACTOR: u32 = 4;
/// No retry starts this many idle timeouts after a request's first try.
const RETRY_FACTOR: u32 = 4;
/// The slowest upload accepted, in bytes per second: a blob upload's
/// deadline grows by its size at this rate.
pub const MIN_UPLOAD_RATE: u64 = 64 << 10;

/// The deadlines of a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// The longest wait for any progress (`--timeout`).
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts { idle: DEFAULT_IDLE }
    }
}

impl Timeouts {
    /// The deadline of a request with no blob to send.
    pub fn request(&self) -> Duration {
        self.idle.saturating_mul(REQUEST_FACTOR)
    }

    /// The deadline of a request that sends a blob of `size` bytes.
    pub fn upload(&self, size: u64) -> Duration {
        self.request().saturating_add(Duration::from_secs(size / MIN_UPLOAD_RATE))
    }

    /// How long after its first try a request may still be retried.
    pub fn retry_budget(&self) -> Duration {
        self.idle.saturating_mul(RETRY_FACTOR)
    }

    /// Sets the agent's limits: the idle ones, and the request deadline
    /// (which an upload raises for itself, see [`Timeouts::upload`]).
    pub fn configure(&self, config: ConfigBuilder<AgentScope>) -> ConfigBuilder<AgentScope> {
        let idle = Some(self.idle);
        config
            .timeout_resolve(idle)
            .timeout_connect(idle)
            .timeout_per_read(idle)
            .timeout_per_write(idle)
            .timeout_per_call(Some(self.request()))
    }

    /// What a ureq timeout means, naming `host` and how long it waited.
    pub fn explain(&self, timeout: ureq::Timeout, host: &str, deadline: Duration) -> String {
        use ureq::Timeout as T;
        let idle = seconds(self.idle);
        match timeout {
            T::Resolve => format!("resolving {host} took more than {idle} (--timeout)"),
            T::Connect => {
                format!("{host} did not complete the connection (TCP and TLS handshake) within {idle} (--timeout)")
            }
            T::PerRead => format!("{host} stalled: nothing came from it for {idle} (--timeout)"),
            T::PerWrite | T::SendRequest => {
                format!("{host} stalled: it took nothing of what was sent for {idle} (--timeout)")
            }
            _ => format!(
                "{host} did not finish one request within {} (the request deadline, {REQUEST_FACTOR} x --timeout{})",
                seconds(deadline),
                if deadline > self.request() { ", plus the blob's size at 64 KiB/s" } else { "" }
            ),
        }
    }
}

/// A duration as a person reads it: `30 s`, `0.5 s`, `2 min`.
pub fn seconds(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 120.0 && d.as_secs().is_multiple_of(60) {
        format!("{} min", d.as_secs() / 60)
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{secs:.1} s")
    }
}

/// Reads `--timeout`: seconds (`30`), or a number with `ms`, `s` or `m`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("{text:?} is not a duration: write 30, 30s, 500ms or 2m"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        other => return Err(format!("{other:?} is not a unit of --timeout: use ms, s or m")),
    };
    let d = Duration::try_from_secs_f64(value * scale).map_err(|_| format!("{text:?} is out of range"))?;
    if d < Duration::from_millis(1) || d > Duration::from_secs(24 * 3600) {
        return Err(format!("{text:?}: --timeout must be between 1 ms and 24 hours"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_timeouts() {
        assert_eq!(parse("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert!(parse("0").is_err());
        assert!(parse("ten").is_err());
        assert!(parse("5h").unwrap_err().contains("\"h\""));
    }

    #[test]
    fn derives_deadlines_from_the_idle_timeout() {
        let t = Timeouts::default();
        assert_eq!(t.request(), Duration::from_secs(120));
        assert_eq!(t.retry_budget(), Duration::from_secs(120));
        assert_eq!(t.upload(64 << 20), Duration::from_secs(120 + 1024));
        assert_eq!(seconds(t.request()), "2 min");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5 s");
        let msg = t.explain(ureq::Timeout::PerRead, "r:5000", t.request());
        assert!(msg.contains("r:5000 stalled") && msg.contains("30 s"), "{msg}");
    }
}
