//! Deterministic layer compression: the one place that turns a tar stream
//! into a gzip or zstd blob, for `build --compression` and for anything
//! else that writes layers (`push` recompresses with the same encoders).
//!
//! Both encoders use every core the process may run on, and their bytes do
//! not depend on how many that is. gzip is cut into blocks compressed in
//! parallel, pigz's way ([`gzip`](super::gzip)); zstd always runs
//! libzstd's multi-threaded mode, with at least one worker even on one
//! core, because that mode's output is the same for any number of workers
//! but differs from the single-threaded format. Every other setting that
//! shapes the output is fixed here: the level, the gzip header (no file
//! name, MTIME 0, OS 255 "unknown", as Go's gzip writes it), zstd's job and
//! overlap sizes and frame fields. The encoders compute the same bytes on
//! every machine: zlib-rs (flate2's backend) picks SIMD routines at run
//! time, but only ones that give the same results as its portable code
//! (match lengths, CRCs, hash-table slides; its hash function is fixed);
//! libzstd 1.6.0 is built from the source pinned in Cargo.lock, at a level
//! whose match finder does not depend on SIMD support. A new version of
//! either may compress differently; the tests pin the digests of a fixed
//! input so that such a change is noticed and goes into CHANGELOG.md.

use std::io::{self, Write};

use anyhow::{Context, Result};
use zstd::zstd_safe::CParameter;

use super::gzip::ParallelGzip;
pub use crate::model::oci::Compression;

/// The gzip level: zlib's default, the usual trade of size for time.
pub const GZIP_LEVEL: u32 = 6;
/// The zstd level: zstd's default (strategy `dfast`).
pub const ZSTD_LEVEL: i32 = 3;
/// The input of one zstd job: libzstd's default at level 3 (4 windows of
/// 2 MiB), pinned because the job boundaries shape the output.
const ZSTD_JOB_SIZE: u32 = 8 << 20;
/// How much of the previous job's input primes each zstd job, as a log:
/// 6 is 1/8 of the window, libzstd's default for `dfast`.
const ZSTD_OVERLAP_LOG: u32 = 6;

/// How many threads compress: one per core this process may use (its CPU
/// affinity and cgroup quota count), at least one.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// A writer that compresses everything written to it into `W`. Call
/// [`Encoder::finish`] at the end: it writes the trailer and hands `W` back.
/// Never flush it mid-stream: a zstd flush ends a job early, which changes
/// the bytes (gzip's flush only reaches `W`).
pub struct Encoder<W: Write>(Inner<W>);

