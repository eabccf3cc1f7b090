//! Running another program whose answer bimanix needs (a
//! `docker-credential-*` helper): with a deadline, a cap on what it
//! prints, and its whole process group killed when it overstays, floods,
//! or leaves a child holding its output open. What it prints is returned,
//! never put in a message (it may hold a secret), and its standard error
//! goes nowhere for the same reason.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a program may take and how much it may print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// From start to exit, output read.
    pub deadline: Duration,
    /// The most bytes of standard output read.
    pub max_output: u64,
}

/// A program that ran to its end.
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// What it printed on standard output (at most `max_output` bytes).
    pub stdout: Vec<u8>,
}

/// Runs `program` with `args`, `input` on its standard input and, when
/// given, `path` as its `PATH`. Errors say what went wrong (would not
/// start, took too long, printed too much) without a byte of its output.
pub fn run(program: &OsStr, args: &[&str], input: &[u8], path: Option<&OsStr>, limits: Limits) -> Result<Finished> {
    let start = Instant::now();
    let mut command = Command::new(program);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    // A group of its own, so that a child it forks is stopped with it.
    command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).process_group(0);
    let child = command.spawn()?;
    let mut group = Group(child);
    if let Some(mut stdin) = group.0.stdin.take() {
        let input = input.to_vec();
        // A program that never reads must not stall bimanix on a full pipe.
        std::thread::spawn(move || stdin.write_all(&input));
    }
    let mut stdout = group.0.stdout.take().context("internal: no pipe for standard output")?;
    let (tx, rx) = mpsc::channel();
    let cap = limits.max_output;
    // The thread may outlive this call when a grandchild that left the
    // group keeps the pipe open; it holds nothing but that pipe.
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let read = (&mut stdout).take(cap + 1).read_to_end(&mut out);
        let _ = tx.send(read.map(|_| out));
    });
    let seconds = limits.deadline.as_secs_f64();
    let stdout = match rx.recv_timeout(limits.deadline) {
        Ok(Ok(out)) if out.len() as u64 > cap => bail!("it printed more than {cap} bytes; stopped it"),
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(e).context("cannot read its answer"),
        Err(_) => bail!("it gave no complete answer within {seconds} s; stopped it"),
    };
    loop {
        if let Some(status) = group.0.try_wait().context("cannot wait for it")? {
            return Ok(Finished { status, stdout });
        }
        if start.elapsed() >= limits.deadline {
            bail!("it did not exit within {seconds} s; stopped it");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A started program; when dropped, its process group is killed (what it
/// left running too) and the program reaped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, limits: Limits) -> Result<Finished> {
        run(OsStr::new("sh"), &["-c", script], b"in\n", None, limits)
    }

    const QUICK: Limits = Limits { deadline: Duration::from_millis(1500), max_output: 1000 };

    #[test]
    fn answers_are_read_and_statuses_kept() {
        let done = sh("read -r x; echo \"got $x\"; echo noise >&2; exit 3", QUICK).unwrap();
        assert_eq!(done.stdout, b"got in\n");
        assert_eq!(done.status.code(), Some(3));
    }

    #[test]
    fn a_hang_a_flood_and_a_lingering_child_are_stopped_without_their_output() {
        for (script, said) in [
            ("echo SECRET-1; sleep 60", "no complete answer within 1.5 s"),
            ("yes SECRET-2", "more than 1000 bytes"),
            // The program exits at once, its child keeps the pipe open.
            ("(sleep 60; echo late) & echo SECRET-3", "no complete answer within 1.5 s"),
            ("exec 1>&-; sleep 60", "did not exit within 1.5 s"),
        ] {
            let start = Instant::now();
            let err = format!("{:#}", sh(script, QUICK).err().unwrap());
            assert!(err.contains(said), "{script}: {err}");
            assert!(!err.contains("SECRET"), "{script}: {err}");
            assert!(start.elapsed() < Duration::from_secs(10), "{script}: took {:?}", start.elapsed());
        }
    }
}
