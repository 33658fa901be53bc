//! Core v2: the halves scenario ([`common::halves`]) with the split connection's halves in two
//! smol tasks on one executor, over `smol::net::TcpStream` clones, driven by the shared step of
//! [`wsmachine::drive`]. The receiving task takes what its half owes and sends it over a
//! `smol::channel` to the sending task, which hands it to its half between sends.

mod common;

use std::future::Future;
use std::io;

use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;

use common::halves::{
    check_reader_end, join_closed, read_buffer, request, split_open, Closer, Next, ReaderReport,
    SplitEnd, Then, ToWriter, Writer, WriterReport, STALL,
};
use wsmachine::drive::{Step, Transfer};
use wsmachine::{Accept, Config, Connection, Event, KeySource, OsEntropy, Receiver, Sender, State};

/// `io` or a timeout error after [`STALL`], so that a test that stops moving fails.
async fn or_stall<T>(what: &str, io: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    io.or(async {
        smol::Timer::after(STALL).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what} stalled"),
        ))
    })
    .await
}

/// The opening handshake on the split side's joined connection, asynchronously.
async fn handshake<R: KeySource>(conn: &mut Connection<Vec<u8>, R>, stream: &mut TcpStream) {
    loop {
        flush_joined(conn, stream).await;
        let mut read = false;
        match conn.step().expect("handshake") {
            Step::Event(Event::Request(_)) | Step::Event(Event::Accepted(_)) => {}
            Step::Event(other) => panic!("unexpected event during the handshake: {other:?}"),
            Step::Read | Step::Wait => read = true,
            Step::Closed => panic!("closed during the handshake"),
        }
        if read {
            let outcome = or_stall("handshake read", stream.read(conn.read_buffer())).await;
            let outcome = Transfer::from_io(outcome).expect("read");
            assert_ne!(outcome, Transfer::End, "the peer left during the handshake");
            conn.handle_read(outcome);
        }
        if conn.request().is_some() {
            conn.accept(Accept::new()).expect("accept");
        }
        if conn.state() == State::Open {
            flush_joined(conn, stream).await;
            return;
        }
    }
}

async fn flush_joined<R: KeySource>(conn: &mut Connection<Vec<u8>, R>, stream: &mut TcpStream) {
    while !conn.pending_output().is_empty() {
        let written = or_stall("write", stream.write(conn.pending_output())).await;
        let written = Transfer::from_io(written).expect("write");
        assert!(conn.handle_write(written), "the transport took nothing");
    }
}

/// Writes a sending half's output.
async fn flush_half<R: KeySource>(tx: &mut Sender<Vec<u8>, R>, stream: &mut TcpStream) {
    while !tx.pending_output().is_empty() {
        let written = or_stall("split sender: write", stream.write(tx.pending_output())).await;
        let written = Transfer::from_io(written).expect("split sender: write");
        assert!(tx.handle_write(written), "the transport took nothing");
    }
}

async fn run_reader(
    mut rx: Receiver<Vec<u8>>,
    mut stream: TcpStream,
    to_writer: smol::channel::Sender<ToWriter>,
) -> (Receiver<Vec<u8>>, ReaderReport) {
    let mut report = ReaderReport::default();
    loop {
        let (then, for_writer) = report.step(&mut rx);
        for item in for_writer {
            to_writer
                .send(item)
                .await
                .expect("the sending task is gone");
        }
        match then {
            Then::Step => {}
            Then::Read => {
                let outcome = or_stall("split receiver: read", stream.read(read_buffer(&mut rx)));
                let outcome = Transfer::from_io(outcome.await).expect("split receiver: read");
                rx.handle_read(outcome);
            }
            Then::Closed => break,
        }
    }
    check_reader_end(&mut rx);
    (rx, report)
}

/// The next item from the receiving task.
async fn wait(from_reader: &smol::channel::Receiver<ToWriter>) -> ToWriter {
    or_stall("the sending task's wait for the receiving task", async {
        from_reader
            .recv()
            .await
            .map_err(|_| io::Error::other("the receiving task ended first"))
    })
    .await
    .expect("the sending half waited in vain for the receiving half")
}

async fn run_writer<R: KeySource>(
    tx: Sender<Vec<u8>, R>,
    mut stream: TcpStream,
    from_reader: smol::channel::Receiver<ToWriter>,
    closer: Closer,
) -> (Sender<Vec<u8>, R>, WriterReport) {
    let mut writer = Writer::new(tx, closer);
    loop {
        match writer.next(|| from_reader.try_recv().ok()) {
            Next::Flush => {
                flush_half(&mut writer.tx, &mut stream).await;
                // A write the socket took at once did not yield: let the receiving task run.
                smol::future::yield_now().await;
            }
            Next::Wait => {
                flush_half(&mut writer.tx, &mut stream).await;
                let item = wait(&from_reader).await;
                writer.apply(item);
            }
            Next::Done => return (writer.tx, writer.report),
        }
    }
}

/// The split side, to the end, as two tasks of one executor: returns the reports, after
/// checking the halves' states and joining them.
fn run_split<R: KeySource + Send + 'static>(
    stream: TcpStream,
    conn: Connection<Vec<u8>, R>,
    closer: Closer,
) -> (ReaderReport, WriterReport) {
    let (rx, tx) = split_open(conn);
    let ex = smol::Executor::new();
    let (to_writer, from_reader) = smol::channel::unbounded();
    let writer_stream = stream.clone();
    smol::block_on(ex.run(async {
        let reader = ex.spawn(run_reader(rx, stream, to_writer));
        let writer = ex.spawn(run_writer(tx, writer_stream, from_reader, closer));
        let ((rx, reader_report), (tx, writer_report)) = smol::future::zip(reader, writer).await;
        join_closed(rx, tx);
        (reader_report, writer_report)
    }))
}

/// The handshake on the joined connection, then two tasks.
fn split_side(end: SplitEnd, closer: Closer) -> (ReaderReport, WriterReport) {
    match end {
        SplitEnd::Accept(listener) => {
            let (stream, conn) = smol::block_on(async {
                let listener = smol::net::TcpListener::try_from(listener).unwrap();
                let (mut stream, _) = or_stall("accept", listener.accept()).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut conn = Connection::server(Config::default());
                handshake(&mut conn, &mut stream).await;
                (stream, conn)
            });
            run_split(stream, conn, closer)
        }
        SplitEnd::Connect(addr) => {
            let (stream, conn) = smol::block_on(async {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let host = addr.to_string();
                let mut conn =
                    Connection::client(&request(&host), Config::default(), OsEntropy::new())
                        .unwrap();
                handshake(&mut conn, &mut stream).await;
                (stream, conn)
            });
            run_split(stream, conn, closer)
        }
    }
}

common::halves::scenario_tests!(split_side);
