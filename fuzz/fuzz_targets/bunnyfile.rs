//! The bunnyfile reader on arbitrary text, in a small build context:
//! reading, `check` and `convert` must end in a value or an error, never a
//! panic, a hang or a blow-up, and the converted args.nix must read back
//! as the same spec.
#![no_main]

mod foreign;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = foreign::run(bimanix::input::bunnyfile::read_text, "bunnyfile", text);
});
