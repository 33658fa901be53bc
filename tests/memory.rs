//! Memory per connection: the size of a `Connection` value and the heap it holds.
//!
//! A counting global allocator (this file is its own test binary) keeps per-thread totals, so
//! the tests may run in parallel. Growable buffers keep their memory while a connection is busy
//! (no allocation per batch), and an open connection with nothing in flight holds no heap at
//! all once `shrink_buffers` was called, as a driver does before it waits for input.

use std::mem::size_of;

use wsmachine::{
    handshake::Accept, ClientRequest, Config, Connection, Event, Limits, NoEntropy, Receiver,
    Sender, State, Version,
};

#[path = "common/counting.rs"]
mod counting;

use counting::{allocations, live, peak, reset_peak, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

type Conn = Connection<Vec<u8>, fn(&mut [u8])>;

fn entropy(dest: &mut [u8]) {
    // Deterministic: these tests measure memory, not masking quality.
    for (i, b) in dest.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(151).wrapping_add(7);
    }
}

/// Polls until `None`, returning a summary of each event: (kind, payload length).
fn drain<R: wsmachine::KeySource>(conn: &mut Connection<Vec<u8>, R>) -> Vec<(&'static str, usize)> {
    let mut seen = Vec::new();
    for _ in 0..1000 {
        let event = match conn.poll_event() {
            Ok(Some(event)) => event,
            Ok(None) => return seen,
            Err(e) => panic!("unexpected error: {e:?}"),
        };
        let summary = match event {
            Event::Request(_) => ("request", 0),
            Event::Accepted(_) => ("accepted", 0),
            Event::Text(t) => ("text", t.len()),
            Event::Binary(b) => ("binary", b.len()),
            Event::Ping(p) => ("ping", p.len()),
            Event::Pong(p) => ("pong", p.payload.len()),
            Event::Close(_) => ("close", 0),
            other => panic!("unexpected event {other:?}"),
        };
        seen.push(summary);
        if summary.0 == "request" {
            conn.accept(Accept::new()).expect("accept");
        }
    }
    panic!("events did not stop");
}

/// A client and a server of `version`, handshake done, every byte delivered and polled.
fn open_pair(version: Version) -> (Conn, Connection<Vec<u8>, NoEntropy>) {
    let request = ClientRequest::new("example.test", "/mem").version(version);
    let mut client: Conn =
        Connection::client(&request, Config::default(), entropy as fn(&mut [u8])).unwrap();
    let mut server = Connection::server(Config::default());
    client.send_to(&mut server);
    assert_eq!(drain(&mut server), [("request", 0)]);
    server.send_to(&mut client);
    assert_eq!(drain(&mut client), [("accepted", 0)]);
    assert_eq!(client.state(), State::Open);
    assert_eq!(server.state(), State::Open);
    (client, server)
}

/// Both ends go idle, as a driver makes them before it waits for input.
fn go_idle<R: wsmachine::KeySource>(client: &mut Conn, server: &mut Connection<Vec<u8>, R>) {
    client.shrink_buffers();
    server.shrink_buffers();
}

const MIB: usize = 1 << 20;

