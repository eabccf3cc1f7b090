//! What the commands say on standard error besides errors and warnings,
//! as `-q`/`-v` set it: status lines (`wrote ...`), and the progress of
//! long steps, shown as a bar on a terminal and, with `--verbose`, as a
//! line at each step's start and end elsewhere (a CI log gets no
//! progress otherwise).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::model::progress::{self, Observer, Shown};

/// How much the commands say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// `-q`: errors and warnings only.
    Quiet,
    /// Status lines, and progress bars on a terminal.
    Normal,
    /// `-v`: progress lines where there are no bars.
    Verbose,
}

static LEVEL: AtomicU8 = AtomicU8::new(Verbosity::Normal as u8);

/// Sets the verbosity and, unless quiet, installs the progress display:
/// bars when standard error is a terminal, lines with `--verbose`.
pub fn init(level: Verbosity) {
    LEVEL.store(level as u8, Ordering::Relaxed);
    if level == Verbosity::Quiet {
        return;
    }
    if bars_shown() {
        progress::install(Box::new(Bars));
    } else if level == Verbosity::Verbose {
        progress::install(Box::new(Lines));
    }
}

/// The verbosity set by [`init`].
pub fn level() -> Verbosity {
    match LEVEL.load(Ordering::Relaxed) {
        0 => Verbosity::Quiet,
        1 => Verbosity::Normal,
        _ => Verbosity::Verbose,
    }
}

/// Whether progress bars are drawn: standard error is a terminal (not
/// `TERM=dumb`) and the commands are not quiet.
pub fn bars_shown() -> bool {
    level() != Verbosity::Quiet && !ProgressDrawTarget::stderr().is_hidden()
}

/// Prints a status line (`bimanix: wrote ...`), unless quiet.
pub fn status(text: &str) {
    if level() != Verbosity::Quiet {
        eprintln!("bimanix: {text}");
    }
}

/// How long a step runs before its bar is drawn: quick steps draw none.
const BAR_DELAY: Duration = Duration::from_millis(500);

/// Steps as bars (with a byte total) or spinners, drawn once a step has
/// run for [`BAR_DELAY`] and cleared when it ends.
struct Bars;

impl Observer for Bars {
    fn start(&self, what: &str, total: Option<u64>) -> Box<dyn Shown> {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden()).with_style(style(total, false));
        bar.set_message(what.to_string());
        let shown = bar.clone();
        // A thread per step: steps are few (one per layer), and one that
        // ends first makes this a no-op.
        std::thread::spawn(move || {
            std::thread::sleep(BAR_DELAY);
            if !shown.is_finished() {
                shown.set_draw_target(ProgressDrawTarget::stderr());
                shown.enable_steady_tick(Duration::from_millis(120));
            }
        });
        Box::new(BarStep { bar, counting: AtomicBool::new(false) })
    }
}

/// A bar with a byte total, or a spinner with the bytes so far when
/// `counting` (else just the time).
fn style(total: Option<u64>, counting: bool) -> ProgressStyle {
    let template = match (total, counting) {
        (Some(_), _) => "{spinner} {msg} [{wide_bar}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}",
        (None, true) => "{spinner} {msg} {binary_bytes} {binary_bytes_per_sec} {elapsed}",
        (None, false) => "{spinner} {msg} {elapsed}",
    };
    ProgressStyle::with_template(template)
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

struct BarStep {
    bar: ProgressBar,
    /// Whether bytes have come (a spinner then shows them).
    counting: AtomicBool,
}

impl Shown for BarStep {
    fn advance(&self, bytes: u64) {
        if !self.counting.swap(true, Ordering::Relaxed) && self.bar.length().is_none() {
            self.bar.set_style(style(None, true));
        }
        self.bar.inc(bytes);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Steps as a line when they start and one when they end, for logs.
struct Lines;

impl Observer for Lines {
    fn start(&self, what: &str, total: Option<u64>) -> Box<dyn Shown> {
        let of = total.map(|t| format!(" ({})", HumanBytes(t))).unwrap_or_default();
        eprintln!("bimanix: {what}{of} ...");
        Box::new(LineStep { what: what.to_string(), started: Instant::now(), bytes: Mutex::new(0) })
    }
}

struct LineStep {
    what: String,
    started: Instant,
    bytes: Mutex<u64>,
}

impl Shown for LineStep {
    fn advance(&self, bytes: u64) {
        *self.bytes.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += bytes;
    }

    fn finish(&self) {
        let bytes = *self.bytes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let size = if bytes > 0 { format!(", {}", HumanBytes(bytes)) } else { String::new() };
        eprintln!("bimanix: {}: done in {:.2}s{size}", self.what, self.started.elapsed().as_secs_f64());
    }
}
