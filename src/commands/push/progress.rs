//! What `push` shows while it works, on standard error: on a terminal, a
//! progress bar per blob (bytes, rate) that ends as `exists`, `mounted
//! from REPO` or `pushed`; elsewhere (a pipe, a CI log, `TERM=dumb`), one
//! line per blob, in the image's order whatever order the parallel
//! uploads end in (so that two runs log alike), and one per manifest.

use std::collections::BTreeMap;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::commands::status::{self, Verbosity};
use crate::registry::client::Notice;
use crate::registry::plan::{Blob, Source};
use crate::registry::push::Event;

/// The progress display of one push.
pub(super) struct Progress {
    /// The bars, when standard error is a terminal.
    multi: Option<MultiProgress>,
    bars: BTreeMap<String, ProgressBar>,
    /// Without bars: the blobs in the image's order, the next to print,
    /// and the lines of those that ended before it.
    order: Vec<String>,
    next: usize,
    ended: BTreeMap<String, String>,
}

impl Progress {
    /// Bars on a terminal, lines elsewhere.
    pub(super) fn new() -> Progress {
        let multi = status::bars_shown().then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { multi, bars: BTreeMap::new(), order: Vec::new(), next: 0, ended: BTreeMap::new() }
    }

    /// Prints a line above the bars, or on its own.
    pub(super) fn line(&self, text: &str) {
        print_line(self.multi.as_ref(), text);
    }

    /// Where the client's retry notices go.
    pub(super) fn notice(&self) -> Notice {
        let multi = self.multi.clone();
        Box::new(move |text| print_line(multi.as_ref(), &format!("warning: {text}")))
    }

    /// Shows one event.
    pub(super) fn event(&mut self, event: Event) {
        match event {
            Event::Planned(blobs) => {
                self.bars.clear();
                self.order = blobs.iter().map(|b| b.digest.clone()).collect();
                (self.next, self.ended) = (0, BTreeMap::new());
            }
            Event::Exists(blob) => self.end(blob, "exists".to_string()),
            Event::Encoding(blob) => {
                let how = if let Source::Encode { compression, .. } = &blob.source { compression.name() } else { "?" };
                self.line(&format!("{}: the registry lacks it; encoding it with {how} to upload", label(blob)))
            }
            Event::Checking { count, bytes } => self.line(&format!(
                "checking {count} blob{} ({}) against their digests",
                if count == 1 { "" } else { "s" },
                HumanBytes(bytes)
            )),
            Event::Upload(blob) => {
                self.bar(blob);
            }
            Event::Sent(blob, sent) => self.bar(blob).set_position(sent),
            Event::Uploaded(blob) => self.end(blob, format!("pushed {}", HumanBytes(blob.size))),
            Event::Mounted(blob, from) => self.end(blob, format!("mounted from {from}")),
            Event::Put(document, target) => {
                self.line(&format!("{} {}: pushed as {target}", document.what, document.digest))
            }
        }
    }

    /// Leaves every bar as it ended, and prints the lines still held back.
    pub(super) fn finish(&mut self) {
        let ended = std::mem::take(&mut self.ended);
        for line in self.order.iter().filter_map(|d| ended.get(d)) {
            self.line(line);
        }
        for bar in self.bars.values() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }

    /// The blob's bar, made on first use (hidden when there are no bars).
    fn bar(&mut self, blob: &Blob) -> &ProgressBar {
        let multi = self.multi.as_ref();
        self.bars.entry(blob.digest.clone()).or_insert_with(|| {
            let Some(multi) = multi else {
                return ProgressBar::hidden();
            };
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {msg}",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            let bar = multi.add(ProgressBar::new(blob.size).with_style(style));
            bar.set_prefix(label(blob));
            bar
        })
    }

    /// Ends a blob's bar with `status`, or prints the blob's line.
    fn end(&mut self, blob: &Blob, status: String) {
        if self.multi.is_none() {
            self.ended.insert(blob.digest.clone(), format!("{}: {status}", label(blob)));
            while let Some(line) = self.order.get(self.next).and_then(|d| self.ended.remove(d)) {
                self.line(&line);
                self.next += 1;
            }
            return;
        }
        let bar = self.bar(blob).clone();
        bar.set_position(blob.size);
        bar.finish_with_message(status);
    }
}

/// `layer 1 sha256:0123456789ab`: what a blob is, and enough of its digest.
fn label(blob: &Blob) -> String {
    let short = blob.digest.get(..19).unwrap_or(&blob.digest);
    format!("{} {short}", blob.what)
}

/// Prints a line, unless quiet (`-q`).
fn print_line(multi: Option<&MultiProgress>, text: &str) {
    if status::level() == Verbosity::Quiet {
        return;
    }
    let text = format!("bimanix: {text}");
    // A terminal that went away cannot show the line either; the result is the exit status.
    match multi {
        Some(multi) => {
            let _ = multi.println(text);
        }
        None => eprintln!("{text}"),
    }
}
