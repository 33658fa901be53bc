//! Core v2: the halves of two connections do not mix. Joining them, handing one connection's
//! owed value to the other's sending half, or polling one's receiving half with the other's
//! sending half fails with no change; and a connection still in its handshake does not split.
//!
//! Connection A is a server and B a client talking to each other (B's output is A's input and
//! back), both with `OsEntropy` so that their halves have the same types and could be mixed.
//!
//! Self-contained: no `tests/common`.

use wsmachine::{
    Accept, ClientRequest, CloseCode, Config, Connection, Error, Event, JoinError, OsEntropy,
    Receiver, Role, Sender, State, UsageError, Version,
};

type Conn = Connection<Vec<u8>, OsEntropy>;
type Rx = Receiver<Vec<u8>>;
type Tx = Sender<Vec<u8>, OsEntropy>;

/// A (server) and B (client), open, hybi-13.
fn pair() -> (Conn, Conn) {
    let a = Connection::framed(
        Role::Server,
        Version::Hybi13,
        Config::default(),
        OsEntropy::new(),
    );
    let b = Connection::framed(
        Role::Client,
        Version::Hybi13,
        Config::default(),
        OsEntropy::new(),
    );
    (a, b)
}

/// Moves all of a sending half's output into a receiving half.
fn transfer(from: &mut Tx, to: &mut Rx) {
    let n = to.receive(from.pending_output());
    assert_eq!(n, from.pending_output().len(), "input full");
    from.consume_output(n);
}

/// Moves all of a joined connection's output into another.
fn transfer_joined(from: &mut Conn, to: &mut Conn) {
    let n = to.receive(from.pending_output());
    assert_eq!(n, from.pending_output().len(), "input full");
    from.consume_output(n);
}

/// Everything observable about a receiving half without changing it.
fn rx_snapshot(rx: &Rx) -> (Vec<u8>, State, Role, Option<Version>, String) {
    (
        rx.buffered_input().to_vec(),
        rx.state(),
        rx.role(),
        rx.version(),
        format!("{rx:?}"),
    )
}

/// Everything observable about a sending half without changing it.
fn tx_snapshot(tx: &Tx) -> (Vec<u8>, State, Role, Option<Version>, Option<u64>, String) {
    (
        tx.pending_output().to_vec(),
        tx.state(),
        tx.role(),
        tx.version(),
        tx.poll_timeout(),
        format!("{tx:?}"),
    )
}