enum Inner<W: Write> {
    None(W),
    Gzip(ParallelGzip<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

/// Wraps `out` so that what is written to it lands in `out` compressed
/// with `compression` (`None` passes the bytes through), on every core.
pub fn encoder<W: Write>(compression: Compression, out: W) -> Result<Encoder<W>> {
    encoder_on(compression, out, threads())
}

/// [`encoder`] with `threads` threads (at least one); the bytes are the same
/// for any number.
fn encoder_on<W: Write>(compression: Compression, out: W, threads: usize) -> Result<Encoder<W>> {
    let inner = match compression {
        Compression::None => Inner::None(out),
        Compression::Gzip => Inner::Gzip(ParallelGzip::new(out, GZIP_LEVEL, threads).context("cannot start gzip")?),
        Compression::Zstd => {
            let mut zstd = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL).context("cannot start zstd")?;
            let workers = u32::try_from(threads.max(1)).unwrap_or(u32::MAX);
            zstd.multithread(workers).context("cannot start zstd's worker threads")?;
            zstd.set_parameter(CParameter::JobSize(ZSTD_JOB_SIZE)).context("cannot set up zstd")?;
            zstd.set_parameter(CParameter::OverlapSizeLog(ZSTD_OVERLAP_LOG)).context("cannot set up zstd")?;
            // libzstd's defaults today, set so that a change of default cannot change our bytes.
            zstd.include_checksum(false).context("cannot set up zstd")?;
            zstd.include_contentsize(false).context("cannot set up zstd")?;
            zstd.include_dictid(false).context("cannot set up zstd")?;
            zstd.long_distance_matching(false).context("cannot set up zstd")?;
            Inner::Zstd(zstd)
        }
    };
    Ok(Encoder(inner))
}

impl<W: Write> Encoder<W> {
    /// Ends the stream (gzip and zstd trailers) and returns the writer.
    pub fn finish(self) -> io::Result<W> {
        match self.0 {
            Inner::None(w) => Ok(w),
            Inner::Gzip(gz) => gz.finish(),
            Inner::Zstd(zstd) => zstd.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Inner::None(w) => w.write(buf),
            Inner::Gzip(gz) => gz.write(buf),
            Inner::Zstd(zstd) => zstd.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.0 {
            Inner::None(w) => w.write_all(buf),
            Inner::Gzip(gz) => gz.write_all(buf),
            Inner::Zstd(zstd) => zstd.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Inner::None(w) => w.flush(),
            Inner::Gzip(gz) => gz.flush(),
            Inner::Zstd(zstd) => zstd.flush(),
        }
    }
}

/// Compresses all of `input` with `compression` into `out`, returning
/// `out`: the whole job for a caller that has a reader (a layer to
/// recompress, for example).
pub fn compress<W: Write>(compression: Compression, input: &mut dyn io::Read, out: W) -> Result<W> {
    let mut encoder = encoder(compression, out)?;
    io::copy(input, &mut encoder).with_context(|| format!("compressing with {}", compression.name()))?;
    encoder.finish().with_context(|| format!("finishing the {} stream", compression.name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::oci::sha256_digest;

    /// A fixed input: 1 MiB of a tar-like mix of text, zeros and noise
    /// from a fixed-seed generator, so both encoders have work to do.
    fn fixed_input() -> Vec<u8> {
        let mut out = Vec::with_capacity(1 << 20);
        let mut x: u32 = 0x2545_f491;
        while out.len() < 1 << 20 {
            out.extend_from_slice(b"com.urunc.unikernel.binary=/boot/kernel\n");
            out.extend_from_slice(&[0; 300]);
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                out.push((x % 23) as u8 + b'a');
            }
        }
        out.truncate(1 << 20);
        out
    }

    fn compressed(compression: Compression) -> Vec<u8> {
        compress(compression, &mut &fixed_input()[..], Vec::new()).unwrap()
    }

    /// The digests a compressor change would move: if one of these fails,
    /// the compressed bytes of every user's layers change too. Update the
    /// pins only together with an entry in CHANGELOG.md.
    #[test]
    fn pinned_digests_of_a_fixed_input() {
        assert_eq!(
            sha256_digest(&fixed_input()),
            "sha256:0ff85897cbf49a2faac5025e893ed5e46053f0692cc0d0b84f78973d6e654dab"
        );
        assert_eq!(
            sha256_digest(&compressed(Compression::Gzip)),
            "sha256:a1f4570d32c3bf4de20c150b8044ddfd0e164eaeec6aab9daf702fbf2d378cd6"
        );
        assert_eq!(
            sha256_digest(&compressed(Compression::Zstd)),
            "sha256:837ddc99470c360c53132d14b9f68175fcfab2dd5855a5c99c7f9867c374689f"
        );
    }

    #[test]
    fn none_passes_bytes_through() {
        assert_eq!(compressed(Compression::None), fixed_input());
    }

    #[test]
    fn gzip_header_has_no_name_no_time_and_os_unknown() {
        let gz = compressed(Compression::Gzip);
        // ID1 ID2 CM FLG MTIME(4) XFL OS
        assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0], "no FNAME, FEXTRA, FCOMMENT or FHCRC flag");
        assert_eq!(&gz[4..8], &[0, 0, 0, 0], "MTIME is 0");
        assert_eq!(gz[9], 255, "OS is unknown");
    }

    #[test]
    fn both_decompress_to_the_input() {
        let input = fixed_input();
        let mut plain = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&compressed(Compression::Gzip)[..]), &mut plain)
            .unwrap();
        assert_eq!(plain, input);
        // Read back with ruzstd, another implementation than the encoder's.
        let mut plain = Vec::new();
        let zstd = compressed(Compression::Zstd);
        io::Read::read_to_end(&mut ruzstd::decoding::StreamingDecoder::new(&zstd[..]).unwrap(), &mut plain).unwrap();
        assert_eq!(plain, input);
        assert_eq!(Compression::sniff(&compressed(Compression::Zstd)), Compression::Zstd);
        assert_eq!(Compression::sniff(&compressed(Compression::Gzip)), Compression::Gzip);
    }

    /// Two zstd jobs and many gzip blocks, on 1 to 3 threads, written in
    /// pieces of an odd size: the same bytes every time.
    #[test]
    fn the_bytes_do_not_depend_on_the_number_of_threads() {
        let input: Vec<u8> = fixed_input().into_iter().cycle().take(ZSTD_JOB_SIZE as usize + (3 << 20)).collect();
        for c in [Compression::Gzip, Compression::Zstd] {
            let on = |threads| {
                let mut encoder = encoder_on(c, Vec::new(), threads).unwrap();
                for piece in input.chunks(100_003) {
                    encoder.write_all(piece).unwrap();
                }
                encoder.finish().unwrap()
            };
            let one = on(1);
            assert_eq!(on(2), one, "{}", c.name());
            assert_eq!(on(3), one, "{}", c.name());
            assert_eq!(compress(c, &mut &input[..], Vec::new()).unwrap(), one, "{}", c.name());
        }
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        for c in Compression::ALL {
            assert_eq!(compressed(c), compressed(c), "{}", c.name());
        }
    }

    #[test]
    fn names_and_media_types() {
        for c in Compression::ALL {
            assert_eq!(Compression::parse(c.name()), Some(c));
        }
        assert_eq!(Compression::parse("xz"), None);
        assert_eq!(Compression::Gzip.layer_media_type(), "application/vnd.oci.image.layer.v1.tar+gzip");
        assert_eq!(Compression::Zstd.layer_media_type(), "application/vnd.oci.image.layer.v1.tar+zstd");
        assert_eq!(Compression::None.layer_media_type(), "application/vnd.oci.image.layer.v1.tar");
    }
}
