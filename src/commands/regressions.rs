//! The inputs with which fuzzing found bugs (`fuzz/regressions/<target>/`),
//! each fed to what its fuzz target exercises: every one must end in a
//! value or an error, never a panic.

use std::path::{Path, PathBuf};

use crate::rules::compat::Options;

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").join(target);
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn fuzz_regressions_end_in_a_value_or_an_error() {
    let base = Path::new("/fuzz");
    let mut count = 0;
    for path in inputs("args_nix") {
        let bytes = std::fs::read(&path).unwrap();
        if let Ok(src) = std::str::from_utf8(&bytes)
            && let Ok(value) = crate::input::nixeval::eval_str(src, "args.nix", base)
        {
            let _ = crate::input::args::to_spec(&value, "args.nix".to_string(), base);
        }
        count += 1;
    }
    for path in inputs("args_json") {
        if let Ok(value) = crate::input::args::parse_json(&std::fs::read(&path).unwrap(), "args.json") {
            let _ = crate::input::args::to_spec(&value, "args.json".to_string(), base);
        }
        count += 1;
    }
    for path in inputs("inspect") {
        if let Ok(report) = crate::commands::inspect::inspect(&path, &Options::default()) {
            crate::commands::inspect::render_text(&report);
            crate::commands::inspect::render_json(&report);
        }
        count += 1;
    }
    assert!(count > 0, "fuzz/regressions holds no inputs");
}
