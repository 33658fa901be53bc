//! wsmachine on a bare-metal network stack: a `#![no_std]`, `#![no_main]` program with no
//! allocator, running smoltcp over a loopback device in fixed memory.
//!
//! One smoltcp TCP socket carries a server `Connection`, another a client `Connection`; they
//! complete the opening handshake and exchange text, binary, ping/pong and the closing
//! handshake, for hybi-13, hybi-08 and hixie-76 in turn, and the program prints what happened
//! and how much memory each part takes. Every byte of memory is in one static, `MEMORY`, or in
//! `main`'s frame; nothing is allocated.
//!
//! On this Linux host libc stands in for a board's runtime: it starts the program and provides
//! `write` for the log and `exit`. Time is a counter of milliseconds that the loop advances,
//! as a board would read a hardware timer.
//!
//! Run: `cargo run --release --manifest-path examples/embedded/Cargo.toml`; the last line is
//! `embedded: ok ...` with what was exchanged.

#![no_std]
#![no_main]

mod loopback;

use core::fmt::{self, Write};
use core::mem::size_of;

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use wsmachine::{
    Accept, Buffers, ClientRequest, CloseCode, Config, Connection, Entropy, Error, Event,
    KeySource, NoEntropy, State, Storage, UsageError, Version,
};

use loopback::Loopback;

extern "C" {
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
    fn exit(code: i32) -> !;
}

/// Standard output or error, through libc (a board would write to its UART).
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
    let _ = writeln!(Fd(2), "embedded: FAILED: {info}");
    // SAFETY: libc's exit ends the process; nothing runs after it.
    unsafe { exit(1) }
}

/// The precompiled `core` refers to the unwinding personality even with `panic = "abort"`;
/// nothing unwinds here, so it is never called.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

/// Bytes of each WebSocket buffer (input, output, message reassembly), per connection.
const WS_BUF: usize = 1024;
/// Bytes of each smoltcp socket buffer (receive, send), per socket.
const TCP_BUF: usize = 1024;
const SERVER_PORT: u16 = 9001;
/// Loop turns allowed for any one step before the program gives up.
const MAX_TURNS: usize = 1000;

/// All the program's buffers, in one static so that their size is known at link time.
struct Memory {
    /// Client input, output, message; server input, output, message.
    ws: [[u8; WS_BUF]; 6],
    /// Server receive, send; client receive, send.
    tcp: [[u8; TCP_BUF]; 4],
    sockets: [SocketStorage<'static>; 2],
    device: Loopback,
}

static mut MEMORY: Memory = Memory {
    ws: [[0; WS_BUF]; 6],
    tcp: [[0; TCP_BUF]; 4],
    sockets: [SocketStorage::EMPTY; 2],
    device: Loopback::new(),
};

/// Limits that fit the fixed buffers, so that a peer is refused before it could overflow one.
fn ws_config() -> Config {
    let mut config = Config::new();
    config.limits.max_handshake_bytes = WS_BUF - 32;
    config.limits.max_frame_payload = WS_BUF - 16;
    config.limits.max_message_size = WS_BUF;
    config.limits.max_hixie_frame = WS_BUF - 16;
    config.limits.max_queued_output = WS_BUF;
    config.close_timeout = Some(5_000);
    config
}

/// Client randomness (masking keys, `Sec-WebSocket-Key`, hixie-76 keys). A board would read
/// its hardware generator; a fixed seed keeps the run reproducible.
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

/// The network: the interface, its device, and the two TCP sockets.
struct Net {
    iface: Interface,
    device: &'static mut Loopback,
    sockets: SocketSet<'static>,
    server: SocketHandle,
    client: SocketHandle,
    /// Milliseconds since start: the clock of both smoltcp and the connections.
    now: i64,
}

impl Net {
    /// One turn of the main loop: time advances by `step` ms, smoltcp moves packets, and each
    /// socket's bytes go to and from its connection.
    fn turn<A: Storage, RA: KeySource, B: Storage, RB: KeySource>(
        &mut self,
        client: &mut Connection<A, RA>,
        server: &mut Connection<B, RB>,
        step: i64,
    ) {
        self.now += step;
        let now = Instant::from_millis(self.now);
        client.handle_timeout(self.now as u64);
        server.handle_timeout(self.now as u64);
        self.iface.poll(now, &mut *self.device, &mut self.sockets);
        shuttle(self.sockets.get_mut::<tcp::Socket>(self.client), client);
        shuttle(self.sockets.get_mut::<tcp::Socket>(self.server), server);
        self.iface.poll(now, &mut *self.device, &mut self.sockets);
    }

