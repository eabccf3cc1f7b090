//! Telling a kernel's or unikernel's architecture from its first bytes.
//!
//! The image's `architecture` must be the guest's, because containerd and
//! Kubernetes pick and filter images by platform. The answer is an OCI (Go
//! `GOARCH`) name. Formats recognised: ELF; PE, which EFI-stub kernels are;
//! the x86 boot protocol header of a bzImage; the arm64 `Image` header; the
//! 32-bit ARM `zImage` header. A kernel can carry several of these at once (an
//! x86 EFI-stub bzImage is both PE and bzImage), and then they must agree.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};

/// The OCI architecture names an image may declare: Go's `GOARCH` values for
/// which Go builds Linux programs.
pub const KNOWN: &[&str] = &[
    "386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64", "mips64le", "ppc64", "ppc64le", "riscv64",
    "s390x",
];

/// How many leading bytes of a file [`detect`] looks at.
pub const HEAD_LEN: usize = 8192;

/// The OCI architecture of the kernel whose first bytes are `head` (the first
/// [`HEAD_LEN`] bytes, or the whole file if shorter), or `None` when the
/// format is not recognised, is truncated, or its headers disagree.
pub fn detect(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\x7fELF") {
        return elf(head);
    }
    let pe = pe_machine(head).map(pe_arch);
    let boot = boot_header(head);
    match (pe, boot) {
        (None, None) => None,
        (Some(pe), None) => pe,
        (None, Some(Boot::Known(arch))) => Some(arch),
        // Boot protocols before 2.12 do not say whether the kernel is
        // 64-bit; 32-bit is the only safe reading.
        (None, Some(Boot::X86Old)) => Some("386"),
        (Some(pe), Some(Boot::Known(arch))) => pe.filter(|&pe| pe == arch),
        // EFI-stub kernels from before boot protocol 2.12: the PE machine
        // tells 32-bit from 64-bit.
        (Some(pe), Some(Boot::X86Old)) => pe.filter(|&pe| pe == "amd64" || pe == "386"),
    }
}

/// [`detect`] on the first [`HEAD_LEN`] bytes of the file at `path`.
pub fn detect_file(path: &Path) -> Result<Option<&'static str>> {
    let file = crate::model::hostfile::open_regular(path)?;
    let mut head = Vec::with_capacity(HEAD_LEN);
    file.take(HEAD_LEN as u64).read_to_end(&mut head).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(detect(&head))
}

/// What a native boot header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Boot {
    /// The header names the architecture.
    Known(&'static str),
    /// An x86 bzImage whose boot protocol is too old to say 32 or 64-bit.
    X86Old,
}

/// The architecture named by a native (non-PE) kernel header, if any.
fn boot_header(head: &[u8]) -> Option<Boot> {
    // x86 boot protocol: "HdrS" at 0x202, version at 0x206, xloadflags at
    // 0x236 from version 2.12 on, whose bit 0 (XLF_KERNEL_64) marks a kernel
    // with a 64-bit entry point.
    if head.get(0x202..0x206) == Some(b"HdrS") {
        let version = u16_le(head, 0x206)?;
        if version < 0x020c {
            return Some(Boot::X86Old);
        }
        let xloadflags = u16_le(head, 0x236)?;
        let arch = if xloadflags & 1 != 0 { "amd64" } else { "386" };
        return Some(Boot::Known(arch));
    }
    if head.get(56..60) == Some(b"ARM\x64") {
        return Some(Boot::Known("arm64"));
    }
    // ARM zImage: magic 0x016f2818 at 0x24, little-endian.
    if u32_le(head, 0x24) == Some(0x016f_2818) {
        return Some(Boot::Known("arm"));
    }
    None
}

/// The COFF machine of a PE file: `MZ`, the PE header's offset at 0x3c,
/// `PE\0\0` there and the machine right after.
fn pe_machine(head: &[u8]) -> Option<u16> {
    if !head.starts_with(b"MZ") {
        return None;
    }
    let pe = usize::try_from(u32_le(head, 0x3c)?).ok()?;
    if head.get(pe..pe.checked_add(4)?) != Some(b"PE\0\0") {
        return None;
    }
    u16_le(head, pe.checked_add(4)?)
}

/// The architecture of a COFF machine number.
fn pe_arch(machine: u16) -> Option<&'static str> {
    match machine {
        0x8664 => Some("amd64"),
        0xaa64 => Some("arm64"),
        0x014c => Some("386"),
        0x5064 => Some("riscv64"),
        0x6264 => Some("loong64"),
        // ARM Thumb-2 (what 32-bit ARM EFI stubs declare) and ARMNT.
        0x01c2 | 0x01c4 => Some("arm"),
        _ => None,
    }
}