/// Heap held by an idle pair after the handshake and after 1 MiB messages both ways; returns
/// the peak heap seen while a message was in flight.
fn heap_of(version: Version, fragmented: bool) -> usize {
    let before = live();
    let (mut client, mut server) = open_pair(version);
    go_idle(&mut client, &mut server);
    assert_eq!(live(), before, "{version}: heap held after the handshake");
    assert_eq!(client.buffered_capacity() + server.buffered_capacity(), 0);

    let text = "x".repeat(MIB);
    let base = live();
    reset_peak();
    for (from_client, kind) in [(true, "text"), (false, "text")] {
        let (a, b): (&mut dyn Pump, &mut dyn Pump) = if from_client {
            (&mut client, &mut server)
        } else {
            (&mut server, &mut client)
        };
        if fragmented {
            for (i, piece) in text.as_bytes().chunks(MIB / 4).enumerate() {
                a.fragment(piece, i == 3);
            }
        } else {
            a.text(&text);
        }
        a.send_to(b);
        assert_eq!(b.events(), [(kind, MIB)], "{version}");
        // Busy, the buffers keep their memory for the next message...
        assert!(client.buffered_capacity() + server.buffered_capacity() >= MIB);
        // ...and give it back when the connection goes idle.
        go_idle(&mut client, &mut server);
    }
    let peak = peak() - base;
    drop(text);
    assert_eq!(
        live(),
        before,
        "{version}: heap held after a 1 MiB message was delivered"
    );
    assert_eq!(client.buffered_capacity() + server.buffered_capacity(), 0);

    if !version.is_hixie() {
        client.ping(b"idle?").unwrap();
        client.send_to(&mut server);
        assert_eq!(drain(&mut server), [("ping", 5)]);
        server.send_to(&mut client);
        assert_eq!(drain(&mut client), [("pong", 5)]);
        go_idle(&mut client, &mut server);
        assert_eq!(live(), before, "{version}: heap held after ping/pong");
    }
    client.close().unwrap();
    client.send_to(&mut server);
    if version == Version::Hixie75 {
        // hixie-75 closes with the transport: the client shuts its write side down.
        server.handle_eof();
    }
    assert_eq!(drain(&mut server), [("close", 0)]);
    server.send_to(&mut client);
    if version == Version::Hixie75 {
        client.handle_eof();
    }
    assert_eq!(drain(&mut client), [("close", 0)]);
    go_idle(&mut client, &mut server);
    assert_eq!(live(), before, "{version}: heap held after the close");
    peak
}

/// The default path a new user is shown (`Connection::server` over `Vec<u8>`, reading with
/// `read_buffer`/`commit_read`, sending with `send_binary`/`pending_output`) allocates nothing
/// once it has warmed up: a busy connection keeps its buffers from batch to batch, small
/// frames and 1 MiB messages alike. Then `shrink_buffers` gives everything back.
#[test]
fn a_busy_connection_allocates_nothing_per_batch() {
    for size in [16usize, 125, 64 * 1024, MIB] {
        let before = live();
        let (mut client, mut server) = open_pair(Version::Hybi13);
        let payload = vec![0x5a; size];
        let frames = (64 * 1024 / size).max(1);
        let batch = |client: &mut Conn, server: &mut Connection<Vec<u8>, NoEntropy>| {
            for _ in 0..frames {
                client.send_binary(&payload).unwrap();
            }
            // The server reads straight into its input, as from a socket.
            let mut echoed = 0;
            while !client.pending_output().is_empty() {
                let out = client.pending_output();
                let buf = server.read_buffer();
                let n = buf.len().min(out.len());
                assert!(n > 0, "{size}: no room to read into");
                buf[..n].copy_from_slice(&out[..n]);
                server.commit_read(n);
                client.consume_output(n);
                while let Some(event) = server.poll_event().unwrap() {
                    let Event::Binary(data) = event else {
                        panic!("{size}: unexpected {event:?}")
                    };
                    assert_eq!(data.len(), size);
                    echoed += 1;
                    server.send_binary(&payload).unwrap();
                }
                let sent = server.pending_output().len();
                server.consume_output(sent);
            }
            assert_eq!(echoed, frames, "{size}");
        };
        batch(&mut client, &mut server);
        let warm = allocations();
        for _ in 0..20 {
            batch(&mut client, &mut server);
        }
        let made = allocations() - warm;
        assert_eq!(
            made, 0,
            "{size} B frames: {made} allocations in 20 warm batches"
        );
        go_idle(&mut client, &mut server);
        drop(payload);
        drop(client);
        drop(server);
        assert_eq!(live(), before, "{size}: heap held after going idle");
    }
}

