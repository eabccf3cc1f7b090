//! The inputs with which fuzzing found bugs (`fuzz/regressions/<target>/`),
//! each fed to what its fuzz target exercises: every one must end in a
//! value or an error, never a panic (and, for the Containerfile and
//! bunnyfile readers, convert to an args.nix that reads back the same).

use std::path::{Path, PathBuf};

use crate::rules::compat::Options;

// The build context and the path through `check` and `convert` that the
// `containerfile` and `bunnyfile` targets share.
#[path = "../../fuzz/fuzz_targets/foreign/mod.rs"]
mod foreign;

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
    for path in inputs("containerfile") {
        if let Ok(text) = String::from_utf8(std::fs::read(&path).unwrap()) {
            let _ = foreign::run(crate::input::containerfile::read_text, "Containerfile", &text);
        }
        count += 1;
    }
    for path in inputs("bunnyfile") {
        if let Ok(text) = String::from_utf8(std::fs::read(&path).unwrap()) {
            let _ = foreign::run(crate::input::bunnyfile::read_text, "bunnyfile", &text);
        }
        count += 1;
    }
    assert!(count > 0, "fuzz/regressions holds no inputs");
}

#[test]
fn registry_fuzz_regressions_and_seeds_keep_their_promises() {
    use crate::registry::fuzz;
    let seeds = |target: &str| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect::<Vec<_>>()
    };
    let mut count = 0;
    for (target, run) in [
        ("www_authenticate", fuzz::www_authenticate as fn(&[u8])),
        ("location", fuzz::location),
        ("registry_json", fuzz::registry_json),
    ] {
        for path in inputs(target).into_iter().chain(seeds(target)) {
            run(&std::fs::read(&path).unwrap());
            count += 1;
        }
    }
    assert!(count >= 9, "the registry fuzz seeds are missing");
}

#[test]
fn the_fuzz_seeds_build_and_convert_in_the_fuzz_context() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut count = 0;
    for (target, read, shown) in [
        ("containerfile", crate::input::containerfile::read_text as foreign::Reader, "Containerfile"),
        ("bunnyfile", crate::input::bunnyfile::read_text, "bunnyfile"),
    ] {
        for entry in std::fs::read_dir(seeds.join(target)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(e) = foreign::run(read, shown, &text) {
                panic!("{}: {e:#}", path.display());
            }
            count += 1;
        }
    }
    assert_eq!(count, 6, "fuzz/seeds holds three Containerfiles and three bunnyfiles");
}