    fn tcp_state(&mut self, handle: SocketHandle) -> tcp::State {
        self.sockets.get_mut::<tcp::Socket>(handle).state()
    }
}

/// Moves bytes between a socket and its connection, and closes the socket once the
/// connection is closed and its last bytes are sent.
fn shuttle<S: Storage, R: KeySource>(socket: &mut tcp::Socket<'_>, conn: &mut Connection<S, R>) {
    // Straight from the socket's buffer into the connection's input: one copy.
    while socket.can_recv() {
        let free = conn.read_buffer();
        if free.is_empty() {
            // The input is full until the pending events are polled.
            break;
        }
        match socket.recv_slice(free) {
            Ok(n) if n > 0 => conn.commit_read(n),
            _ => break,
        }
    }
    let peer_finished = matches!(
        socket.state(),
        tcp::State::CloseWait | tcp::State::LastAck | tcp::State::Closing | tcp::State::TimeWait
    );
    if peer_finished && !socket.can_recv() {
        conn.handle_eof();
    }
    if socket.can_send() {
        let out = conn.pending_output();
        if !out.is_empty() {
            if let Ok(n) = socket.send_slice(out) {
                conn.consume_output(n);
            }
        }
    }
    if conn.state() == State::Closed && conn.pending_output().is_empty() {
        // The FIN follows the bytes already queued in the socket.
        socket.close();
    }
}

/// Runs the loop until `$conn` (the client or the server) has an event, then evaluates
/// `$body` with the event and the connection's sending half (to answer it while borrowed).
macro_rules! next_event {
    ($net:expr, $client:ident, $server:ident, $conn:ident, |$event:ident, $tx:ident| $body:expr) => {{
        let mut outcome = None;
        for _ in 0..MAX_TURNS {
            $net.turn(&mut $client, &mut $server, 1);
            match $conn.poll_event_with_sender() {
                Ok(Some(($event, $tx))) => {
                    outcome = Some($body);
                    break;
                }
                Ok(None) => {}
                Err(e) => panic!("{}: {}", stringify!($conn), e),
            }
        }
        match outcome {
            Some(outcome) => outcome,
            None => panic!("{}: no event in {} turns", stringify!($conn), MAX_TURNS),
        }
    }};
}

/// What the runs exchanged, for the last line.
#[derive(Default)]
struct Tally {
    handshakes: u32,
    texts: u32,
    binaries: u32,
    pings: u32,
    closes: u32,
}

const TEXT: &str = "hello over smoltcp, ünïcödé included";
const BINARY: [u8; 6] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

/// One WebSocket session of `version` over a fresh TCP connection from `local_port`.
fn session(
    version: Version,
    local_port: u16,
    net: &mut Net,
    ws: &mut [[u8; WS_BUF]; 6],
    tally: &mut Tally,
) {
    let name = version.as_str();
    let [ci, co, cm, si, so, sm] = ws;

    net.sockets
        .get_mut::<tcp::Socket>(net.server)
        .listen(SERVER_PORT)
        .expect("listen");
    net.sockets
        .get_mut::<tcp::Socket>(net.client)
        .connect(
            net.iface.context(),
            (IpAddress::v4(127, 0, 0, 1), SERVER_PORT),
            local_port,
        )
        .expect("connect");

    let request = ClientRequest::new("127.0.0.1:9001", "/embedded")
        .version(version)
        .protocols(&["sensor"]);
    let buffers = Buffers {
        input: &mut ci[..],
        output: &mut co[..],
        message: &mut cm[..],
    };
    let mut client =
        Connection::client_with(&request, ws_config(), buffers, XorShift(0x9e37_79b9)).unwrap();
    let buffers = Buffers {
        input: &mut si[..],
        output: &mut so[..],
        message: &mut sm[..],
    };
    let mut server: Connection<&mut [u8], NoEntropy> =
        Connection::server_with(ws_config(), buffers);
    let started = net.now;

    // Opening handshake.
    next_event!(net, client, server, server, |event, _tx| match event {
        Event::Request(req) => {
            assert_eq!(req.version(), Some(version));
            assert_eq!(req.path(), "/embedded");
            assert!(req.protocols().any(|p| p == "sensor"));
        }
        other => panic!("server: expected the request, got {other:?}"),
    });
    server
        .accept(Accept::new().protocol("sensor"))
        .expect("accept");
    next_event!(net, client, server, client, |event, _tx| match event {
        Event::Accepted(resp) => assert_eq!(resp.protocol(), Some("sensor")),
        other => panic!("client: expected the answer, got {other:?}"),
    });
    tally.handshakes += 1;
    say!(
        "{name}: 127.0.0.1:{local_port} -> 127.0.0.1:{SERVER_PORT}: TCP and WebSocket handshake in {} ms, protocol sensor",
        net.now - started
    );

    // Text, echoed by the server from the borrowed event (no copy).
    client.send_text(TEXT).expect("client text");
    next_event!(net, client, server, server, |event, tx| match event {
        Event::Text(text) => {
            assert_eq!(text, TEXT);
            tx.send_text(text).expect("server echo");
        }
        other => panic!("server: expected text, got {other:?}"),
    });
    next_event!(net, client, server, client, |event, _tx| match event {
        Event::Text(text) => {
            assert_eq!(text, TEXT);
            say!("{name}: text {text:?} echoed");
        }
        other => panic!("client: expected the echo, got {other:?}"),
    });
    tally.texts += 1;

    if version.is_hixie() {
        // hixie has no binary messages, pings or close codes: refused with a typed error.
        let unsupported = |r| matches!(r, Err(Error::Usage(UsageError::Unsupported { .. })));
        assert!(unsupported(client.send_binary(&BINARY)));
        assert!(unsupported(client.ping(b"tick")));
        say!("{name}: binary and ping refused (the version has neither)");
    } else {
        client.send_binary(&BINARY).expect("client binary");
        next_event!(net, client, server, server, |event, tx| match event {
            Event::Binary(data) => {
                assert_eq!(data, BINARY);
                tx.send_binary(data).expect("server echo");
            }
            other => panic!("server: expected binary, got {other:?}"),
        });
        next_event!(net, client, server, client, |event, _tx| match event {
            Event::Binary(data) => {
                assert_eq!(data, BINARY);
                say!("{name}: binary {data:02x?} echoed");
            }
            other => panic!("client: expected the echo, got {other:?}"),
        });
        tally.binaries += 1;

        // Stamped with the time it is sent, so that its pong tells the round trip.
        let sent = net.now as u64;
        client.ping_at(sent).expect("client ping");
        next_event!(net, client, server, server, |event, _tx| match event {
            Event::Ping(payload) => assert_eq!(payload.len(), 12, "the stamp"),
            other => panic!("server: expected a ping, got {other:?}"),
        });
        next_event!(net, client, server, client, |event, _tx| match event {
            Event::Pong(pong) => {
                assert_eq!(pong.sent_at, Some(sent));
                let rtt = pong
                    .round_trip(net.now as u64)
                    .expect("round trip of our own ping");
                say!("{name}: stamped ping answered by an automatic pong, round trip {rtt} ms");
            }
            other => panic!("client: expected a pong, got {other:?}"),
        });
        tally.pings += 1;
    }

    // Closing handshake, started by the client; the server then closes TCP first.
    let (code, reason) = if version.is_hixie() {
        client.close().expect("client close");
        (None, "")
    } else {
        client
            .close_with(CloseCode::GOING_AWAY, "bye")
            .expect("client close");
        (Some(CloseCode::GOING_AWAY), "bye")
    };
    next_event!(net, client, server, server, |event, _tx| match event {
        Event::Close(close) => {
            assert_eq!(
                (close.code, close.reason, close.clean),
                (code, reason, true)
            );
        }
        other => panic!("server: expected the close, got {other:?}"),
    });
    next_event!(net, client, server, client, |event, _tx| match event {
        Event::Close(close) => {
            assert_eq!((close.code, close.clean), (code, true));
        }
        other => panic!("client: expected the close, got {other:?}"),
    });
    tally.closes += 1;

    // Let TCP finish, TIME-WAIT included, so the sockets can be used again.
    for _ in 0..MAX_TURNS {
        let (s, c) = (net.tcp_state(net.server), net.tcp_state(net.client));
        if s == tcp::State::Closed && c == tcp::State::Closed {
            break;
        }
        net.turn(&mut client, &mut server, 100);
    }
    let (s, c) = (net.tcp_state(net.server), net.tcp_state(net.client));
    assert_eq!(
        (s, c),
        (tcp::State::Closed, tcp::State::Closed),
        "TCP teardown"
    );
    match code {
        Some(CloseCode(code)) => {
            say!("{name}: close {code} {reason:?}, clean on both ends; TCP closed")
        }
        None => say!("{name}: close (0xFF 0x00), clean on both ends; TCP closed"),
    }
}

#[no_mangle]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    // SAFETY: `main` runs once and is the only code that names MEMORY, so this is the one
    // reference to it for the whole run.
    let memory: &'static mut Memory = unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) };
    let Memory {
        ws,
        tcp: tcp_buffers,
        sockets,
        device,
    } = memory;