fn text(event: Result<Option<Event<'_>>, Error>) -> String {
    match event {
        Ok(Some(Event::Text(t))) => t.to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

fn is_foreign<T: core::fmt::Debug>(result: Result<T, Error>) -> bool {
    matches!(result, Err(Error::Usage(UsageError::ForeignHalf)))
}

/// (a) `Connection::join` refuses halves of two connections and gives both back unchanged,
/// including what the receiving half owes; joined correctly afterwards, they work.
#[test]
fn join_refuses_halves_of_two_connections() {
    let (mut a, mut b) = pair();
    // B pings and sends "one": A receives both and polls the ping only, after the split, so
    // that its receiving half keeps the pong it owes and has "one" still unread.
    b.ping(b"from b").unwrap();
    b.send_text("one").unwrap();
    transfer_joined(&mut b, &mut a);
    // Output waiting on both sides.
    b.send_text("two").unwrap();
    a.send_binary(&[1, 2, 3]).unwrap();

    let (mut rx_a, tx_a) = a.into_split().unwrap();
    let (rx_b, tx_b) = b.into_split().unwrap();
    assert_eq!(rx_a.poll_event(), Ok(Some(Event::Ping(b"from b"))));

    let before = (
        rx_snapshot(&rx_a),
        tx_snapshot(&tx_a),
        rx_snapshot(&rx_b),
        tx_snapshot(&tx_b),
    );
    // A's receiving half with B's sending half, and the other way round.
    let err = Connection::join(rx_a, tx_b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the two halves belong to different connections"
    );
    let JoinError {
        receiver: rx_a,
        sender: tx_b,
    } = err;
    let JoinError {
        receiver: rx_b,
        sender: tx_a,
    } = Connection::join(rx_b, tx_a).unwrap_err();
    let after = (
        rx_snapshot(&rx_a),
        tx_snapshot(&tx_a),
        rx_snapshot(&rx_b),
        tx_snapshot(&tx_b),
    );
    assert_eq!(before, after, "a refused join changed a half");
    // In particular B's sending half was not given A's pong: only "two" is queued there.
    assert_eq!(tx_b.pending_output(), before.3 .0);

    // Joined correctly, they are connections again; the join hands A's pong over.
    let mut a = Connection::join(rx_a, tx_a).unwrap();
    let mut b = Connection::join(rx_b, tx_b).unwrap();
    assert_eq!((a.state(), b.state()), (State::Open, State::Open));
    assert!(a.pending_output().ends_with(b"\x8a\x06from b"), "A's pong");
    assert_eq!(text(a.poll_event()), "one");
    assert_eq!(a.poll_event(), Ok(None));
    transfer_joined(&mut b, &mut a);
    assert_eq!(text(a.poll_event()), "two");
    a.send_text("back").unwrap();
    transfer_joined(&mut a, &mut b);
    assert_eq!(b.poll_event(), Ok(Some(Event::Binary(&[1, 2, 3][..]))));
    match b.poll_event() {
        Ok(Some(Event::Pong(pong))) => assert_eq!(pong.payload, b"from b"),
        other => panic!("expected the pong, got {other:?}"),
    }
    assert_eq!(text(b.poll_event()), "back");
    assert_eq!(b.poll_event(), Ok(None));
}

/// (a, continued) The owed value a refused join leaves in the receiving half is handed over by
/// the right join: the pong reaches the peer.
#[test]
fn join_hands_over_what_a_refused_join_kept() {
    let (mut a, mut b) = pair();
    b.ping(b"are you there").unwrap();
    transfer_joined(&mut b, &mut a);
    let (mut rx_a, tx_a) = a.into_split().unwrap();
    let (rx_b, tx_b) = b.into_split().unwrap();
    assert_eq!(rx_a.poll_event(), Ok(Some(Event::Ping(b"are you there"))));
    assert!(tx_a.pending_output().is_empty());

    let JoinError {
        receiver: rx_a,
        sender: tx_b,
    } = Connection::join(rx_a, tx_b).unwrap_err();
    assert!(tx_b.pending_output().is_empty(), "B was given A's pong");

    let mut a = Connection::join(rx_a, tx_a).unwrap();
    let mut b = Connection::join(rx_b, tx_b).unwrap();
    assert_eq!(a.pending_output(), b"\x8a\x0dare you there", "A's pong");
    transfer_joined(&mut a, &mut b);
    match b.poll_event() {
        Ok(Some(Event::Pong(pong))) => assert_eq!(pong.payload, b"are you there"),
        other => panic!("expected the pong, got {other:?}"),
    }
}

/// (b) `Sender::handle_owed` refuses another connection's owed value with `ForeignHalf` and
/// changes nothing; the value then works on its own connection's sending half.
#[test]
fn handle_owed_refuses_another_connections_owed_value() {
    let (mut a, mut b) = pair();
    b.ping(b"ping from b").unwrap();
    transfer_joined(&mut b, &mut a);
    b.send_text("queued on b").unwrap();
    let (mut rx_a, mut tx_a) = a.into_split().unwrap();
    let (mut rx_b, mut tx_b) = b.into_split().unwrap();

    // A pong owed by A.
    assert_eq!(rx_a.poll_event(), Ok(Some(Event::Ping(b"ping from b"))));
    let pong = rx_a.take_owed().expect("A owes a pong");
    let before = tx_snapshot(&tx_b);
    assert_eq!(tx_b.handle_owed(pong), Err(UsageError::ForeignHalf));
    assert_eq!(tx_snapshot(&tx_b), before, "a refused owed value changed B");
    // Nor does B's receiving half take it in any way: B's halves still work together.
    assert!(rx_b.take_owed().is_none());

    // On A's own sending half, the same value sends the pong, which B reads.
    assert_eq!(tx_a.handle_owed(pong), Ok(()));
    assert_eq!(tx_a.pending_output(), b"\x8a\x0bping from b");
    transfer(&mut tx_a, &mut rx_b);
    match rx_b.poll_event() {
        Ok(Some(Event::Pong(p))) => assert_eq!(p.payload, b"ping from b"),
        other => panic!("expected the pong, got {other:?}"),
    }
    // B's queued message is still there, and B still sends.
    tx_b.send_text("and more").unwrap();
    transfer(&mut tx_b, &mut rx_a);
    assert_eq!(text(rx_a.poll_event()), "queued on b");
    assert_eq!(text(rx_a.poll_event()), "and more");
}

/// (b, continued) An owed value that ends A (the reply to B's close) does not close another
/// open connection's sending half; on A's own, it sends the close reply and closes it.
#[test]
fn handle_owed_refuses_another_connections_close() {
    let (mut a, mut b) = pair();
    // C: a third connection, open, with the same types as A.
    let (_, c) = pair();
    let (_, mut tx_c) = c.into_split().unwrap();
    tx_c.send_text("c's own").unwrap();

    b.close_with(CloseCode::GOING_AWAY, "bye").unwrap();
    transfer_joined(&mut b, &mut a);
    let (mut rx_a, mut tx_a) = a.into_split().unwrap();
    match rx_a.poll_event() {
        Ok(Some(Event::Close(close))) => {
            assert_eq!(
                (close.code, close.reason, close.clean),
                (Some(CloseCode::GOING_AWAY), "bye", true)
            );
        }
        other => panic!("expected the close, got {other:?}"),
    }
    assert_eq!(rx_a.state(), State::Closed);
    let end = rx_a.take_owed().expect("A owes the close reply");
    assert!(end.ends_connection());

    let before = tx_snapshot(&tx_c);
    assert_eq!(tx_c.handle_owed(end), Err(UsageError::ForeignHalf));
    assert_eq!(tx_snapshot(&tx_c), before, "C was changed by A's close");
    assert_eq!(tx_c.state(), State::Open);
    tx_c.send_text("still open").unwrap();

    assert_eq!(tx_a.state(), State::Open);
    assert_eq!(tx_a.handle_owed(end), Ok(()));
    assert_eq!(tx_a.state(), State::Closed);
    // The reply echoes B's code (RFC 6455 §5.5.1), unmasked from a server.
    assert_eq!(tx_a.pending_output(), b"\x88\x02\x03\xe9");
    let (mut rx_b, _tx_b) = b.into_split().unwrap();
    transfer(&mut tx_a, &mut rx_b);
    match rx_b.poll_event() {
        Ok(Some(Event::Close(close))) => {
            assert_eq!(
                (close.code, close.clean),
                (Some(CloseCode::GOING_AWAY), true)
            );
        }
        other => panic!("expected the close reply, got {other:?}"),
    }
}

/// (c) `Receiver::poll_event_with` refuses another connection's sending half, with no change.
/// The old bug: server A had a well-formed masked frame; polled with client B's sending half,
/// it was decoded under B's rules, as a violation, and closed B with 1002 (and consumed A's
/// input). Now: `ForeignHalf`, B untouched, A's input still there for A's own sending half.
#[test]
fn poll_event_with_refuses_another_connections_sender() {
    let (mut a, mut b) = pair();
    b.send_text("masked, well-formed").unwrap();
    assert_eq!(
        b.pending_output()[1] & 0x80,
        0x80,
        "a client's frame is masked"
    );
    transfer_joined(&mut b, &mut a);
    let (mut rx_a, mut tx_a) = a.into_split().unwrap();
    let (mut rx_b, mut tx_b) = b.into_split().unwrap();

    let rx_before = rx_snapshot(&rx_a);
    let tx_before = tx_snapshot(&tx_b);
    for _ in 0..3 {
        assert!(is_foreign(rx_a.poll_event_with(&mut tx_b)));
        assert_eq!(rx_snapshot(&rx_a), rx_before, "A's input was consumed");
        assert_eq!(tx_snapshot(&tx_b), tx_before, "B was changed");
    }
    assert_eq!(tx_b.state(), State::Open, "B was closed");
    assert!(tx_b.pending_output().is_empty(), "B queued a close frame");
    assert!(rx_b.take_owed().is_none());

    // With A's own sending half, the frame is A's message; A answers; B is fine.
    assert_eq!(text(rx_a.poll_event_with(&mut tx_a)), "masked, well-formed");
    assert_eq!(rx_a.poll_event_with(&mut tx_a), Ok(None));
    assert!(tx_a.pending_output().is_empty());
    tx_a.send_text("answered").unwrap();
    transfer(&mut tx_a, &mut rx_b);
    assert_eq!(text(rx_b.poll_event_with(&mut tx_b)), "answered");
    tx_b.send_text("b still sends").unwrap();
    transfer(&mut tx_b, &mut rx_a);
    assert_eq!(text(rx_a.poll_event_with(&mut tx_a)), "b still sends");
    assert_eq!((rx_a.state(), tx_a.state()), (State::Open, State::Open));
    assert_eq!((rx_b.state(), tx_b.state()), (State::Open, State::Open));
}

/// (c, continued) What A's receiving half owes (a pong kept by `poll_event`) does not go to
/// another connection's sending half when polled with it; it goes to A's own.
#[test]
fn poll_event_with_keeps_owed_from_another_connections_sender() {
    let (mut a, mut b) = pair();
    b.ping(b"p").unwrap();
    b.send_text("after the ping").unwrap();
    transfer_joined(&mut b, &mut a);
    let (mut rx_a, mut tx_a) = a.into_split().unwrap();
    let (_rx_b, mut tx_b) = b.into_split().unwrap();

    assert_eq!(rx_a.poll_event(), Ok(Some(Event::Ping(b"p"))));
    let before = tx_snapshot(&tx_b);
    assert!(is_foreign(rx_a.poll_event_with(&mut tx_b)));
    assert_eq!(tx_snapshot(&tx_b), before, "B was given A's pong");

    assert_eq!(text(rx_a.poll_event_with(&mut tx_a)), "after the ping");
    assert_eq!(
        tx_a.pending_output(),
        b"\x8a\x01p",
        "A's pong, handed over by the poll"
    );
    assert!(rx_a.take_owed().is_none());
}

/// (c, continued) A violation in A's input closes A with 1002, not another connection that
/// A's receiving half was wrongly polled with.
#[test]
fn poll_event_with_does_not_fail_another_connection() {
    let (mut a, b) = pair();
    // An unmasked frame to a server: a violation (RFC 6455 §5.1).
    a.receive(b"\x81\x02hi");
    let (mut rx_a, mut tx_a) = a.into_split().unwrap();
    let (_rx_b, mut tx_b) = b.into_split().unwrap();

    let before = tx_snapshot(&tx_b);
    assert!(is_foreign(rx_a.poll_event_with(&mut tx_b)));
    assert_eq!(
        tx_snapshot(&tx_b),
        before,
        "B was failed for A's peer's violation"
    );
    assert_eq!(rx_a.state(), State::Open);

    let error = rx_a.poll_event_with(&mut tx_a).unwrap_err();
    assert!(matches!(error, Error::Protocol(_)), "{error:?}");
    assert_eq!(error.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    assert_eq!(tx_a.state(), State::Closed);
    assert_eq!(
        tx_a.pending_output(),
        b"\x88\x02\x03\xea",
        "A's 1002 close frame"
    );
    assert_eq!(tx_b.state(), State::Open);
    match rx_a.poll_event_with(&mut tx_a) {
        Ok(Some(Event::Close(close))) => {
            assert_eq!(
                (close.code, close.clean),
                (Some(CloseCode::ABNORMAL), false)
            );
        }
        other => panic!("expected A's close event, got {other:?}"),
    }
}

/// (d) A connection does not split during its handshake: `into_split` gives it back unchanged,
/// and it completes the handshake afterwards (then splits, and the halves work).
#[test]
fn into_split_during_the_handshake_gives_the_connection_back() {
    let request = ClientRequest::new("example.com", "/chat");

    // Before anything.
    let server: Connection<Vec<u8>> = Connection::server(Config::default());
    let mut server = server.into_split().unwrap_err();
    assert_eq!(server.state(), State::Handshaking);
    let client = Connection::client(&request, Config::default(), OsEntropy::new()).unwrap();
    let queued = client.pending_output().to_vec();
    assert!(queued.starts_with(b"GET /chat HTTP/1.1\r\n"));
    let mut client = client.into_split().unwrap_err();
    assert_eq!(client.state(), State::Handshaking);
    assert_eq!(
        client.pending_output(),
        queued,
        "the request is still queued"
    );

    // Part of the request read: still handshaking.
    let half = queued.len() / 2;
    assert_eq!(server.receive(&queued[..half]), half);
    assert_eq!(server.poll_event(), Ok(None));
    let mut server = server.into_split().unwrap_err();
    assert_eq!(server.buffered_input(), &queued[..half]);

    // The whole request read, waiting for the application's decision.
    assert_eq!(server.receive(&queued[half..]), queued.len() - half);
    client.consume_output(queued.len());
    assert!(matches!(server.poll_event(), Ok(Some(Event::Request(_)))));
    let mut server = server.into_split().unwrap_err();
    assert_eq!(server.state(), State::Handshaking);
    assert_eq!(
        server.request().map(|r| r.path().to_owned()),
        Some("/chat".into())
    );
    server.accept(Accept::new()).unwrap();
    assert_eq!(server.state(), State::Open);

    // The answer arrived at the client but is not read yet.
    let answer = server.pending_output().to_vec();
    assert!(answer.starts_with(b"HTTP/1.1 101"));
    server.consume_output(answer.len());
    assert_eq!(client.receive(&answer), answer.len());
    let mut client = client.into_split().unwrap_err();
    assert_eq!(client.state(), State::Handshaking);
    assert_eq!(client.buffered_input(), answer);
    assert!(matches!(client.poll_event(), Ok(Some(Event::Accepted(_)))));
    assert_eq!(client.state(), State::Open);

    // Open: both split, and the halves talk.
    let (mut rx_s, mut tx_s) = server.into_split().unwrap();
    let (mut rx_c, mut tx_c) = client.into_split().unwrap();
    tx_c.send_text("hello over halves").unwrap();
    let n = rx_s.receive(tx_c.pending_output());
    tx_c.consume_output(n);
    assert_eq!(text(rx_s.poll_event_with(&mut tx_s)), "hello over halves");
    tx_s.send_binary(b"and back").unwrap();
    let n = rx_c.receive(tx_s.pending_output());
    tx_s.consume_output(n);
    assert_eq!(rx_c.poll_event(), Ok(Some(Event::Binary(&b"and back"[..]))));
}
