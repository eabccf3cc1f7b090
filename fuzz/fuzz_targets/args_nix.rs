//! The args.nix reader on arbitrary text: evaluating and reading the
//! result into the input model must end in a value or an error, never a
//! panic, a stack overflow or a hang.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    if let Ok(value) = bimanix::input::nixeval::eval_str(src, "args.nix", Path::new("/fuzz")) {
        let _ = bimanix::input::args::to_spec(&value, "args.nix".to_string(), Path::new("/fuzz"));
    }
});
