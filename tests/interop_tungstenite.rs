//! Interoperability with tungstenite, a third-party implementation, over loopback TCP: our
//! client against its server, and its client against our server.

use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use tungstenite::protocol::frame::coding::{CloseCode as TCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::Message as T;
use wsmachine::blocking::{Message, WebSocket};
use wsmachine::{ClientRequest, CloseCode, Config};

mod common;
use common::text_of;

fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[test]
fn our_client_against_a_tungstenite_server() {
    let (listener, port) = listener();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        let mut seen = Vec::new();
        loop {
            match ws.read() {
                Ok(T::Text(t)) => {
                    seen.push(format!("text {}", t.len()));
                    ws.send(T::Text(t)).unwrap();
                }
                Ok(T::Binary(b)) => {
                    seen.push(format!("binary {}", b.len()));
                    ws.send(T::Binary(b)).unwrap();
                }
                Ok(T::Ping(_)) => seen.push("ping".into()),
                Ok(T::Close(frame)) => {
                    let frame = frame.unwrap();
                    seen.push(format!("close {} {}", u16::from(frame.code), frame.reason));
                }
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => return seen,
                Err(e) => panic!("tungstenite server: {e}"),
            }
        }
    });
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let host = format!("127.0.0.1:{port}");
    let request = ClientRequest::new(&host, "/");
    let (mut ws, _) = WebSocket::connect(stream, &request, Config::default()).unwrap();
    for len in [0, 5, 126, 70_000] {
        let text = text_of(len);
        ws.send_text(&text).unwrap();
        assert_eq!(ws.read().unwrap(), Message::Text(text));
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        ws.send_binary(&data).unwrap();
        assert_eq!(ws.read().unwrap(), Message::Binary(data));
    }
    // Fragmented, split inside a character: tungstenite reassembles it and echoes it whole.
    let snowmen = "☃☃☃".as_bytes();
    ws.connection()
        .send_fragment(&snowmen[..4], true, false)
        .unwrap();
    ws.connection()
        .send_fragment(&snowmen[4..], true, true)
        .unwrap();
    ws.flush().unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("☃☃☃".into()));
    ws.ping().unwrap();
    match ws.read().unwrap() {
        Message::Pong {
            payload,
            round_trip,
        } => {
            // A stamped ping: the send time, then its check.
            assert_eq!(payload.len(), 12);
            assert!(round_trip.is_some());
        }
        other => panic!("{other:?}"),
    }
    ws.close(Some(CloseCode(4000)), "done").unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Message::Close {
            code: Some(CloseCode(4000)),
            reason: "done".into(),
            clean: true
        }
    );
    drop(ws);
    let seen = server.join().unwrap();
    assert_eq!(
        seen,
        [
            "text 0",
            "binary 0",
            "text 5",
            "binary 5",
            "text 126",
            "binary 126",
            "text 70000",
            "binary 70000",
            "text 9",
            "ping",
            "close 4000 done"
        ]
    );
}

#[test]
fn a_tungstenite_client_against_our_server() {
    let (listener, port) = listener();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut ws = WebSocket::accept(stream, Config::default()).unwrap();
        let mut seen = Vec::new();
        loop {
            match ws.read().unwrap() {
                Message::Text(t) => {
                    seen.push(format!("text {}", t.len()));
                    ws.send_text(&t).unwrap();
                }
                Message::Binary(b) => {
                    seen.push(format!("binary {}", b.len()));
                    ws.send_binary(&b).unwrap();
                }
                Message::Ping(p) => seen.push(format!("ping {}", p.len())),
                Message::Close {
                    code,
                    reason,
                    clean,
                } => {
                    seen.push(format!("close {code:?} {reason} {clean}"));
                    return seen;
                }
                other => panic!("{other:?}"),
            }
        }
    });
    let (mut ws, _) = tungstenite::connect(format!("ws://127.0.0.1:{port}/")).unwrap();
    for len in [0, 5, 126, 70_000] {
        let text = text_of(len);
        ws.send(T::text(text.clone())).unwrap();
        assert_eq!(ws.read().unwrap(), T::text(text));
        let data: Vec<u8> = (0..len).map(|i| (i * 3) as u8).collect();
        ws.send(T::binary(data.clone())).unwrap();
        assert_eq!(ws.read().unwrap(), T::binary(data));
    }
    ws.send(T::Frame(Frame::message(
        &b"frag"[..],
        OpCode::Data(Data::Text),
        false,
    )))
    .unwrap();
    ws.send(T::Frame(Frame::message(
        &b"mented"[..],
        OpCode::Data(Data::Continue),
        true,
    )))
    .unwrap();
    assert_eq!(ws.read().unwrap(), T::text("fragmented"));
    ws.send(T::Ping(b"hi"[..].into())).unwrap();
    assert_eq!(ws.read().unwrap(), T::Pong(b"hi"[..].into()));
    ws.close(Some(CloseFrame {
        code: TCode::Away,
        reason: "bye".into(),
    }))
    .unwrap();
    let mut echoed = false;
    loop {
        match ws.read() {
            Ok(T::Close(Some(frame))) => {
                assert_eq!(u16::from(frame.code), 1001, "our server echoes the code");
                echoed = true;
            }
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(echoed, "tungstenite never read our server's close frame");
    let seen = server.join().unwrap();
    assert_eq!(seen.last().unwrap(), "close Some(CloseCode(1001)) bye true");
    assert_eq!(seen.iter().filter(|s| s.starts_with("text")).count(), 5);
    assert_eq!(seen.iter().filter(|s| s.starts_with("binary")).count(), 4);
    assert!(seen.contains(&"ping 2".to_string()));
}

#[test]
fn our_server_refuses_a_tungstenite_client_with_the_status_decided() {
    use wsmachine::blocking::Decision;
    let (listener, port) = listener();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let refused = WebSocket::accept_with(stream, Config::default(), |request| {
            assert_eq!(request.target(), "/missing");
            Decision::Respond {
                status: 404,
                headers: vec![("Content-Type".into(), "text/plain".into())],
                body: b"no such room".to_vec(),
            }
        });
        match refused {
            // The server's own choice: not reported as a failed handshake.
            Err(wsmachine::blocking::Error::Refused { status }) => status,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a refused request opened"),
        }
    });
    match tungstenite::connect(format!("ws://127.0.0.1:{port}/missing")) {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 404);
            assert_eq!(response.body().as_deref(), Some(&b"no such room"[..]));
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("tungstenite opened a refused connection"),
    }
    assert_eq!(server.join().unwrap(), 404);
}
