//! Proof that wsmachine needs neither std nor alloc: a `#![no_std]`, `#![no_main]` binary with
//! no allocator that depends on the crate with default features off.
//!
//! If std leaked into the crate (an unconditional `extern crate std`, a dependency with its
//! `std` feature on), this binary would not even type-check: std brings a second
//! `panic_impl` lang item beside the `#[panic_handler]` below.
//!
//! It also runs: a client and a server `Connection` talk to each other over byte arrays on the
//! stack, for hybi-13 and hixie-76, and every event is checked. libc provides only the start-up
//! code, `write` and `exit`. The last line printed is `no_std: ok ...` on success; a failed
//! check prints `no_std: FAILED ...` and exits with 1.

#![no_std]
#![no_main]

use core::fmt::{self, Write};

use wsmachine::{
    Accept, Buffers, ClientRequest, CloseCode, Config, Connection, Entropy, Error, Event,
    KeySource, State, Storage, UsageError, Version,
};

extern "C" {
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
    fn exit(code: i32) -> !;
}

/// A file descriptor written through libc.
struct Fd(i32);

impl Write for Fd {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut bytes = s.as_bytes();
        while !bytes.is_empty() {
            // SAFETY: the pointer and length describe a live, initialised slice.
            let n = unsafe { write(self.0, bytes.as_ptr(), bytes.len()) };
            if n <= 0 {
                return Err(fmt::Error);
            }
            bytes = &bytes[n as usize..];
        }
        Ok(())
    }
}

macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(Fd(1), $($arg)*);
    }};
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let _ = writeln!(Fd(2), "no_std: FAILED: {info}");
    // SAFETY: libc's exit ends the process; nothing runs after it.
    unsafe { exit(1) }
}

/// The precompiled `core` refers to the unwinding personality even with `panic = "abort"`;
/// nothing ever unwinds here, so it is never called.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

/// Client randomness (masking keys, `Sec-WebSocket-Key`, hixie-76 keys). A device would read
/// its hardware generator; a fixed seed keeps this check reproducible.
struct XorShift(u32);

impl Entropy for XorShift {
    fn fill(&mut self, dest: &mut [u8]) {
        for byte in dest {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            *byte = self.0 as u8;
        }
    }
}

/// Bytes of each buffer: input, output and message reassembly, per connection.
const BUF: usize = 1024;

/// Limits that fit the fixed buffers, so that a peer is refused before it could overflow one.
fn config() -> Config {
    let mut config = Config::new();
    config.limits.max_handshake_bytes = BUF - 32;
    config.limits.max_frame_payload = BUF - 16;
    config.limits.max_message_size = BUF;
    config.limits.max_hixie_frame = BUF - 16;
    config.limits.max_queued_output = BUF;
    config
}

/// Counts the checks that passed; a failed one panics, which prints and exits with 1.
struct Checks(u32);

impl Checks {
    #[track_caller]
    fn that(&mut self, ok: bool, what: &str) {
        if !ok {
            panic!("check failed: {what}");
        }
        self.0 += 1;
    }
}

/// Moves everything `from` has to send into `to`, as a transport would.
fn pump<A: Storage, RA: KeySource, B: Storage, RB: KeySource>(
    from: &mut Connection<A, RA>,
    to: &mut Connection<B, RB>,
) -> usize {
    let mut moved = 0;
    for _ in 0..64 {
        let out = from.pending_output();
        if out.is_empty() {
            return moved;
        }
        let n = to.receive(out);
        if n == 0 {
            panic!("the peer's input is full");
        }
        from.consume_output(n);
        moved += n;
    }
    panic!("output did not drain");
}

/// `poll_event` must have nothing more to say.
fn quiet<S: Storage, R: KeySource>(conn: &mut Connection<S, R>, checks: &mut Checks, who: &str) {
    let idle = matches!(conn.poll_event(), Ok(None));
    checks.that(idle, who);
}

