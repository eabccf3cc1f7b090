//! (being written) TEMP STUB
use std::collections::BTreeMap;
pub const PREFIX: &str = "com.urunc.unikernel.";
pub const KEYS: &[&str] = &["unikernelType","hypervisor","binary","cmdline","unikernelVersion","initrd","block","blkMntPoint","useDMBlock","mountRootfs"];
pub fn short_key(key: &str) -> Option<&'static str> { let k = key.strip_prefix(PREFIX).unwrap_or(key); KEYS.iter().copied().find(|x| *x == k) }
pub fn full_key(short: &str) -> String { format!("{PREFIX}{short}") }
pub fn check_path(_v: &str) -> Result<(), String> { Ok(()) }
#[derive(Clone, Copy, Debug, PartialEq, Eq)] pub enum Severity { Error, Warning }
pub struct Problem { pub severity: Severity, pub key: Option<&'static str>, pub message: String }
pub struct Options { pub pair_check: bool }
pub enum FileKind { Missing, File, Dir, Other }
pub fn check(_a: &BTreeMap<String, String>, _f: &dyn Fn(&str) -> FileKind, _o: &Options) -> Vec<Problem> { vec![] }
pub fn urunc_json(a: &BTreeMap<String, String>) -> Vec<u8> { serde_json::to_vec(a).unwrap() }
pub fn labels(a: &BTreeMap<String, String>) -> BTreeMap<String, String> { a.iter().map(|(k,v)| (full_key(k), v.clone())).collect() }