/// Object-safe view of either role for `heap_of`.
trait Pump {
    fn text(&mut self, text: &str);
    fn fragment(&mut self, data: &[u8], last: bool);
    fn send_to(&mut self, peer: &mut dyn Pump);
    fn take(&mut self, data: &[u8]) -> usize;
    fn events(&mut self) -> Vec<(&'static str, usize)>;
}

impl<R: wsmachine::KeySource> Pump for Connection<Vec<u8>, R> {
    fn text(&mut self, text: &str) {
        self.send_text(text).unwrap();
    }
    fn fragment(&mut self, data: &[u8], last: bool) {
        self.send_fragment(data, true, last).unwrap();
    }
    fn send_to(&mut self, peer: &mut dyn Pump) {
        for _ in 0..1_000_000 {
            let out = self.pending_output();
            if out.is_empty() {
                return;
            }
            let n = peer.take(&out[..out.len().min(64 * 1024)]);
            assert!(n > 0, "the peer's input is full");
            self.consume_output(n);
        }
        panic!("transfer did not finish");
    }
    fn take(&mut self, data: &[u8]) -> usize {
        self.receive(data)
    }
    fn events(&mut self) -> Vec<(&'static str, usize)> {
        drain(self)
    }
}

#[test]
fn idle_connections_hold_no_heap() {
    for version in [
        Version::Hybi13,
        Version::Hybi08,
        Version::Hixie76,
        Version::Hixie75,
    ] {
        let peak = heap_of(version, false);
        println!("{version}: 0 heap bytes idle; peak {peak} bytes with a 1 MiB message in flight");
        // At least the message in the sender's output and in the receiver's input (this also
        // shows the counter counts), and no copy beyond those with some slack for growth by
        // doubling: bounds, not exact figures.
        assert!(
            (2 * MIB..=6 * MIB).contains(&peak),
            "{version}: peak {peak}"
        );
    }
}

#[test]
fn reassembly_buffers_are_returned() {
    for version in [Version::Hybi13, Version::Hybi07] {
        let peak = heap_of(version, true);
        println!("{version}, 4 fragments: 0 heap bytes idle; peak {peak} bytes in flight");
        assert!(
            (2 * MIB..=8 * MIB).contains(&peak),
            "{version}: peak {peak}"
        );
    }
}

#[test]
fn connection_size() {
    let figures = [
        ("Connection<Vec<u8>>", size_of::<Connection<Vec<u8>>>()),
        ("Connection<&mut [u8]>", size_of::<Connection<&mut [u8]>>()),
        ("Receiver<&mut [u8]>", size_of::<Receiver<&mut [u8]>>()),
        (
            "Sender<&mut [u8], NoEntropy>",
            size_of::<Sender<&mut [u8], NoEntropy>>(),
        ),
        ("Owed", size_of::<wsmachine::Owed>()),
        ("Config", size_of::<Config>()),
        ("Limits", size_of::<Limits>()),
    ];
    for (name, size) in figures {
        println!("size_of::<{name}>() = {size}");
    }
    // The halves are the whole: no hidden state beside them. A receiving half on its own
    // also carries what it owes the sending half (a pong's payload among it), which a joined
    // connection hands over at once and never stores.
    assert!(
        figures[1].1 <= figures[2].1 + figures[3].1 - figures[4].1,
        "Connection<&mut [u8]> is more than its two halves"
    );
    // The budget: a connection over caller-owned buffers in at most 304 bytes on 64-bit
    // targets (growable buffers add a capacity word each). 64 of them are a client's digests
    // of the subprotocols it offered, so that the server's choice is checked against the exact
    // names without keeping the request; 16 the handshake timeout; 12 the payload a server's
    // caller writes itself (`send_binary_header`). With permessage-deflate
    // built in (the `deflate` feature, on with `std`), 40 more: its configuration and the two
    // codecs' pointers.
    let budget = if cfg!(feature = "deflate") { 344 } else { 304 };
    #[cfg(target_pointer_width = "64")]
    assert!(
        figures[1].1 <= budget,
        "Connection<&mut [u8]> grew to {} bytes",
        figures[1].1
    );
}

/// With permessage-deflate agreed, a connection holds its compressor and decompressor while
/// open (allocated at the handshake), and gives them back when it ends. `miniz_oxide` keeps its
/// full 32 KiB window whatever window was agreed, so the figure is the same for every size.
#[cfg(feature = "deflate")]
#[test]
fn compression_state_per_connection() {
    use wsmachine::deflate::DeflateConfig;
    // Printed after the loop: printing allocates (the test harness captures output).
    let mut figures = [(0u8, 0usize, 0usize); 4];
    for (row, bits) in [8u8, 9, 12, 15].into_iter().enumerate() {
        let mut deflate = DeflateConfig::new();
        deflate.server_max_window_bits = Some(bits);
        deflate.client_max_window_bits = Some(bits);
        let mut config = Config::default();
        config.deflate = Some(deflate);
        let before = live();
        let request = ClientRequest::new("example.test", "/mem");
        let mut client: Conn =
            Connection::client(&request, config, entropy as fn(&mut [u8])).unwrap();
        let mut server = Connection::server(config);
        client.send_to(&mut server);
        assert_eq!(drain(&mut server), [("request", 0)]);
        // The answer is still queued: only the input is empty and given back.
        server.shrink_buffers();
        let server_held = live() - before;
        server.send_to(&mut client);
        assert_eq!(drain(&mut client), [("accepted", 0)]);
        go_idle(&mut client, &mut server);
        let both = live() - before;
        let client_held = both - server_held;
        figures[row] = (bits, server_held, client_held);
        // A compressor and a decompressor each, and nothing that grows with use.
        assert!(server_held > 32 * 1024, "{bits}: {server_held}");
        let text = "compressible ".repeat(10_000);
        client.text(&text);
        client.send_to(&mut server);
        assert_eq!(drain(&mut server), [("text", text.len())]);
        server.text(&text);
        server.send_to(&mut client);
        assert_eq!(drain(&mut client), [("text", text.len())]);
        drop(text);
        go_idle(&mut client, &mut server);
        // What a message leaves behind is the codecs' bookkeeping, not the message.
        let after_use = live() - before;
        assert!(
            after_use <= both + 1024,
            "{bits}: heap grew with use to {after_use}"
        );
        client.close().unwrap();
        client.send_to(&mut server);
        assert_eq!(drain(&mut server), [("close", 0)]);
        server.send_to(&mut client);
        assert_eq!(drain(&mut client), [("close", 0)]);
        go_idle(&mut client, &mut server);
        assert_eq!(live(), before, "{bits}: heap held after the close");
    }
    for (bits, server, client) in figures {
        println!(
            "window {bits} bits: {server} heap bytes per server connection, {client} per client"
        );
    }
}

/// A split blocking reader gives its buffers back before a read that may wait, as the joined
/// socket does: after a 1 MiB message, waiting holds only the input it reads into.
#[test]
fn a_split_reader_gives_its_buffers_back_before_it_waits() {
    use std::io::{self, Read, Write};
    use wsmachine::blocking::WebSocket;
    use wsmachine::drive::Message;

    /// Hands out its bytes, then would block; takes every write.
    struct Script(Vec<u8>);
    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            Ok(n)
        }
    }
    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    let mut input = b"GET / HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n"
        .to_vec();
    let key = [1u8, 2, 3, 4];
    input.extend([0x82, 0x80 | 127]);
    input.extend((MIB as u64).to_be_bytes());
    input.extend(key);
    input.extend((0..MIB).map(|i| (i as u8) ^ key[i & 3]));
    let ws = WebSocket::accept(Script(input), Config::default()).unwrap();
    let (mut reader, _writer) = ws.split_with(io::sink()).unwrap();
    let before = live();
    match reader.read().unwrap() {
        Message::Binary(data) => assert_eq!(data.len(), MIB),
        other => panic!("unexpected {other:?}"),
    }
    // The stream is empty: the reader gives its buffers back, then its read would block.
    assert!(reader.read().is_err());
    let held = live().saturating_sub(before);
    assert!(
        held <= 8 * 1024,
        "a waiting split reader holds {held} bytes"
    );
}