const TEXT: &str = "hello from a no_std client: ünïcödé too";
const BINARY: [u8; 6] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

fn run(version: Version, mem: &mut [[u8; BUF]; 6], checks: &mut Checks) {
    let name = version.as_str();
    let [ci, co, cm, si, so, sm] = mem;
    let request = ClientRequest::new("localhost", "/no_std?room=1")
        .version(version)
        .protocols(&["chat"]);
    let buffers = Buffers {
        input: &mut ci[..],
        output: &mut co[..],
        message: &mut cm[..],
    };
    let mut client = Connection::client_with(&request, config(), buffers, XorShift(0x2545_f491))
        .expect("client request");
    let buffers = Buffers {
        input: &mut si[..],
        output: &mut so[..],
        message: &mut sm[..],
    };
    let mut server = Connection::server_with(config(), buffers);

    // Opening handshake.
    let request_len = pump(&mut client, &mut server);
    match server.poll_event().expect("server: request") {
        Some(Event::Request(req)) => {
            checks.that(req.version() == Some(version), "server: version detected");
            checks.that(req.path() == "/no_std", "server: path");
            checks.that(req.query() == Some("room=1"), "server: query");
            checks.that(req.protocols().any(|p| p == "chat"), "server: offer");
        }
        other => panic!("server: expected the request, got {other:?}"),
    }
    server
        .accept(Accept::new().protocol("chat"))
        .expect("server: accept");
    let response_len = pump(&mut server, &mut client);
    match client.poll_event().expect("client: answer") {
        Some(Event::Accepted(resp)) => {
            checks.that(resp.status() == 101, "client: 101");
            checks.that(resp.protocol() == Some("chat"), "client: protocol");
        }
        other => panic!("client: expected the answer, got {other:?}"),
    }
    checks.that(client.state() == State::Open, "client: open");
    checks.that(server.state() == State::Open, "server: open");
    quiet(&mut client, checks, "client: nothing after the answer");
    say!("{name}: handshake ({request_len} bytes request, {response_len} bytes answer), protocol chat");

    // Text, echoed by the server from the borrowed event.
    client.send_text(TEXT).expect("client: text");
    let sent = pump(&mut client, &mut server);
    match server.poll_event_with_sender().expect("server: text") {
        Some((Event::Text(text), tx)) => {
            checks.that(text == TEXT, "server: text");
            tx.send_text(text).expect("server: echo");
        }
        other => panic!("server: expected text, got {:?}", other.map(|(e, _)| e)),
    }
    pump(&mut server, &mut client);
    match client.poll_event().expect("client: echo") {
        Some(Event::Text(text)) => checks.that(text == TEXT, "client: echoed text"),
        other => panic!("client: expected the echo, got {other:?}"),
    }
    say!(
        "{name}: text of {} bytes ({sent} on the wire) echoed",
        TEXT.len()
    );

    if version.is_hixie() {
        // hixie has no binary messages and no pings: a typed error, and nothing is sent.
        let binary = client.send_binary(&BINARY);
        checks.that(
            matches!(binary, Err(Error::Usage(UsageError::Unsupported { .. }))),
            "hixie: binary refused",
        );
        let ping = client.ping(b"p");
        checks.that(
            matches!(ping, Err(Error::Usage(UsageError::Unsupported { .. }))),
            "hixie: ping refused",
        );
        checks.that(client.pending_output().is_empty(), "hixie: nothing queued");
        say!("{name}: binary and ping refused with UsageError::Unsupported");
    } else {
        // Binary, echoed.
        client.send_binary(&BINARY).expect("client: binary");
        pump(&mut client, &mut server);
        match server.poll_event_with_sender().expect("server: binary") {
            Some((Event::Binary(data), tx)) => {
                checks.that(data == BINARY, "server: binary");
                tx.send_binary(data).expect("server: echo binary");
            }
            other => panic!("server: expected binary, got {:?}", other.map(|(e, _)| e)),
        }
        pump(&mut server, &mut client);
        match client.poll_event().expect("client: binary echo") {
            Some(Event::Binary(data)) => checks.that(data == BINARY, "client: echoed binary"),
            other => panic!("client: expected the binary echo, got {other:?}"),
        }

        // A fragmented text message, reassembled in the server's message buffer.
        client
            .send_fragment(b"frag", true, false)
            .expect("fragment 1");
        client
            .send_fragment(b"ment", true, true)
            .expect("fragment 2");
        pump(&mut client, &mut server);
        match server.poll_event().expect("server: fragments") {
            Some(Event::Text(text)) => checks.that(text == "fragment", "server: reassembled"),
            other => panic!("server: expected the reassembled text, got {other:?}"),
        }
        say!(
            "{name}: binary of {} bytes echoed; 2 fragments reassembled",
            BINARY.len()
        );

        // Ping, answered automatically; the round trip is measured in the caller's time: the
        // ping carries the time it was sent at, the pong is read at another.
        client.ping_at(1_000).expect("client: ping");
        pump(&mut client, &mut server);
        match server.poll_event().expect("server: ping") {
            Some(Event::Ping(payload)) => checks.that(
                payload[..8] == 1_000u64.to_be_bytes(),
                "server: stamped ping",
            ),
            other => panic!("server: expected a ping, got {other:?}"),
        }
        pump(&mut server, &mut client);
        match client.poll_event().expect("client: pong") {
            Some(Event::Pong(pong)) => {
                checks.that(pong.sent_at == Some(1_000), "client: pong stamp");
                checks.that(pong.round_trip(1_007) == Some(7), "client: round trip");
            }
            other => panic!("client: expected a pong, got {other:?}"),
        }
        say!("{name}: ping answered with pong, round trip 7 ticks");
    }

    // Closing handshake, started by the client.
    client.close().expect("client: close");
    checks.that(client.state() == State::Closing, "client: closing");
    pump(&mut client, &mut server);
    let code = if version.is_hixie() {
        None
    } else {
        Some(CloseCode::NORMAL)
    };
    match server.poll_event().expect("server: close") {
        Some(Event::Close(close)) => {
            checks.that(close.code == code, "server: close code");
            checks.that(close.clean, "server: clean close");
        }
        other => panic!("server: expected the close, got {other:?}"),
    }
    checks.that(server.state() == State::Closed, "server: closed");
    quiet(&mut server, checks, "server: nothing after the close");
    pump(&mut server, &mut client);
    match client.poll_event().expect("client: close") {
        Some(Event::Close(close)) => {
            checks.that(close.code == code, "client: close code");
            checks.that(close.clean, "client: clean close");
        }
        other => panic!("client: expected the close, got {other:?}"),
    }
    checks.that(client.state() == State::Closed, "client: closed");
    quiet(&mut client, checks, "client: nothing after the close");
    say!("{name}: closed cleanly, code {code:?}");
}

#[no_mangle]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    let mut checks = Checks(0);
    let mut mem = [[0u8; BUF]; 6];
    for version in [Version::Hybi13, Version::Hixie76] {
        run(version, &mut mem, &mut checks);
    }
    // The budget README.md and docs/embedded.md give for caller-owned buffers without
    // `deflate` (64-bit targets): 304 bytes, and 8 more for a client's 4-byte generator.
    checks.that(
        core::mem::size_of::<Connection<&mut [u8], XorShift>>() <= 312,
        "a connection over caller-owned buffers fits in 312 bytes",
    );
    say!(
        "no_std: ok hybi-13 hixie-76, {} checks, {} bytes of buffers, Connection is {} bytes",
        checks.0,
        core::mem::size_of_val(&mem),
        core::mem::size_of::<Connection<&mut [u8], XorShift>>()
    );
    0
}