/// The architecture of an ELF file from `e_machine`, read in the file's byte
/// order, together with its class (32/64-bit) and byte order.
fn elf(head: &[u8]) -> Option<&'static str> {
    let is_64 = match head.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match head.get(5)? {
        1 => true,
        2 => false,
        _ => return None,
    };
    let bytes: [u8; 2] = head.get(18..20)?.try_into().ok()?;
    let machine = if little { u16::from_le_bytes(bytes) } else { u16::from_be_bytes(bytes) };
    match (machine, is_64, little) {
        (62, _, true) => Some("amd64"),
        (3, false, true) => Some("386"),
        (183, true, true) => Some("arm64"),
        (40, false, true) => Some("arm"),
        (243, true, _) => Some("riscv64"),
        (258, true, true) => Some("loong64"),
        (21, true, true) => Some("ppc64le"),
        (21, true, false) => Some("ppc64"),
        (22, true, false) => Some("s390x"),
        (8, false, false) => Some("mips"),
        (8, false, true) => Some("mipsle"),
        (8, true, false) => Some("mips64"),
        (8, true, true) => Some("mips64le"),
        _ => None,
    }
}

/// The little-endian `u16` at `at`, if `head` is long enough.
fn u16_le(head: &[u8], at: usize) -> Option<u16> {
    let bytes = head.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(bytes.try_into().ok()?))
}

