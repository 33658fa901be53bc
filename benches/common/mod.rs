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

/// Messages in the JSON corpus of the permessage-deflate bench.
pub const JSON_COUNT: usize = 500;

/// The JSON corpus of the permessage-deflate bench: [`JSON_COUNT`] messages of 100 B to 4 KiB
/// (about 1 MB in all), as an application's WebSocket traffic looks: order updates with
/// customers and line items, chat messages, metric batches, order-book snapshots and
/// heartbeats, with ids, names (some non-ASCII), timestamps and nested arrays. Built from a
/// fixed seed: the same bytes on every run and for every engine.
pub fn json_corpus() -> Vec<String> {
    let mut json = Json {
        rng: Rng::new(0x7692),
        // 2024-05-17T09:12:33.481Z, in milliseconds since the epoch.
        now_ms: 1_715_937_153_481,
        seq: 0,
    };
    (0..JSON_COUNT)
        .map(|_| {
            // Sizes spread evenly over the range, with a heartbeat in eight messages.
            let target = 100 + json.below(4096 - 100);
            let message = match json.below(8) {
                0 => json.heartbeat(),
                1 | 2 => json.order(target),
                3 | 4 => json.chat(target),
                5 | 6 => json.metrics(target),
                _ => json.book(target),
            };
            assert!(
                (100..=4096).contains(&message.len()),
                "corpus message of {} bytes",
                message.len()
            );
            message
        })
        .collect()
}

struct Json {
    rng: Rng,
    now_ms: u64,
    seq: u64,
}

const FIRST: &[&str] = &[
    "Alice",
    "Bruno",
    "Chloé",
    "Dmitri",
    "Emma",
    "Farid",
    "Grace",
    "Hiroshi",
    "Inès",
    "Jonas",
    "Kateřina",
    "Liam",
    "Mei",
    "Noah",
    "Olivia",
    "Paweł",
    "Quentin",
    "Rosa",
    "Søren",
    "Tariq",
];
const LAST: &[&str] = &[
    "Martin",
    "Müller",
    "Rossi",
    "García",
    "Nowak",
    "Dubois",
    "Tanaka",
    "Smith",
    "Johansson",
    "O'Brien",
    "Kowalski",
    "Fernández",
    "Novák",
    "Silva",
    "Schmidt",
    "Yamamoto",
];
const CITIES: &[(&str, &str)] = &[
    ("Paris", "FR"),
    ("Berlin", "DE"),
    ("Madrid", "ES"),
    ("Kraków", "PL"),
    ("Osaka", "JP"),
    ("Toronto", "CA"),
    ("Austin", "US"),
    ("Lyon", "FR"),
    ("Göteborg", "SE"),
    ("Porto", "PT"),
];
const PRODUCTS: &[&str] = &[
    "Wireless mouse",
    "USB-C charger 65W",
    "Mechanical keyboard",
    "27\\\" 4K monitor",
    "Noise-cancelling headphones",
    "Laptop stand",
    "HDMI cable 2m",
    "Webcam 1080p",
    "Desk lamp",
    "Ergonomic chair",
    "Portable SSD 1TB",
    "Phone case",
];
const WORDS: &[&str] = &[
    "the", "deploy", "is", "green", "again", "can", "you", "check", "staging", "before", "we",
    "ship", "I", "think", "cache", "was", "stale", "thanks", "looks", "good", "to", "me", "let's",
    "merge", "after", "lunch", "meeting", "moved", "3pm", "ticket", "numbers", "latency", "p99",
    "dropped", "by", "half", "nice", "work", "👍", "🎉", "ça", "marche", "danke", "schön",
];
const HOSTS: &[&str] = &[
    "api-1",
    "api-2",
    "api-3",
    "worker-1",
    "worker-2",
    "db-primary",
];
const METRICS: &[&str] = &[
    "cpu.user",
    "cpu.system",
    "mem.used_bytes",
    "net.rx_bytes",
    "net.tx_bytes",
    "http.requests",
    "http.latency_ms.p50",
    "http.latency_ms.p99",
];
const SYMBOLS: &[&str] = &["BTC-USD", "ETH-USD", "SOL-USD", "EURUSD", "AAPL", "MSFT"];

impl Json {
    fn below(&mut self, n: usize) -> usize {
        self.rng.next_u32() as usize % n
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }

