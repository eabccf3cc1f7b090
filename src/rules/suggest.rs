//! "Did you mean ...?" suggestions for misspelt names.
//!
//! Used when a user writes an unknown key, unikernel type or hypervisor: the
//! closest known name is offered only when it is near enough to be a typo.

/// The candidate closest to `word`, compared case-insensitively, when the
/// distance is small enough to be a plausible typo: at most a third of the
/// word's length, and at least 1. An adjacent transposition counts as one
/// edit. On a tie the candidate listed first wins.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word: Vec<char> = word.chars().flat_map(char::to_lowercase).collect();
    let limit = (word.len() / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for &candidate in candidates {
        let other: Vec<char> = candidate.chars().flat_map(char::to_lowercase).collect();
        let distance = edit_distance(&word, &other);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// The most directory entries looked at for a near file name: a typo is
/// worth a suggestion, not a long scan of a huge directory.
const MAX_ENTRIES: usize = 10_000;

/// For a source path that does not exist, `did you mean `NAME`?` with a
/// file name of the same directory near enough to be a typo of its last
/// component, if there is one.
pub fn near_file(path: &std::path::Path) -> Option<String> {
    let wanted = path.file_name()?.to_str()?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let names: Vec<String> =
        std::fs::read_dir(dir).ok()?.take(MAX_ENTRIES).filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    let mut names: Vec<&str> = names.iter().map(String::as_str).collect();
    // read_dir's order is the filesystem's: sort, so that ties are broken alike everywhere.
    names.sort_unstable();
    did_you_mean(wanted, &names).map(|near| format!("did you mean `{near}`?"))
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of two adjacent characters each cost one.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    // Three rolling rows: the swap rule looks two rows back.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYPERVISORS: &[&str] = &["qemu", "firecracker", "cloud-hypervisor", "hvt", "spt"];

    fn dist(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        edit_distance(&a, &b)
    }

    #[test]
    fn distances() {
        assert_eq!(dist("", ""), 0);
        assert_eq!(dist("abc", ""), 3);
        assert_eq!(dist("", "abc"), 3);
        assert_eq!(dist("kitten", "sitting"), 3);
        assert_eq!(dist("qemu", "qmeu"), 1);
        assert_eq!(dist("ab", "ba"), 1);
        assert_eq!(dist("hvt", "spt"), 2);
        assert_eq!(dist("flaw", "lawn"), 2);
        assert_eq!(dist("é", "e"), 1);
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(did_you_mean("qmeu", HYPERVISORS), Some("qemu"));
        assert_eq!(did_you_mean("qem", HYPERVISORS), Some("qemu"));
        assert_eq!(did_you_mean("firecraker", HYPERVISORS), Some("firecracker"));
        assert_eq!(did_you_mean("cloud_hypervisor", HYPERVISORS), Some("cloud-hypervisor"));
        assert_eq!(did_you_mean("cloudhypervisor", HYPERVISORS), Some("cloud-hypervisor"));
    }

    #[test]
    fn ignores_case() {
        assert_eq!(did_you_mean("QEMU", HYPERVISORS), Some("qemu"));
        assert_eq!(did_you_mean("FireCracker", HYPERVISORS), Some("firecracker"));
        assert_eq!(did_you_mean("binary", &["Binary"]), Some("Binary"));
    }

    #[test]
    fn refuses_distant_names() {
        assert_eq!(did_you_mean("kvm", HYPERVISORS), None);
        assert_eq!(did_you_mean("xen", HYPERVISORS), None);
        // Two edits on a short word is not a typo.
        assert_eq!(did_you_mean("qxmx", HYPERVISORS), None);
        assert_eq!(did_you_mean("anything", &[]), None);
    }

    #[test]
    fn limit_grows_with_length() {
        // Length 5: one edit allowed, two not.
        assert_eq!(did_you_mean("abcdx", &["abcde"]), Some("abcde"));
        assert_eq!(did_you_mean("abcxx", &["abcde"]), None);
        // Length 6: two edits allowed, three not.
        assert_eq!(did_you_mean("abcdxx", &["abcdef"]), Some("abcdef"));
        assert_eq!(did_you_mean("abcxxx", &["abcdef"]), None);
        // Length 9: three edits allowed, four not.
        assert_eq!(did_you_mean("abcdefxxx", &["abcdefghi"]), Some("abcdefghi"));
        assert_eq!(did_you_mean("abcdexxxx", &["abcdefghi"]), None);
    }

    #[test]
    fn near_file_names_a_sibling() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hello.bzImage"), b"k").unwrap();
        std::fs::write(dir.path().join("other.txt"), b"o").unwrap();
        let help = near_file(&dir.path().join("hello.bzImag"));
        assert_eq!(help.as_deref(), Some("did you mean `hello.bzImage`?"));
        assert_eq!(near_file(&dir.path().join("kernel")), None);
        assert_eq!(near_file(&dir.path().join("missing-dir/hello.bzImage")), None);
    }

    #[test]
    fn closest_wins_and_ties_go_to_the_first() {
        assert_eq!(did_you_mean("spx", &["hvt", "spt"]), Some("spt"));
        assert_eq!(did_you_mean("hpt", &["hvt", "spt"]), Some("hvt"));
        assert_eq!(did_you_mean("hpt", &["spt", "hvt"]), Some("spt"));
        // An exact match beats an earlier near match.
        assert_eq!(did_you_mean("spt", &["sp", "spt"]), Some("spt"));
    }
}
