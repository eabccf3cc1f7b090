//! Progress of the steps that can take seconds (generating a rootfs,
//! writing or compressing a layer, copying a blob), as the stages report
//! it. The stages do not print: they open a [`Step`] and the byte counts
//! reach it through [`advance`]; the command line installs the
//! [`Observer`] that shows steps (a bar on a terminal, lines with
//! `--verbose`, nothing otherwise). Without an observer a step costs a
//! lock per megabyte.

use std::sync::{Arc, Mutex, OnceLock};

/// Which bytes a step counts: what it writes, or what goes into an
/// encoder (whose output size is not known beforehand).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    /// Bytes written to the output.
    Output,
    /// Bytes fed to a compressor.
    Input,
}

/// Shows steps; installed once by the command line.
pub trait Observer: Send + Sync {
    /// A step begins: `what` it does, and how many bytes it will count,
    /// when known.
    fn start(&self, what: &str, total: Option<u64>) -> Box<dyn Shown>;
}

/// One step as shown.
pub trait Shown: Send + Sync {
    /// `bytes` more are done.
    fn advance(&self, bytes: u64);
    /// The step is over (it succeeded or failed).
    fn finish(&self);
}

static OBSERVER: OnceLock<Box<dyn Observer>> = OnceLock::new();

/// The open steps, innermost last: bytes go to the innermost.
static OPEN: Mutex<Vec<(Counted, Arc<dyn Shown>)>> = Mutex::new(Vec::new());

/// Installs the observer (the first call wins).
pub fn install(observer: Box<dyn Observer>) {
    let _ = OBSERVER.set(observer);
}

/// A step in progress; it ends when dropped.
pub struct Step {
    shown: Option<Arc<dyn Shown>>,
}

/// Opens a step: `what` is called only when an observer is installed.
pub fn step(what: impl FnOnce() -> String, total: Option<u64>, counted: Counted) -> Step {
    let Some(observer) = OBSERVER.get() else {
        return Step { shown: None };
    };
    let shown: Arc<dyn Shown> = Arc::from(observer.start(&what(), total));
    open().push((counted, shown.clone()));
    Step { shown: Some(shown) }
}

/// Counts `bytes` of kind `counted` towards the innermost open step, when
/// it counts that kind.
pub fn advance(counted: Counted, bytes: u64) {
    if OBSERVER.get().is_none() {
        return;
    }
    if let Some((kind, shown)) = open().last()
        && *kind == counted
    {
        shown.advance(bytes);
    }
}

fn open() -> std::sync::MutexGuard<'static, Vec<(Counted, Arc<dyn Shown>)>> {
    // A panic elsewhere leaves the list usable.
    OPEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(shown) = self.shown.take() {
            open().retain(|(_, s)| !Arc::ptr_eq(s, &shown));
            shown.finish();
        }
    }
}
