//! `Location` headers and token realms on arbitrary text: resolved against
//! a request URL (RFC 3986), judged for where credentials may go; never a
//! panic, and never a scheme other than http or https accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bimanix::registry::fuzz::location(data);
});
