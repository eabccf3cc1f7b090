//! (being written) TEMP STUB
pub fn eval_file(_p: &std::path::Path) -> anyhow::Result<crate::value::Value> { anyhow::bail!("stub") }