    let mut iface = Interface::new(
        IfaceConfig::new(HardwareAddress::Ip),
        &mut *device,
        Instant::from_millis(0),
    );
    iface.update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8))
            .expect("address");
    });

    let mut socket_set = SocketSet::new(&mut sockets[..]);
    let [srx, stx, crx, ctx] = tcp_buffers;
    let mut handles = [(srx, stx), (crx, ctx)].map(|(rx, tx)| {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(&mut rx[..]),
            tcp::SocketBuffer::new(&mut tx[..]),
        );
        // Small messages go out at once instead of waiting for an ACK.
        socket.set_nagle_enabled(false);
        socket_set.add(socket)
    });
    let client_handle = handles[1];
    let server_handle = core::mem::replace(&mut handles[0], client_handle);

    let mut net = Net {
        iface,
        device,
        sockets: socket_set,
        server: server_handle,
        client: client_handle,
        now: 0,
    };
    let mut tally = Tally::default();
    let versions = [Version::Hybi13, Version::Hybi08, Version::Hixie76];
    for (i, version) in versions.into_iter().enumerate() {
        session(version, 49152 + i as u16, &mut net, ws, &mut tally);
    }

    let stats = net.device.stats();
    say!(
        "ram: Connection<&mut [u8], _> {} bytes each (client with its entropy source {} bytes)",
        size_of::<Connection<&mut [u8], NoEntropy>>(),
        size_of::<Connection<&mut [u8], XorShift>>()
    );
    say!(
        "ram: WebSocket buffers 3 x {WS_BUF} bytes per connection (input, output, message) = {} bytes for both",
        size_of::<[[u8; WS_BUF]; 6]>()
    );
    say!(
        "ram: smoltcp SocketSet storage {} bytes for 2 sockets (each tcp::Socket {} bytes) + 2 x {TCP_BUF} bytes buffers per socket; Interface {} bytes",
        size_of::<[SocketStorage<'static>; 2]>(),
        size_of::<tcp::Socket<'static>>(),
        size_of::<Interface>()
    );
    say!(
        "ram: loopback device (stands in for the NIC driver) {} bytes; static total {} bytes",
        size_of::<Loopback>(),
        size_of::<Memory>()
    );
    say!(
        "net: {} packets ({} bytes) over the loopback, {} dropped, {} ms of simulated time",
        stats.sent,
        stats.bytes,
        stats.dropped,
        net.now
    );
    say!(
        "embedded: ok hybi-13 hybi-08 hixie-76: {} handshakes, {} texts and {} binaries echoed, {} ping/pongs, {} closing handshakes",
        tally.handshakes,
        tally.texts,
        tally.binaries,
        tally.pings,
        tally.closes
    );
    0
}
