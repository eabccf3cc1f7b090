//! `bimanix inspect` on an arbitrary file: reading it as an image archive
//! and checking it must end in a report or an error, never a panic, and
//! within the memory and time bounds of any other input.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

use bimanix::rules::compat::Options;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(data).expect("writing the input");
    if let Ok(report) = bimanix::commands::inspect::inspect(file.path(), &Options::default()) {
        let _ = bimanix::commands::inspect::render_text(&report);
        let _ = bimanix::commands::inspect::render_json(&report);
    }
});