    /// Advances the clock by up to a second and gives it as an RFC 3339 UTC timestamp.
    fn timestamp(&mut self) -> String {
        self.now_ms += self.below(1000) as u64;
        let ms = self.now_ms;
        let (days, rem) = (ms / 86_400_000, ms % 86_400_000);
        let (year, month, day) = civil_from_days(days as i64);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3_600_000,
            rem / 60_000 % 60,
            rem / 1000 % 60,
            rem % 1000
        )
    }

    /// A random version-4-looking UUID.
    fn uuid(&mut self) -> String {
        let a = self.rng.next_u32();
        let b = self.rng.next_u32();
        let c = self.rng.next_u32();
        let d = self.rng.next_u32();
        format!(
            "{a:08x}-{:04x}-4{:03x}-{:04x}-{:04x}{d:08x}",
            b >> 16,
            b & 0xFFF,
            0x8000 | (c >> 16) & 0x3FFF,
            c & 0xFFFF
        )
    }

    fn person(&mut self) -> (String, String) {
        let first = self.pick(FIRST);
        let last = self.pick(LAST);
        let name = format!("{first} {last}");
        let email = format!(
            "{}.{}{}@example.com",
            first.to_lowercase(),
            last.to_lowercase().replace('\'', ""),
            self.below(100)
        );
        (name, email)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn heartbeat(&mut self) -> String {
        let seq = self.next_seq();
        let ts = self.timestamp();
        let host = self.pick(HOSTS);
        let latency = self.below(250);
        format!(
            r#"{{"type":"heartbeat","seq":{seq},"ts":"{ts}","node":"{host}.eu-west-1","status":"ok","latency_ms":{latency}}}"#
        )
    }

    fn order(&mut self, target: usize) -> String {
        let seq = self.next_seq();
        let id = self.uuid();
        let ts = self.timestamp();
        let customer = 10_000 + self.below(90_000);
        let (name, email) = self.person();
        let (city, country) = CITIES[self.below(CITIES.len())];
        let status = self.pick(&["created", "paid", "packed", "shipped", "delivered"]);
        let tier = self.pick(&["free", "plus", "premium"]);
        let head = format!(
            r#"{{"type":"order.updated","seq":{seq},"id":"{id}","ts":"{ts}","status":"{status}","customer":{{"id":{customer},"name":"{name}","email":"{email}","tier":"{tier}","tags":["newsletter","mobile"],"address":{{"street":"{} rue des Lilas","city":"{city}","postcode":"{:05}","country":"{country}"}}}},"items":["#,
            1 + self.below(120),
            self.below(100_000)
        );
        let mut items = Vec::new();
        let mut total_cents = 0;
        loop {
            let product = self.pick(PRODUCTS);
            let qty = 1 + self.below(4);
            let cents = 499 + self.below(60_000);
            total_cents += qty * cents;
            let item = format!(
                r#"{{"sku":"SKU-{:05}","name":"{product}","qty":{qty},"unit_price":{}.{:02},"currency":"EUR","gift":{}}}"#,
                self.below(100_000),
                cents / 100,
                cents % 100,
                self.below(5) == 0
            );
            let tail = format!(
                r#"],"total":{}.{:02},"currency":"EUR"}}"#,
                total_cents / 100,
                total_cents % 100
            );
            items.push(item);
            let message = format!("{head}{}{tail}", items.join(","));
            if message.len() >= target || message.len() + 140 > 4096 {
                return message;
            }
        }
    }

    fn chat(&mut self, target: usize) -> String {
        let seq = self.next_seq();
        let id = self.uuid();
        let ts = self.timestamp();
        let room = self.pick(&["general", "deploys", "random", "support", "design"]);
        let author = 1000 + self.below(9000);
        let (name, _) = self.person();
        let mut words = Vec::new();
        loop {
            words.push(self.pick(WORDS));
            let text = words.join(" ");
            let message = format!(
                r#"{{"type":"chat.message","seq":{seq},"id":"{id}","ts":"{ts}","room":"{room}","author":{{"id":{author},"name":"{name}","avatar":"https://cdn.example.com/avatars/{author}.png"}},"text":"{text}","mentions":[],"reactions":[{{"emoji":"👍","count":{}}}],"edited":false}}"#,
                self.below(9)
            );
            if message.len() >= target || message.len() + 20 > 4096 {
                return message;
            }
        }
    }

    fn metrics(&mut self, target: usize) -> String {
        let seq = self.next_seq();
        let ts = self.timestamp();
        let host = self.pick(HOSTS);
        let head = format!(
            r#"{{"type":"metrics.batch","seq":{seq},"ts":"{ts}","host":"{host}","region":"eu-west-1","series":["#
        );
        let mut series = Vec::new();
        let mut t = self.now_ms / 1000;
        loop {
            let metric = self.pick(METRICS);
            let points: Vec<String> = (0..6)
                .map(|_| {
                    t += 10;
                    format!("[{t},{}.{}]", self.below(5000), self.below(10))
                })
                .collect();
            series.push(format!(
                r#"{{"name":"{metric}","unit":"{}","tags":{{"service":"checkout","env":"prod"}},"points":[{}]}}"#,
                if metric.ends_with("bytes") { "B" } else { "1" },
                points.join(",")
            ));
            let message = format!("{head}{}]}}", series.join(","));
            if message.len() >= target || message.len() + 260 > 4096 {
                return message;
            }
        }
    }

    fn book(&mut self, target: usize) -> String {
        let seq = self.next_seq();
        let ts = self.timestamp();
        let symbol = self.pick(SYMBOLS);
        let mid = 100 + self.below(60_000);
        let mut levels = 1;
        loop {
            let side = |sign: i64, json: &mut Json| {
                (0..levels)
                    .map(|i| {
                        let price = mid as i64 + sign * (i as i64 + 1) * 5;
                        format!(
                            r#"["{}.{:02}","{}.{:04}"]"#,
                            price / 100,
                            price % 100,
                            json.below(50),
                            json.below(10_000)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let bids = side(-1, self);
            let asks = side(1, self);
            let message = format!(
                r#"{{"type":"book.snapshot","seq":{seq},"ts":"{ts}","symbol":"{symbol}","bids":[{bids}],"asks":[{asks}]}}"#
            );
            if message.len() >= target || message.len() + 60 > 4096 {
                return message;
            }
            levels += 1;
        }
    }
}

/// The civil date of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The minimal codec the engines are measured against: the fewest steps from RFC 6455 frames
/// to payloads and back, with none of the checks a conforming endpoint makes (no limits, no
/// opcode, reserved-bit or masking rules, no fragments, no control frames, no close). What a
/// strict engine's figures are held to: the price of its checks is the distance to these.
pub mod minimal {
    /// Decodes the whole masked frames at the front of `buf`, unmasking each payload in place
    /// and validating text (opcode 1) as UTF-8; gives each payload to `each`. Returns the bytes
    /// taken: a partial frame at the end is left for the next call.
    pub fn decode(buf: &mut [u8], mut each: impl FnMut(&[u8])) -> usize {
        let mut at = 0;
        loop {
            let rest = &mut buf[at..];
            if rest.len() < 2 {
                return at;
            }
            let (len, head) = match (rest[1] & 0x7F, rest.len()) {
                (n @ 0..=125, _) => (usize::from(n), 2),
                (126, 4..) => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
                (127, 10..) => {
                    let bytes: [u8; 8] = rest[2..10].try_into().unwrap();
                    (u64::from_be_bytes(bytes) as usize, 10)
                }
                _ => return at,
            };
            if rest.len() < head + 4 + len {
                return at;
            }
            let key: [u8; 4] = rest[head..head + 4].try_into().unwrap();
            let payload = &mut rest[head + 4..head + 4 + len];
            unmask(payload, key);
            if rest[0] & 0x0F == 1 {
                core::str::from_utf8(&rest[head + 4..head + 4 + len]).expect("minimal: text");
            }
            each(&rest[head + 4..head + 4 + len]);
            at += head + 4 + len;
        }
    }

    /// XOR with the key, a word at a time.
    fn unmask(payload: &mut [u8], k: [u8; 4]) {
        let word = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
        let mut words = payload.chunks_exact_mut(8);
        for w in &mut words {
            let v = u64::from_ne_bytes((&*w).try_into().unwrap()) ^ word;
            w.copy_from_slice(&v.to_ne_bytes());
        }
        for (i, b) in words.into_remainder().iter_mut().enumerate() {
            *b ^= k[i & 3];
        }
    }

    /// Appends a final unmasked (server) frame.
    pub fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
        let len = payload.len();
        out.push(0x80 | opcode);
        if len < 126 {
            out.push(len as u8);
        } else if let Ok(len) = u16::try_from(len) {
            out.push(126);
            out.extend_from_slice(&len.to_be_bytes());
        } else {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(payload);
    }
}
