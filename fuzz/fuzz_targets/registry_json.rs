//! A registry's and a token service's JSON answers on arbitrary bytes: the
//! token read from a token answer, an error body summarised in one line,
//! `Retry-After` and `Docker-Content-Digest`; never a panic, and no token
//! that a header cannot carry.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bimanix::registry::fuzz::registry_json(data);
});
