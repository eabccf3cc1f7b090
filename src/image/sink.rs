//! Where a blob's bytes go: straight into the output file at its cursor,
//! while a second thread hashes them right behind the writer.
//!
//! Small pieces (tar headers, padding, small files, compressed output) are
//! gathered in a buffer and written in large runs. A host file's bytes are
//! moved by the kernel (`copy_file_range`, which std's `io::copy` uses
//! between files, and which shares the blocks as a reflink where the file
//! system can) without passing through this process. Either way, the
//! hashing thread reads the bytes back from the output file as soon as
//! they have landed, while they are still in the page cache, on the other
//! core: the digest is of exactly the bytes written, even if a source
//! changes meanwhile, and a blob costs about the longer of one copy and
//! one hash rather than their sum. Memory stays at two buffers, whatever
//! the blob's size.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::sync::mpsc;
use std::thread;

use anyhow::{Context, Result, anyhow};
use sha2::{Digest, Sha256};

use crate::model::oci::hex;

/// Small writes are gathered up to this size.
const BUFFER: usize = 1 << 20;
/// The hasher reads back in pieces of this size.
const HASH_BUFFER: usize = 1 << 20;
/// A kernel copy is cut into pieces of this size, so that the hasher can
/// start on each piece while the next one is copied.
const COPY_PIECE: u64 = 8 << 20;

/// The digest and size of what a sink received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hashed {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Bytes written.
    pub size: u64,
}

/// A blob being written at the cursor of the output file.
pub struct Sink<'f> {
    file: &'f File,
    /// The offset of the next byte.
    pos: u64,
    buf: Vec<u8>,
    /// Tells the hasher how far the file has been written.
    landed: mpsc::Sender<u64>,
}

/// Writes one blob at the cursor of `file` (which must be open for reading
/// too) with `body`, hashing it on a second thread; leaves the cursor at
/// the blob's end.
pub fn write_hashed<T>(file: &File, body: impl FnOnce(&mut Sink) -> Result<T>) -> Result<(T, Hashed)> {
    let start = (&mut &*file).stream_position().context("cannot tell the output's position")?;
    let (landed, progress) = mpsc::channel();
    thread::scope(|scope| {
        let hasher = scope.spawn(move || hash_behind(file, start, progress));
        let mut sink = Sink { file, pos: start, buf: Vec::with_capacity(BUFFER), landed };
        let written = body(&mut sink).and_then(|t| sink.flush_buffer().map(|()| t).context("writing the output"));
        // Closing the channel tells the hasher that nothing more comes.
        drop(sink);
        let hashed = hasher.join().map_err(|_| anyhow!("internal: the hashing thread panicked"))?;
        let value = written?;
        let hashed = hashed.context("reading back the output to hash it")?;
        Ok((value, hashed))
    })
}

impl Sink<'_> {
    /// Copies `len` bytes of `src` from `offset` into the blob, letting the
    /// kernel move them where it can. Returns how many bytes there were:
    /// fewer than `len` when `src` ends early.
    pub fn copy_file(&mut self, src: &File, offset: u64, len: u64) -> io::Result<u64> {
        self.flush_buffer()?;
        (&mut &*src).seek(SeekFrom::Start(offset))?;
        let mut left = len;
        while left > 0 {
            let piece = left.min(COPY_PIECE);
            let n = io::copy(&mut src.take(piece), &mut &*self.file)?;
            self.advance(n);
            left -= n;
            if n < piece {
                break;
            }
        }
        Ok(len - left)
    }

    fn flush_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        (&mut &*self.file).write_all(&self.buf)?;
        let n = self.buf.len() as u64;
        self.buf.clear();
        self.advance(n);
        Ok(())
    }

    fn advance(&mut self, n: u64) {
        self.pos += n;
        // A hasher that has stopped has failed, and says so when joined.
        let _ = self.landed.send(self.pos);
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BUFFER {
            self.flush_buffer()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_buffer()
    }
}

/// Hashes `file` from `start` up to each offset `progress` reports, until
/// the sender is dropped.
fn hash_behind(file: &File, start: u64, progress: mpsc::Receiver<u64>) -> io::Result<Hashed> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; HASH_BUFFER];
    let mut at = start;
    for end in progress {
        while at < end {
            let want = usize::try_from(end - at).unwrap_or(usize::MAX).min(buf.len());
            let n = file.read_at(&mut buf[..want], at)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the output is shorter than written"));
            }
            hasher.update(&buf[..n]);
            at += n as u64;
        }
    }
    Ok(Hashed { digest: format!("sha256:{}", hex(&hasher.finalize())), size: at - start })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::oci::sha256_digest;

    #[test]
    fn hashes_exactly_what_lands_in_the_file_at_its_cursor() {
        let mut out = tempfile::tempfile().unwrap();
        out.write_all(b"before").unwrap();
        let mut src = tempfile::tempfile().unwrap();
        let big: Vec<u8> = (0..(COPY_PIECE as usize * 2 + 12345)).map(|i| (i % 251) as u8).collect();
        src.write_all(&big).unwrap();
        let ((), hashed) = write_hashed(&out, |sink| {
            sink.write_all(b"head")?;
            assert_eq!(sink.copy_file(&src, 7, big.len() as u64 - 7)?, big.len() as u64 - 7);
            sink.write_all(&[1; BUFFER + 3])?;
            Ok(())
        })
        .unwrap();
        let mut expected = b"head".to_vec();
        expected.extend_from_slice(&big[7..]);
        expected.extend_from_slice(&[1; BUFFER + 3]);
        assert_eq!(hashed, Hashed { digest: sha256_digest(&expected), size: expected.len() as u64 });
        assert_eq!(out.stream_position().unwrap(), 6 + expected.len() as u64);
        let mut all = Vec::new();
        out.seek(SeekFrom::Start(0)).unwrap();
        out.read_to_end(&mut all).unwrap();
        assert_eq!(&all[..6], b"before");
        assert_eq!(&all[6..], &expected[..]);
    }

    #[test]
    fn a_short_source_is_reported() {
        let out = tempfile::tempfile().unwrap();
        let mut src = tempfile::tempfile().unwrap();
        src.write_all(b"12345").unwrap();
        let (copied, hashed) = write_hashed(&out, |sink| Ok(sink.copy_file(&src, 0, 10)?)).unwrap();
        assert_eq!(copied, 5);
        assert_eq!(hashed.digest, sha256_digest(b"12345"));
    }

    #[test]
    fn an_error_in_the_body_is_returned() {
        let out = tempfile::tempfile().unwrap();
        let err = write_hashed(&out, |sink| -> Result<()> {
            sink.write_all(b"x")?;
            anyhow::bail!("stop")
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "stop");
    }
}
