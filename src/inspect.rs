//! (being written) TEMP STUB
pub struct Report;
impl Report { pub fn ok(&self) -> bool { true } }
pub fn inspect(_p: &std::path::Path, _o: &crate::urunc::Options) -> anyhow::Result<Report> { Ok(Report) }
pub fn render_text(_r: &Report) -> String { String::new() }
pub fn render_json(_r: &Report) -> String { String::new() }
