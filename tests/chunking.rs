//! Chunking invariance: the same input fed whole, byte by byte, and in uneven chunks gives the
//! same events and the same output bytes, for every version and both roles.

mod common;

use common::*;
use wsmachine::{ClientRequest, CloseCode, Config, Connection, Version};

const CHUNKINGS: [&[usize]; 4] = [
    &[usize::MAX],
    &[1],
    &[3, 1, 7, 2, 13, 5, 64, 1, 2],
    &[4096, 11],
];

fn client(version: Version) -> Client {
    let request = ClientRequest::new("example.com", "/chat")
        .version(version)
        .protocols(&["chat"]);
    Connection::client(&request, Config::default(), Seeded(42)).unwrap()
}

/// A whole session, recorded: what the client sent and what the server sent.
fn record_session(version: Version) -> (Vec<u8>, Vec<u8>) {
    let mut c = client(version);
    let mut s: Server = Connection::server(Config::default());
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    let mut sink = Vec::new();
    let mut step =
        |c: &mut Client, s: &mut Server, to_server: &mut Vec<u8>, to_client: &mut Vec<u8>| {
            for _ in 0..10 {
                to_server.extend_from_slice(c.pending_output());
                transfer(c, s);
                drain(s, &mut sink);
                to_client.extend_from_slice(s.pending_output());
                transfer(s, c);
                drain(c, &mut sink);
            }
        };
    step(&mut c, &mut s, &mut to_server, &mut to_client);
    for text in ["", "Hello", "héllo ☃ 𝄞", &"x".repeat(70_000)] {
        c.send_text(text).unwrap();
        s.send_text(text).unwrap();
    }
    if !version.is_hixie() {
        c.send_binary(&[1, 2, 3]).unwrap();
        s.send_binary(&vec![9; 300]).unwrap();
        let snowman = "a☃b".as_bytes();
        c.send_fragment(&snowman[..2], true, false).unwrap();
        c.ping(b"p").unwrap();
        c.send_fragment(&snowman[2..], true, true).unwrap();
        s.send_fragment(b"12", false, false).unwrap();
        s.send_fragment(b"34", false, true).unwrap();
        s.ping(b"q").unwrap();
    }
    step(&mut c, &mut s, &mut to_server, &mut to_client);
    if version.is_hixie() {
        c.close().unwrap();
    } else {
        c.close_with(CloseCode(4001), "done").unwrap();
    }
    step(&mut c, &mut s, &mut to_server, &mut to_client);
    (to_server, to_client)
}

fn assert_invariant<F: Fn() -> R, R>(name: &str, input: &[u8], make: F) -> Vec<Seen>
where
    R: Into<Either>,
{
    let mut runs = CHUNKINGS.iter().map(|chunks| match make().into() {
        Either::Server(s) => run_in_chunks(s, input, chunks, true),
        Either::Client(c) => run_in_chunks(c, input, chunks, true),
    });
    let (events, output) = runs.next().unwrap();
    assert!(!events.is_empty(), "{name}: no events at all");
    for (i, (e, o)) in runs.enumerate() {
        assert_eq!(
            e,
            events,
            "{name}: events differ with chunking {:?}",
            CHUNKINGS[i + 1]
        );
        assert_eq!(
            o,
            output,
            "{name}: output differs with chunking {:?}",
            CHUNKINGS[i + 1]
        );
    }
    events
}

enum Either {
    Server(Server),
    Client(Client),
}
impl From<Server> for Either {
    fn from(s: Server) -> Self {
        Either::Server(s)
    }
}
impl From<Client> for Either {
    fn from(c: Client) -> Self {
        Either::Client(c)
    }
}

#[test]
fn recorded_sessions_give_the_same_events_in_any_chunking() {
    for version in Version::ALL {
        let (to_server, to_client) = record_session(version);
        assert_invariant(&format!("{version} server"), &to_server, || {
            Connection::server(Config::default())
        });
        assert_invariant(&format!("{version} client"), &to_client, || client(version));
    }
}

#[test]
fn violations_are_found_at_the_same_place_in_any_chunking() {
    let text_frame = |payload: &[u8]| client_frame(0x81, payload, [1, 2, 3, 4]);
    let mut bad_inputs: Vec<(&str, Vec<u8>)> = Vec::new();
    let with_request = |frames: &[Vec<u8>]| {
        let mut input = RFC_REQUEST.to_vec();
        for f in frames {
            input.extend_from_slice(f);
        }
        input
    };
    bad_inputs.push((
        "invalid utf-8 inside a frame",
        with_request(&[text_frame(b"ok"), text_frame(b"abc\xf4\x90\x80\x80def")]),
    ));
    bad_inputs.push((
        "invalid utf-8 across fragments",
        with_request(&[
            client_frame(0x01, b"\xce", [9, 9, 9, 9]),
            client_frame(0x80, b"\x41", [7, 7, 7, 7]),
        ]),
    ));
    bad_inputs.push((
        "reserved bits",
        with_request(&[text_frame(b"a"), client_frame(0xC1, b"b", [0; 4])]),
    ));
    bad_inputs.push(("unmasked frame", with_request(&[server_frame(0x81, b"hi")])));
    bad_inputs.push((
        "bad close code",
        with_request(&[client_frame(0x88, &[0x03, 0xED], [5; 4])]),
    ));
    bad_inputs.push(("garbage after the request", with_request(&[vec![0xFF; 40]])));
    let mut hixie = HIXIE76_REQUEST.to_vec();
    hixie.extend_from_slice(b"\x00ok\xff\x00bad \xc0\xaf\xff");
    bad_inputs.push(("hixie-76 invalid utf-8", hixie));
    for (name, input) in &bad_inputs {
        let events = assert_invariant(name, input, || Connection::server(Config::default()));
        assert!(
            events.iter().any(|e| matches!(e, Seen::Error(_))),
            "{name}: no error in {events:?}"
        );
        assert!(
            matches!(
                events.last(),
                Some(Seen::Message(Message::Close { clean: false, .. }))
            ),
            "{name}: {events:?}"
        );
    }
    let mut hixie = HIXIE75_REQUEST.to_vec();
    hixie.extend_from_slice(b"\x80\x85\x01hello\x00text\xff\x81\x01x\x00more\xff");
    assert_invariant("hixie-75 length frames skipped", &hixie, || {
        Connection::server(Config::default())
    });
}
