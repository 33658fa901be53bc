//! Inputs shared by the benches: the payloads, the frames a client or server puts on the wire,
//! an in-memory transport for the peers that want a stream, and a waker for the async peers.
//!
//! Every bench builds its input once, outside the timed loop, from these functions, so ours and
//! every peer decode exactly the same bytes.

#![allow(dead_code)]

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use criterion::Criterion;

/// Messages per small-frame workload.
pub const SMALL_COUNT: usize = 10_000;
/// The large payload size.
pub const MIB: usize = 1 << 20;

/// A criterion configuration that keeps the whole suite within minutes on two cores.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

/// A deterministic byte generator (xorshift), so that runs are comparable.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(4) {
            let word = self.next_u32().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// `len` bytes of printable ASCII.
pub fn ascii_text(len: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|_| char::from(b' ' + (rng.next_u32() % 95) as u8))
        .collect()
}

/// Exactly `len` bytes of text mixing one-, two-, three- and four-byte characters (Latin,
/// Greek, CJK, emoji), as chat text in several languages looks.
pub fn mixed_text(len: usize, seed: u64) -> String {
    const PIECES: &[&str] = &[
        "hello ",
        "Grüße ",
        "κόσμε ",
        "日本語 ",
        "😀 ",
        "ça va? ",
        "Привет ",
        "中文 ",
        "🚀",
        "42, ",
    ];
    let mut rng = Rng::new(seed);
    let mut text = String::with_capacity(len);
    loop {
        let piece = PIECES[rng.next_u32() as usize % PIECES.len()];
        if text.len() + piece.len() > len {
            break;
        }
        text.push_str(piece);
    }
    while text.len() < len {
        text.push('x');
    }
    text
}

/// Random binary bytes.
pub fn binary(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0; len];
    Rng::new(seed).fill(&mut data);
    data
}

/// Appends one final RFC 6455 frame of `opcode` carrying `payload`, masked with `key` if given.
pub fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], key: Option<[u8; 4]>) {
    out.push(0x80 | opcode);
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xFFFF {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match key {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
        }
        None => out.extend_from_slice(payload),
    }
}

/// The wire bytes of `payloads` as masked client frames (fresh key per frame).
pub fn masked_frames(opcode: u8, payloads: &[Vec<u8>], seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for payload in payloads {
        push_frame(
            &mut out,
            opcode,
            payload,
            Some(rng.next_u32().to_le_bytes()),
        );
    }
    out
}

/// A decode workload: the payloads and their masked wire bytes.
pub struct Workload {
    pub name: &'static str,
    pub is_text: bool,
    pub payloads: Vec<Vec<u8>>,
    pub wire: Vec<u8>,
}

impl Workload {
    pub fn new(name: &'static str, is_text: bool, payloads: Vec<Vec<u8>>) -> Self {
        let wire = masked_frames(if is_text { 1 } else { 2 }, &payloads, 0xC0FFEE);
        Workload {
            name,
            is_text,
            payloads,
            wire,
        }
    }

    pub fn payload_bytes(&self) -> u64 {
        self.payloads.iter().map(|p| p.len() as u64).sum()
    }
}

/// The decode workloads of the issue: 10,000 small frames and single 1 MiB messages.
pub fn small_workloads() -> Vec<Workload> {
    vec![
        Workload::new(
            "text16_ascii",
            true,
            (0..SMALL_COUNT as u64)
                .map(|i| ascii_text(16, i + 1).into_bytes())
                .collect(),
        ),
        Workload::new(
            "text16_mixed",
            true,
            (0..SMALL_COUNT as u64)
                .map(|i| mixed_text(16, i + 1).into_bytes())
                .collect(),
        ),
        Workload::new(
            "binary125",
            false,
            (0..SMALL_COUNT as u64)
                .map(|i| binary(125, i + 1))
                .collect(),
        ),
    ]
}

pub fn large_workloads() -> Vec<Workload> {
    vec![
        Workload::new("binary_1mib", false, vec![binary(MIB, 7)]),
        Workload::new(
            "text_1mib_ascii",
            true,
            vec![ascii_text(MIB, 7).into_bytes()],
        ),
        Workload::new(
            "text_1mib_mixed",
            true,
            vec![mixed_text(MIB, 7).into_bytes()],
        ),
    ]
}

/// Checks, outside any timed loop, that a decoder delivered exactly the payloads.
pub fn check_payloads(who: &str, workload: &Workload, got: &[Vec<u8>]) {
    assert_eq!(
        got.len(),
        workload.payloads.len(),
        "{who} decoded {} messages of {}, expected {}",
        got.len(),
        workload.name,
        workload.payloads.len()
    );
    for (i, (g, e)) in got.iter().zip(&workload.payloads).enumerate() {
        assert!(
            g == e,
            "{who} decoded message {i} of {} wrongly ({} bytes, expected {})",
            workload.name,
            g.len(),
            e.len()
        );
    }
}

/// Bytes to read, shared so that a bench can rewind a stream owned by a peer's socket type.
#[derive(Clone)]
pub struct Source(Rc<RefCell<(Rc<[u8]>, usize)>>);

impl Source {
    pub fn new(data: &[u8]) -> Self {
        Source(Rc::new(RefCell::new((Rc::from(data), 0))))
    }

    pub fn rewind(&self) {
        self.0.borrow_mut().1 = 0;
    }

    fn read_into(&self, buf: &mut [u8]) -> usize {
        let mut state = self.0.borrow_mut();
        let (data, pos) = &mut *state;
        let n = buf.len().min(data.len() - *pos);
        buf[..n].copy_from_slice(&data[*pos..*pos + n]);
        *pos += n;
        n
    }
}

/// An in-memory transport: reads from a [`Source`]; what is written is counted, and kept when
/// `keep` is set (to check a handshake's answer).
pub struct MemStream {
    pub source: Source,
    pub written: usize,
    pub keep: bool,
    pub kept: Vec<u8>,
}

impl MemStream {
    pub fn new(source: Source) -> Self {
        MemStream {
            source,
            written: 0,
            keep: false,
            kept: Vec::new(),
        }
    }

    fn take(&mut self, buf: &[u8]) {
        self.written += buf.len();
        if self.keep {
            self.kept.extend_from_slice(buf);
        }
    }
}

impl io::Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.source.read_into(buf))
    }
}

impl io::Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.take(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl tokio::io::AsyncRead for MemStream {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.source.read_into(buf.initialize_unfilled());
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for MemStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.take(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

/// Runs a future that never waits (all I/O is in memory) to completion.
pub fn run<F: std::future::Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(NoopWake));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    // In-memory streams are always ready; a bounded number of polls guards against a peer
    // that would wait for something that never comes.
    for _ in 0..1_000_000 {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("an in-memory future did not complete");
}