/// The little-endian `u32` at `at`, if `head` is long enough.
fn u32_le(head: &[u8], at: usize) -> Option<u32> {
    let bytes = head.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte order of an ELF file.
    #[derive(Clone, Copy)]
    enum Endian {
        Little,
        Big,
    }

    /// A 64-byte ELF header of the given class, byte order and machine.
    fn elf_header(is_64: bool, endian: Endian, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = if is_64 { 2 } else { 1 };
        h[5] = match endian {
            Endian::Little => 1,
            Endian::Big => 2,
        };
        h[6] = 1;
        let m = match endian {
            Endian::Little => machine.to_le_bytes(),
            Endian::Big => machine.to_be_bytes(),
        };
        h[18..20].copy_from_slice(&m);
        h
    }

    /// Writes `bytes` at `at`, growing `buf` as needed.
    fn put(buf: &mut Vec<u8>, at: usize, bytes: &[u8]) {
        if buf.len() < at + bytes.len() {
            buf.resize(at + bytes.len(), 0);
        }
        buf[at..at + bytes.len()].copy_from_slice(bytes);
    }

    /// Makes `buf` a PE file with the given COFF machine, its PE header at
    /// `offset`.
    fn add_pe(buf: &mut Vec<u8>, offset: u32, machine: u16) {
        put(buf, 0, b"MZ");
        put(buf, 0x3c, &offset.to_le_bytes());
        put(buf, offset as usize, b"PE\0\0");
        put(buf, offset as usize + 4, &machine.to_le_bytes());
        put(buf, offset as usize + 24, &[0; 16]);
    }

    /// Adds an x86 boot protocol header with the given version and xloadflags.
    fn add_hdrs(buf: &mut Vec<u8>, version: u16, xloadflags: u16) {
        put(buf, 0x1fe, &[0x55, 0xaa]);
        put(buf, 0x202, b"HdrS");
        put(buf, 0x206, &version.to_le_bytes());
        put(buf, 0x236, &xloadflags.to_le_bytes());
        put(buf, 0x240, &[0; 64]);
    }

    /// An x86 bzImage: a boot sector followed by the setup header.
    fn bzimage(version: u16, xloadflags: u16) -> Vec<u8> {
        let mut buf = vec![0u8; 0x400];
        add_hdrs(&mut buf, version, xloadflags);
        buf
    }

    /// An arm64 `Image` header.
    fn arm64_image() -> Vec<u8> {
        let mut buf = vec![0u8; 64];
        put(&mut buf, 56, b"ARM\x64");
        buf
    }

    #[test]
    fn elf_machines() {
        use Endian::{Big, Little};
        let cases: &[(bool, Endian, u16, &str)] = &[
            (true, Little, 62, "amd64"),
            (true, Little, 183, "arm64"),
            (true, Little, 243, "riscv64"),
            (true, Little, 258, "loong64"),
            (false, Little, 40, "arm"),
            (false, Little, 3, "386"),
            (true, Little, 21, "ppc64le"),
            (true, Big, 21, "ppc64"),
            (true, Big, 22, "s390x"),
            (false, Big, 8, "mips"),
            (false, Little, 8, "mipsle"),
            (true, Big, 8, "mips64"),
            (true, Little, 8, "mips64le"),
        ];
        for &(is_64, endian, machine, want) in cases {
            assert_eq!(detect(&elf_header(is_64, endian, machine)), Some(want), "e_machine {machine}");
            assert!(KNOWN.contains(&want), "{want} not in KNOWN");
        }
    }

    #[test]
    fn elf_32_bit_arm_is_not_arm64() {
        assert_eq!(detect(&elf_header(false, Endian::Little, 40)), Some("arm"));
    }

    #[test]
    fn elf_byte_order_is_honoured() {
        // 62 read as big-endian is 0x3e00, which is no machine.
        let mut h = elf_header(true, Endian::Little, 62);
        h[5] = 2;
        assert_eq!(detect(&h), None);
        // Big-endian arm64 and 32-bit s390 are not OCI architectures.
        assert_eq!(detect(&elf_header(true, Endian::Big, 183)), None);
        assert_eq!(detect(&elf_header(false, Endian::Big, 22)), None);
        assert_eq!(detect(&elf_header(false, Endian::Little, 243)), None);
    }

    #[test]
    fn elf_bad_headers() {
        assert_eq!(detect(&elf_header(true, Endian::Little, 0xbeef)), None);
        let mut bad_class = elf_header(true, Endian::Little, 62);
        bad_class[4] = 3;
        assert_eq!(detect(&bad_class), None);
        let mut bad_data = elf_header(true, Endian::Little, 62);
        bad_data[5] = 0;
        assert_eq!(detect(&bad_data), None);
        // Cut before or inside e_machine.
        let h = elf_header(true, Endian::Little, 62);
        assert_eq!(detect(&h[..19]), None);
        assert_eq!(detect(&h[..4]), None);
        assert_eq!(detect(&h[..20]), Some("amd64"));
    }

    #[test]
    fn pe_machines() {
        let cases: &[(u16, &str)] = &[
            (0x8664, "amd64"),
            (0xaa64, "arm64"),
            (0x014c, "386"),
            (0x5064, "riscv64"),
            (0x6264, "loong64"),
            (0x01c2, "arm"),
        ];
        for &(machine, want) in cases {
            let mut buf = vec![0u8; 0x100];
            add_pe(&mut buf, 0x80, machine);
            assert_eq!(detect(&buf), Some(want), "machine {machine:#x}");
        }
        let mut unknown = vec![0u8; 0x100];
        add_pe(&mut unknown, 0x80, 0x0200);
        assert_eq!(detect(&unknown), None);
    }

    #[test]
    fn pe_bad_headers() {
        // A DOS program: MZ without a PE header.
        let mut dos = vec![0u8; 0x100];
        put(&mut dos, 0, b"MZ");
        put(&mut dos, 0x3c, &0x80u32.to_le_bytes());
        assert_eq!(detect(&dos), None);
        // The PE offset points past the head, or overflows.
        let mut far = vec![0u8; 0x100];
        put(&mut far, 0, b"MZ");
        put(&mut far, 0x3c, &0x10000u32.to_le_bytes());
        assert_eq!(detect(&far), None);
        put(&mut far, 0x3c, &u32::MAX.to_le_bytes());
        assert_eq!(detect(&far), None);
        // Cut inside the machine field.
        let mut cut = vec![0u8; 0x100];
        add_pe(&mut cut, 0x80, 0x8664);
        assert_eq!(detect(&cut[..0x85]), None);
        assert_eq!(detect(&cut[..0x86]), Some("amd64"));
    }

    #[test]
    fn x86_bzimage() {
        // Boot protocol 2.15, XLF_KERNEL_64 and other flags set.
        assert_eq!(detect(&bzimage(0x020f, 0x007f)), Some("amd64"));
        assert_eq!(detect(&bzimage(0x020c, 0x0001)), Some("amd64"));
        // Protocol 2.12 or later with XLF_KERNEL_64 clear: a 32-bit kernel.
        assert_eq!(detect(&bzimage(0x020f, 0x001e)), Some("386"));
        // Too old to say: 32-bit, whatever the (then unused) field holds.
        assert_eq!(detect(&bzimage(0x020b, 0x0001)), Some("386"));
        assert_eq!(detect(&bzimage(0x0200, 0x0000)), Some("386"));
    }

    #[test]
    fn x86_efi_bzimage() {
        let mut buf = vec![0u8; 0x400];
        add_hdrs(&mut buf, 0x020f, 0x007f);
        add_pe(&mut buf, 0x80, 0x8664);
        assert_eq!(pe_machine(&buf), Some(0x8664));
        assert_eq!(boot_header(&buf), Some(Boot::Known("amd64")));
        assert_eq!(detect(&buf), Some("amd64"));

        // A 32-bit EFI-stub kernel says so twice.
        let mut x32 = vec![0u8; 0x400];
        add_hdrs(&mut x32, 0x020f, 0x0000);
        add_pe(&mut x32, 0x80, 0x014c);
        assert_eq!(detect(&x32), Some("386"));

        // Headers that disagree give no answer.
        let mut odd = vec![0u8; 0x400];
        add_hdrs(&mut odd, 0x020f, 0x0001);
        add_pe(&mut odd, 0x80, 0xaa64);
        assert_eq!(detect(&odd), None);
        let mut odd = vec![0u8; 0x400];
        add_hdrs(&mut odd, 0x020f, 0x0001);
        add_pe(&mut odd, 0x80, 0x014c);
        assert_eq!(detect(&odd), None);
    }

    #[test]
    fn x86_old_efi_bzimage_trusts_pe() {
        let mut buf = vec![0u8; 0x400];
        add_hdrs(&mut buf, 0x020b, 0x0000);
        add_pe(&mut buf, 0x80, 0x8664);
        assert_eq!(detect(&buf), Some("amd64"));
        let mut arm = vec![0u8; 0x400];
        add_hdrs(&mut arm, 0x020b, 0x0000);
        add_pe(&mut arm, 0x80, 0xaa64);
        assert_eq!(detect(&arm), None);
    }

    #[test]
    fn x86_bzimage_truncated() {
        let full = bzimage(0x020f, 0x0001);
        // Cut before xloadflags: the header cannot be read.
        assert_eq!(detect(&full[..0x237]), None);
        assert_eq!(detect(&full[..0x238]), Some("amd64"));
        // Cut before the version.
        assert_eq!(detect(&full[..0x207]), None);
        assert_eq!(detect(&full[..0x204]), None);
    }

    #[test]
    fn arm64_images() {
        assert_eq!(detect(&arm64_image()), Some("arm64"));
        assert_eq!(detect(&arm64_image()[..59]), None);

        // With an EFI stub it starts with MZ, and PE agrees.
        let mut efi = arm64_image();
        add_pe(&mut efi, 0x40, 0xaa64);
        assert_eq!(detect(&efi), Some("arm64"));

        let mut odd = arm64_image();
        add_pe(&mut odd, 0x40, 0x8664);
        assert_eq!(detect(&odd), None);
    }

    #[test]
    fn arm_zimage() {
        let mut buf = vec![0u8; 0x40];
        put(&mut buf, 0x24, &0x016f_2818u32.to_le_bytes());
        assert_eq!(detect(&buf), Some("arm"));
        // With an EFI stub (Thumb-2 machine) both agree.
        put(&mut buf, 0, b"MZ");
        add_pe(&mut buf, 0x80, 0x01c2);
        assert_eq!(detect(&buf), Some("arm"));
    }

    #[test]
    fn unknown_input() {
        assert_eq!(detect(&[]), None);
        assert_eq!(detect(b"MZ"), None);
        assert_eq!(detect(b"#!/bin/sh\necho hello\n"), None);
        assert_eq!(detect(&[0u8; 8192]), None);
        // Pseudo-random bytes from a fixed linear congruential generator.
        let mut state: u32 = 12345;
        let noise: Vec<u8> = (0..8192)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 16) as u8
            })
            .collect();
        assert_eq!(detect(&noise), None);
    }

    #[test]
    fn file_head() {
        let dir = tempfile::tempdir().unwrap();
        let kernel = dir.path().join("kernel");
        let mut bytes = bzimage(0x020f, 0x0001);
        bytes.resize(HEAD_LEN * 3, 0xff);
        std::fs::write(&kernel, &bytes).unwrap();
        assert_eq!(detect_file(&kernel).unwrap(), Some("amd64"));

        let short = dir.path().join("short");
        std::fs::write(&short, elf_header(false, Endian::Little, 40)).unwrap();
        assert_eq!(detect_file(&short).unwrap(), Some("arm"));

        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(detect_file(&empty).unwrap(), None);

        let missing = dir.path().join("missing");
        let e = detect_file(&missing).unwrap_err();
        assert!(format!("{e:#}").contains("missing"), "{e:#}");
    }

    #[test]
    fn known_names_are_distinct() {
        for (i, a) in KNOWN.iter().enumerate() {
            assert!(!KNOWN[i + 1..].contains(a), "{a} listed twice");
        }
    }
}
