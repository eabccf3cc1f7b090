//! Parallel gzip whose bytes do not depend on the number of threads, as
//! pigz writes it.
//!
//! The input is cut into blocks of [`BLOCK`] bytes. Each block is deflated
//! on its own, primed with the [`DICTIONARY`] bytes before it as a preset
//! dictionary (so that matches reach back across the cut as in one long
//! stream), and ended with a sync flush (an empty stored block), which
//! leaves it on a byte boundary; the last block is ended with the final
//! block bit instead. The blocks' raw deflate streams, concatenated, are
//! one deflate stream: one gzip member, whose CRC-32 is combined from the
//! blocks' CRCs. A block's bytes depend only on the block and the bytes
//! before it, so the output is the same on one thread or on many: with one
//! core the blocks are compressed in turn on the writing thread, with more
//! they go to one worker per core and come back in order.
//!
//! Memory stays flat: at most two blocks per worker are in flight.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};

use flate2::{Compress, FlushCompress, Status};

/// The uncompressed size of a block: pigz's default.
pub const BLOCK: usize = 128 << 10;
/// How much of the input before a block primes it: deflate's whole window.
pub const DICTIONARY: usize = 32 << 10;
/// The gzip header: no name, no time (MTIME 0), no extra flags, and the
/// OS byte 255 ("unknown", as Go's gzip writes it).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// A writer that gzips what is written to it into `W`; call
/// [`ParallelGzip::finish`] at the end. `flush` passes to `W` without
/// cutting a block, so it cannot change the bytes.
pub struct ParallelGzip<W: Write> {
    out: W,
    /// The block being filled, after the dictionary that primes it.
    block: Vec<u8>,
    /// How much of `block` is dictionary.
    primed: usize,
    /// The CRC-32 of the blocks written so far.
    crc: crc32fast::Hasher,
    /// How many bytes were written to the encoder.
    size: u64,
    /// `None` on one core: blocks are compressed here.
    pool: Option<Pool>,
    /// Sent blocks whose results are still to be written, in order.
    waiting: VecDeque<mpsc::Receiver<io::Result<Done>>>,
    /// The level.
    level: u32,
}

/// A compressed block: its deflate bytes and its CRC-32.
struct Done {
    deflated: Vec<u8>,
    crc: crc32fast::Hasher,
}

/// A block to compress: its bytes after `primed` bytes of dictionary.
struct Job {
    input: Vec<u8>,
    primed: usize,
    last: bool,
    reply: mpsc::SyncSender<io::Result<Done>>,
}

