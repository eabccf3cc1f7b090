//! The JSON args reader on arbitrary bytes: parsing and reading the result
//! into the input model must end in a value or an error, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = bimanix::input::args::parse_json(data, "args.json") {
        let _ = bimanix::input::args::to_spec(&value, "args.json".to_string(), Path::new("/fuzz"));
    }
});
