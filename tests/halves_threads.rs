//! Core v2: the halves scenario ([`common::halves`]) with the split connection's halves on two
//! threads, with no lock, over clones of a blocking `TcpStream`. The owed values, and what the
//! receiving half learns for the sending half, travel from the reading thread to the writing
//! thread through a `std::sync::mpsc` channel.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;

use common::halves::{
    accept_blocking, check_reader_end, connect_blocking, join_closed, joined, read_buffer,
    split_open, Closer, Next, ReaderReport, SplitEnd, Then, ToWriter, Writer, WriterReport, STALL,
};
use wsmachine::drive::Transfer;
use wsmachine::{Connection, KeySource, OsEntropy, Receiver, Sender};

/// Writes a sending half's output to its blocking stream.
fn flush_half<R: KeySource>(tx: &mut Sender<Vec<u8>, R>, stream: &mut TcpStream) {
    while !tx.pending_output().is_empty() {
        let written = Transfer::from_io(stream.write(tx.pending_output())).expect("write");
        assert!(tx.handle_write(written), "the transport took nothing");
    }
}

fn run_reader(
    mut rx: Receiver<Vec<u8>>,
    mut stream: TcpStream,
    to_writer: mpsc::Sender<ToWriter>,
) -> (Receiver<Vec<u8>>, ReaderReport) {
    let mut report = ReaderReport::default();
    loop {
        let (then, for_writer) = report.step(&mut rx);
        for item in for_writer {
            to_writer.send(item).expect("the writing thread is gone");
        }
        match then {
            Then::Step => {}
            Then::Read => {
                let outcome = stream.read(read_buffer(&mut rx));
                rx.handle_read(Transfer::from_io(outcome).expect("split receiver: read"));
            }
            Then::Closed => break,
        }
    }
    check_reader_end(&mut rx);
    (rx, report)
}

/// The next item from the reading thread.
fn wait(from_reader: &mpsc::Receiver<ToWriter>) -> ToWriter {
    from_reader
        .recv_timeout(STALL)
        .expect("the sending half waited in vain for the receiving half")
}

fn run_writer<R: KeySource>(
    tx: Sender<Vec<u8>, R>,
    mut stream: TcpStream,
    from_reader: mpsc::Receiver<ToWriter>,
    closer: Closer,
) -> (Sender<Vec<u8>, R>, WriterReport) {
    let mut writer = Writer::new(tx, closer);
    loop {
        match writer.next(|| from_reader.try_recv().ok()) {
            Next::Flush => flush_half(&mut writer.tx, &mut stream),
            Next::Wait => {
                flush_half(&mut writer.tx, &mut stream);
                writer.apply(wait(&from_reader));
            }
            Next::Done => return (writer.tx, writer.report),
        }
    }
}

/// Splits the open connection, runs its halves on two threads to the end, checks their states
/// and joins them again.
fn run_split<R: KeySource + Send + 'static>(
    conn: Connection<Vec<u8>, R>,
    stream: TcpStream,
    closer: Closer,
) -> (ReaderReport, WriterReport) {
    let (rx, tx) = split_open(conn);
    stream.set_read_timeout(Some(STALL)).unwrap();
    let write_stream = stream.try_clone().unwrap();
    let (to_writer, from_reader) = mpsc::channel();
    let reader = thread::Builder::new()
        .name("split-reader".into())
        .spawn(move || run_reader(rx, stream, to_writer))
        .unwrap();
    let writer = thread::Builder::new()
        .name("split-writer".into())
        .spawn(move || run_writer(tx, write_stream, from_reader, closer))
        .unwrap();
    // Both joined before either failure is raised: the first to fail often only makes the
    // other stall, so the report needs both.
    let mut failures = Vec::new();
    let reader = joined("split reader thread", reader.join(), &mut failures);
    let writer = joined("split writer thread", writer.join(), &mut failures);
    let (Some((rx, reader_report)), Some((tx, writer_report))) = (reader, writer) else {
        panic!("{failures:#?}");
    };
    join_closed(rx, tx);
    (reader_report, writer_report)
}

/// The handshake on the joined connection, then two threads.
fn split_side(end: SplitEnd, closer: Closer) -> (ReaderReport, WriterReport) {
    match end {
        SplitEnd::Accept(listener) => {
            let (stream, conn) = accept_blocking(&listener);
            run_split(conn, stream, closer)
        }
        SplitEnd::Connect(addr) => {
            let (stream, conn) = connect_blocking(addr, OsEntropy::new());
            run_split(conn, stream, closer)
        }
    }
}

common::halves::scenario_tests!(split_side);