/// The workers and the channel that feeds them.
struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl<W: Write> ParallelGzip<W> {
    /// Starts a gzip stream at `level` into `out`, with `threads` workers
    /// (none below 2: one core compresses on the writing thread).
    pub fn new(mut out: W, level: u32, threads: usize) -> io::Result<Self> {
        out.write_all(&HEADER)?;
        let pool = (threads > 1).then(|| Pool::start(threads, level));
        Ok(ParallelGzip {
            out,
            block: Vec::with_capacity(BLOCK),
            primed: 0,
            crc: crc32fast::Hasher::new(),
            size: 0,
            pool,
            waiting: VecDeque::new(),
            level,
        })
    }

    /// Compresses what is left, writes the trailer and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.send(true)?;
        while !self.waiting.is_empty() {
            self.write_oldest()?;
        }
        self.out.write_all(&self.crc.clone().finalize().to_le_bytes())?;
        // ISIZE is the length modulo 2^32.
        self.out.write_all(&(self.size as u32).to_le_bytes())?;
        // Dropping the pool ends the workers.
        self.pool = None;
        Ok(self.out)
    }

    /// Hands the block (after its dictionary) to a worker, or compresses it
    /// here on one core, and starts the next block primed with its end.
    fn send(&mut self, last: bool) -> io::Result<()> {
        let next = next_block(&self.block);
        let input = std::mem::replace(&mut self.block, next);
        let primed = std::mem::replace(&mut self.primed, self.block.len());
        match &self.pool {
            Some(pool) => {
                let (reply, result) = mpsc::sync_channel(1);
                pool.send(Job { input, primed, last, reply })?;
                self.waiting.push_back(result);
                if self.waiting.len() > 2 * pool.workers.len() {
                    self.write_oldest()?;
                }
                Ok(())
            }
            None => {
                let done = deflate_block(self.level, &input, primed, last)?;
                self.write_done(done)
            }
        }
    }

    /// Waits for the oldest block in flight and writes it.
    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(result) = self.waiting.pop_front() else { return Ok(()) };
        let done = result.recv().map_err(|_| io::Error::other("internal: a gzip compression thread stopped"))??;
        self.write_done(done)
    }

    fn write_done(&mut self, done: Done) -> io::Result<()> {
        self.crc.combine(&done.crc);
        self.out.write_all(&done.deflated)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.primed + BLOCK - self.block.len();
        let n = data.len().min(room);
        self.block.extend_from_slice(&data[..n]);
        self.size += n as u64;
        if n == room {
            self.send(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A new block buffer holding the dictionary for the block after `block`:
/// its last [`DICTIONARY`] bytes (dictionary included, for a short block).
fn next_block(block: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(DICTIONARY + BLOCK);
    next.extend_from_slice(&block[block.len().saturating_sub(DICTIONARY)..]);
    next
}

impl Pool {
    fn start(threads: usize, level: u32) -> Pool {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let workers = (0..threads)
            .map(|_| {
                let queue = Arc::clone(&queue);
                thread::spawn(move || work(&queue, level))
            })
            .collect();
        Pool { jobs: Some(jobs), workers }
    }

    fn send(&self, job: Job) -> io::Result<()> {
        let stopped = || io::Error::other("internal: the gzip compression threads stopped");
        self.jobs.as_ref().ok_or_else(stopped)?.send(job).map_err(|_| stopped())
    }
}

impl Drop for Pool {
    /// Ends the workers: closing the queue stops each after its job in hand.
    fn drop(&mut self) {
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// A worker: compresses the jobs from `queue` until the pool closes it.
fn work(queue: &Mutex<mpsc::Receiver<Job>>, level: u32) {
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(Job { input, primed, last, reply }) = job else { return };
        // The writer may be gone after an error; the result is then dropped.
        let _ = reply.send(deflate_block(level, &input, primed, last));
    }
}

/// Deflates `input[primed..]` primed with `input[..primed]`, ended with a
/// sync flush, or as the final block when `last`.
///
/// Each block gets a new compressor (raw deflate, the whole window), whose
/// window starts zeroed. A reused one would not do: near the end of its
/// input, deflate compares candidate matches against window bytes past
/// the data, left over from the compressor's previous block, and they can
/// decide which of two equally long matches it keeps, so the bytes would
/// depend on which worker had which block before.
fn deflate_block(level: u32, input: &[u8], primed: usize, last: bool) -> io::Result<Done> {
    let failed = |e: flate2::CompressError| io::Error::other(format!("gzip: {e}"));
    let mut deflate = Compress::new(flate2::Compression::new(level), false);
    if primed > 0 {
        deflate.set_dictionary(&input[..primed]).map_err(failed)?;
    }
    let data = &input[primed..];
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    // Deflate rarely grows data by more than a little; room is added if it does.
    let mut deflated = Vec::with_capacity(data.len() + data.len() / 8 + 64);
    let start = deflate.total_in();
    loop {
        let consumed = (deflate.total_in() - start) as usize;
        let status = deflate.compress_vec(&data[consumed..], &mut deflated, flush).map_err(failed)?;
        let all_in = (deflate.total_in() - start) as usize == data.len();
        let room_left = deflated.len() < deflated.capacity();
        match status {
            Status::StreamEnd => break,
            Status::Ok | Status::BufError if !last && all_in && room_left => break,
            _ => deflated.reserve(deflated.capacity().max(4096)),
        }
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(data);
    Ok(Done { deflated, crc })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Input that compresses a little, with repeats that reach across
    /// block boundaries.
    fn input(len: usize) -> Vec<u8> {
        let mut x: u32 = 7;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                if i % 1000 < 600 { (i % 97) as u8 } else { (x % 7) as u8 }
            })
            .collect()
    }

    fn gzip(data: &[u8], threads: usize, chunk: usize) -> Vec<u8> {
        let mut gz = ParallelGzip::new(Vec::new(), 6, threads).unwrap();
        for piece in data.chunks(chunk.max(1)) {
            gz.write_all(piece).unwrap();
        }
        gz.finish().unwrap()
    }

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(gz).read_to_end(&mut plain).unwrap();
        plain
    }

    #[test]
    fn the_bytes_do_not_depend_on_threads_or_write_sizes() {
        let data = input(9 * BLOCK + 1234);
        let one = gzip(&data, 1, 1 << 20);
        for (threads, chunk) in [(2, 1000), (3, BLOCK), (8, 77_777), (1, 3)] {
            assert_eq!(gzip(&data, threads, chunk), one, "{threads} threads, writes of {chunk}");
        }
        assert_eq!(gunzip(&one), data);
    }

    #[test]
    fn edges_round_trip_as_one_member() {
        for len in [0, 1, DICTIONARY, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 3 * BLOCK + DICTIONARY + 5] {
            let data = input(len);
            let gz = gzip(&data, 2, 4096);
            // One member: a decoder that stops after the first member still gets everything.
            assert_eq!(gunzip(&gz), data, "{len} bytes");
            assert_eq!(&gz[gz.len() - 4..], &(len as u32).to_le_bytes(), "ISIZE of {len} bytes");
            assert_eq!(&gz[gz.len() - 8..gz.len() - 4], &crc32fast::hash(&data).to_le_bytes());
        }
    }

    #[test]
    fn priming_keeps_matches_across_blocks() {
        // Random bytes repeated across a cut: primed, the repeat costs almost nothing.
        let mut x: u32 = 1;
        let noise: Vec<u8> = (0..BLOCK)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        // The second block repeats the first block's last 16 KiB, which
        // deflate reaches only through the dictionary.
        let twice = [&noise[..], &noise[BLOCK - DICTIONARY / 2..]].concat();
        let gz = gzip(&twice, 2, BLOCK);
        assert!(gz.len() < BLOCK + DICTIONARY / 8, "{} bytes", gz.len());
    }
}
