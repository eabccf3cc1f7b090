//! (being written) TEMP STUB
pub const KNOWN: &[&str] = &["amd64", "arm64"];
pub fn detect_file(_p: &std::path::Path) -> anyhow::Result<Option<&'static str>> { Ok(Some("amd64")) }
