//! (being written) TEMP STUB
pub fn did_you_mean<'a>(_w: &str, _c: &[&'a str]) -> Option<&'a str> { None }
