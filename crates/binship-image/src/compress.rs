//! Layer compression: [`ParGzWriter`] (parallel, pigz-style single-member gzip whose bytes do
//! not depend on the number of threads), zstd (always with >= 1 worker) and none, behind one
//! [`Compressor`] writer.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression as Level, FlushCompress, Status};

/// Input bytes per gzip chunk: fixed, so the output is the same on any machine.
pub const GZIP_CHUNK: usize = 1 << 20;

/// Threads to use for compression: the machine's cores.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

struct Job {
    index: usize,
    data: Vec<u8>,
    last: bool,
}

type Done = (usize, Vec<u8>, crc32fast::Hasher);

/// Compresses one chunk into raw deflate: sync-flushed (byte-aligned, not final) unless `last`.
fn deflate_chunk(data: &[u8], level: u32, last: bool) -> Vec<u8> {
    let mut c = Compress::new(Level::new(level), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 4096);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .expect("deflate");
        let all_in = c.total_in() as usize == data.len();
        if last {
            if status == Status::StreamEnd {
                break;
            }
        } else if all_in && out.len() < out.capacity() {
            break;
        }
    }
    out
}

/// A gzip writer that compresses fixed-size chunks on all cores and writes one gzip member.
pub struct ParGzWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    jobs: Option<Sender<Job>>,
    results: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    sent: usize,
    written: usize,
    pending: BTreeMap<usize, (Vec<u8>, crc32fast::Hasher)>,
    crc: crc32fast::Hasher,
    len: u64,
    max_in_flight: usize,
}

impl<W: Write> ParGzWriter<W> {
    pub fn new(mut inner: W, level: u32, threads: usize) -> io::Result<Self> {
        // Fixed header: no name, mtime 0, OS unknown.
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
        let (job_tx, job_rx) = channel::<Job>();
        let (res_tx, res_rx) = channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let threads = threads.max(1);
        let workers = (0..threads)
            .map(|_| {
                let rx = Arc::clone(&job_rx);
                let tx = res_tx.clone();
                std::thread::spawn(move || loop {
                    let job = match rx.lock().unwrap().recv() {
                        Ok(j) => j,
                        Err(_) => return,
                    };
                    let mut crc = crc32fast::Hasher::new();
                    crc.update(&job.data);
                    let out = deflate_chunk(&job.data, level, job.last);
                    if tx.send((job.index, out, crc)).is_err() {
                        return;
                    }
                })
            })
            .collect();
        Ok(ParGzWriter {
            inner,
            buf: Vec::with_capacity(GZIP_CHUNK),
            jobs: Some(job_tx),
            results: res_rx,
            workers,
            sent: 0,
            written: 0,
            pending: BTreeMap::new(),
            crc: crc32fast::Hasher::new(),
            len: 0,
            max_in_flight: threads * 2,
        })
    }

    fn send(&mut self, last: bool) -> io::Result<()> {
        let data = std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(if last { 0 } else { GZIP_CHUNK }),
        );
        self.len += data.len() as u64;
        let job = Job {
            index: self.sent,
            data,
            last,
        };
        self.sent += 1;
        self.jobs
            .as_ref()
            .expect("not finished")
            .send(job)
            .map_err(|_| io::Error::other("gzip worker stopped"))?;
        while self.sent - self.written > self.max_in_flight {
            self.drain_one()?;
        }
        Ok(())
    }

    /// Waits for one result and writes every chunk that is next in order.
    fn drain_one(&mut self) -> io::Result<()> {
        let (i, out, crc) = self
            .results
            .recv()
            .map_err(|_| io::Error::other("gzip worker died"))?;
        self.pending.insert(i, (out, crc));
        while let Some((out, crc)) = self.pending.remove(&self.written) {
            self.inner.write_all(&out)?;
            self.crc.combine(&crc);
            self.written += 1;
        }
        Ok(())
    }

    /// Compresses what is left, writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.send(true)?;
        while self.written < self.sent {
            self.drain_one()?;
        }
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        let crc = std::mem::replace(&mut self.crc, crc32fast::Hasher::new()).finalize();
        let len = self.len as u32;
        self.inner.write_all(&crc.to_le_bytes())?;
        self.inner.write_all(&len.to_le_bytes())?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ParGzWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = GZIP_CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == GZIP_CHUNK {
            self.send(false)?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One of the three layer encodings, as a writer.
pub enum Compressor<W: Write> {
    None(W),
    Gzip(ParGzWriter<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(g) => g.finish(),
            Compressor::Zstd(z) => z.finish(),
        }
    }
}

/// A zstd encoder with `threads` (>= 1) workers, so the bytes do not depend on the machine.
pub fn zstd_writer<W: Write>(
    w: W,
    level: i32,
    threads: usize,
) -> io::Result<zstd::stream::write::Encoder<'static, W>> {
    let mut e = zstd::stream::write::Encoder::new(w, level)?;
    e.multithread(threads.max(1) as u32)?;
    // Jobs of 2 MiB: zstdmt's default (4x the window, with overlap) made packing a 1 GiB binary
    // peak at ~116 MB RSS; 2 MiB jobs keep it under 64 MB (bench/limits.sh). Fixed, so outputs
    // stay reproducible.
    e.set_parameter(zstd::stream::raw::CParameter::JobSize(2 << 20))?;
    e.include_checksum(false)?;
    Ok(e)
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(g) => g.write(buf),
            Compressor::Zstd(z) => z.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(g) => g.flush(),
            Compressor::Zstd(z) => z.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(n: usize) -> Vec<u8> {
        // Compressible but not trivial.
        (0..n)
            .map(|i| ((i * 7919) % 251) as u8 ^ ((i / 4096) as u8))
            .collect()
    }

    fn gz(data: &[u8], threads: usize) -> Vec<u8> {
        let mut w = ParGzWriter::new(Vec::new(), 6, threads).unwrap();
        for c in data.chunks(100_000) {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn parallel_gzip_is_one_member_and_independent_of_threads() {
        let data = sample(3 * GZIP_CHUNK + 12345);
        let one = gz(&data, 1);
        assert_eq!(one, gz(&data, 3));
        // A single-member decoder (GzDecoder stops after the first member) reads it all.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&one[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        assert!(one.len() < data.len() / 2);
    }

    #[test]
    fn empty_and_exact_chunk_inputs() {
        for n in [0, 1, GZIP_CHUNK, 2 * GZIP_CHUNK] {
            let data = sample(n);
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&gz(&data, 2)[..])
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{n}");
        }
    }

    #[test]
    fn zstd_is_independent_of_threads() {
        let data = sample(5 << 20);
        let enc = |t| {
            let mut w = zstd_writer(Vec::new(), 3, t).unwrap();
            w.write_all(&data).unwrap();
            w.finish().unwrap()
        };
        let a = enc(1);
        assert_eq!(a, enc(2));
        assert_eq!(zstd::decode_all(&a[..]).unwrap(), data);
    }
}
