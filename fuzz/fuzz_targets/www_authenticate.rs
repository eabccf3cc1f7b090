//! `WWW-Authenticate` headers on arbitrary text: reading one header, or the
//! text split into several at NUL bytes, must end in a challenge or an
//! error, never a panic; a Bearer challenge's realm is then read as a URL.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bimanix::registry::fuzz::www_authenticate(data);
});
