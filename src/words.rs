//! (being written) TEMP STUB
pub fn split(s: &str) -> Result<Vec<String>, String> { Ok(s.split_whitespace().map(String::from).collect()) }
