//! Event-loop server: one thread, one io_uring, every connection a wsmachine `Connection` in a
//! slab. It echoes, and it broadcasts.
//!
//! `cargo run --release --example event_loop_server -- [ADDR] [--max-connections N]
//! [--deflate] [--quiet]` (default `127.0.0.1:9003`, 20,000 connections). Prints `listening on
//! ws://ADDR` once it accepts, and to stderr, unless `--quiet`, a line for each WebSocket it
//! accepts: its slot, version, path and agreed extension. Every version is spoken.
//! permessage-deflate is accepted only with `--deflate`: each connection that agrees to it
//! holds about 350 KiB of compression state for its whole life, which any client could ask for
//! with one header. Every text and binary message is echoed unchanged, except a text message
//! that starts with `/all `: the rest of it (64 KiB at most; a longer one closes its sender
//! with 1009) goes as a text message to every open connection, the sender's included. A plain
//! HTTP request gets `426 Upgrade Required`; a client that has not finished its request after
//! 10 s gets `408 Request Timeout`. Linux only (io_uring, kernel 6.0 or later).
//!
//! This is what a sans-IO engine is for: the loop owns the sockets, the buffers and the clock,
//! and the engine only turns bytes into events and messages into bytes. What that buys:
//!
//! - **No descriptor per connection.** Accepted sockets go straight into io_uring's table of
//!   fixed files (`IORING_FILE_INDEX_ALLOC`), so the process's descriptor limit (RLIMIT_NOFILE)
//!   bounds the connections, not the connections plus the listener, the ring and stdio. One
//!   accept is in flight at a time, and none while every slot is taken (until a close
//!   completes): an accept that finds the table full has already taken the connection from
//!   the listener's backlog, and the kernel drops it, where a waiting one stays in the backlog
//!   until a slot frees.
//! - **No buffer per idle connection.** Each connection has one multishot receive outstanding
//!   that takes a buffer from a shared pool (provided buffers) only when bytes arrive; the
//!   bytes are handed to the connection (`Connection::receive`) and the buffer goes back to
//!   the pool at once. An idle connection holds its slab entry and nothing else: the engine's
//!   growable buffers are released when they empty.
//! - **One timer heap** for every connection's `poll_timeout` (the handshake timeout, the
//!   close timeout), deleted lazily: an entry whose deadline no longer matches its connection's
//!   is skipped when it comes due.
//! - **Sends that cannot move.** The kernel reads a send's bytes after the call returns, while
//!   the loop may queue more on the same connection (a broadcast), so the connection's pending
//!   output is moved to a buffer of the entry's own, which stays put until the send completes.
//!   At most one send per connection is in flight; what is queued meanwhile waits in a second
//!   buffer for the next. Both are sized to the bytes they hold and freed when empty (the
//!   engine's own output queue starts at 4 KiB), and a peer that leaves more than 1 MiB
//!   waiting is dropped: its socket is shut down, which fails the send it holds. So is a peer
//!   whose send has made no progress for 10 s, which also bounds how long a closed
//!   connection's last send can hold its slot.
//! - **Memory back after a crowd leaves.** When the connections fall to half of their peak,
//!   the allocator is asked to return its free pages (glibc's `malloc_trim`), which it does
//!   not do by itself for freed memory below the top of its heap.
//!
//! A completion carries its operation, the connection's slot and the slot's generation in its
//! user data; a completion for a connection that has gone (its slot since reused) is ignored,
//! except that a buffer it holds goes back to the pool.

#[cfg(target_os = "linux")]
fn main() {
    uring::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("event_loop_server: needs Linux (io_uring)");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
mod uring {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::io;
    use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
    use std::os::fd::{AsRawFd, RawFd};
    use std::time::{Duration, Instant};

    use io_uring::{cqueue, opcode, squeue, types, IoUring};
    use wsmachine::deflate::negotiate::accept_offers;
    use wsmachine::deflate::DeflateConfig;
    use wsmachine::drive::Decision;
    use wsmachine::{CloseCode, Config, Connection, Event, State};

    /// Bytes of one pooled receive buffer.
    const BUFFER_SIZE: usize = 4096;
    /// Buffers in the pool: enough for a burst from every connection at once to wait only
    /// for the loop to hand the first ones back.
    const BUFFERS: u16 = 512;
    const BUFFER_GROUP: u16 = 0;
    /// The handshake and close timeouts, in milliseconds (the loop's unit of time).
    const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
    const CLOSE_TIMEOUT_MS: u64 = 3_000;
    const NOT_WEBSOCKET: &[u8] = b"this is a WebSocket server\n";
    /// Output bytes a connection may have waiting behind its send in flight.
    const MAX_WAITING: usize = 1 << 20;
    /// The longest broadcast text (bytes): it is copied to every connection.
    const MAX_BROADCAST: usize = 64 * 1024;
    /// How long a send may make no progress before its peer is dropped (milliseconds).
    const WRITE_TIMEOUT_MS: u64 = 10_000;
    const SHUT_RDWR: i32 = 2;

    // What a completion is for: the top byte of its user data.
    const ACCEPT: u64 = 1;
    const RECV: u64 = 2;
    const SEND: u64 = 3;
    const PROVIDE: u64 = 4;
    const SHUTDOWN: u64 = 5;
    const CLOSE: u64 = 6;
    const NODELAY: u64 = 7;

    /// `-errno` values a completion may carry.
    const ENOBUFS: i32 = 105;
    const ETIME: i32 = 62;
    const EINTR: i32 = 4;
    const EBUSY: i32 = 16;

    /// `TCP_NODELAY`'s value, read by the kernel after the call that queues it.
    static ONE: i32 = 1;

    fn user_data(kind: u64, slot: u32, generation: u32) -> u64 {
        kind << 56 | u64::from(generation) << 24 | u64::from(slot)
    }

    fn parts(user_data: u64) -> (u64, u32, u32) {
        (
            user_data >> 56,
            (user_data & 0xFF_FFFF) as u32,
            ((user_data >> 24) & 0xFFFF_FFFF) as u32,
        )
    }

    /// What a deadline in the timer heap is for.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Timer {
        /// The connection's own (`poll_timeout`): handshake and close timeouts.
        Connection,
        /// The send in flight's write timeout.
        Write,
    }

    /// The operation that fails a stalled send and ends a receive: what drops a peer.
    fn shutdown(slot: u32, generation: u32) -> squeue::Entry {
        opcode::Shutdown::new(types::Fixed(slot), SHUT_RDWR)
            .build()
            .user_data(user_data(SHUTDOWN, slot, generation))
    }

    /// One connection.
    struct Entry {
        conn: Connection<Vec<u8>>,
        generation: u32,
        /// Output handed to the kernel: it must not move until the send completes. Empty (no
        /// heap) when no send is in flight.
        sending: Vec<u8>,
        /// Bytes of `sending` the kernel has taken.
        sent: usize,
        /// Output queued while a send is in flight, the next send.
        waiting: Vec<u8>,
        /// When the send in flight was made or last made progress (milliseconds).
        progress: u64,
        /// The deadline this connection has in the timer heap, in milliseconds.
        timer: Option<u64>,
        /// The transport failed: end the connection once no send is in flight.
        broken: bool,
    }

    struct Server {
        ring: IoUring,
        listener: RawFd,
        /// Indexed by fixed-file slot.
        slots: Vec<Option<Box<Entry>>>,
        /// Fixed slots taken: by open connections, and by ended ones whose close has not
        /// completed.
        taken: usize,
        /// The most slots taken since memory was last given back.
        peak: usize,
        max_connections: usize,
        /// The receive buffers, `BUFFERS` of `BUFFER_SIZE` bytes, lent to the kernel.
        pool: Vec<u8>,
        /// Deadlines (milliseconds), slot, generation, and whether it is the connection's own
        /// timer (`poll_timeout`) or its send's write timeout.
        timers: BinaryHeap<Reverse<(u64, u32, u32, Timer)>>,
        next_generation: u32,
        started: Instant,
        config: Config,
        /// Whether an accept is in flight: none while every slot is taken.
        accepting: bool,
        /// Texts to broadcast, collected while a connection's events are handled.
        broadcasts: Vec<String>,
        /// Whether accepted WebSockets are logged.
        log: bool,
        /// Completions taken early (user data, result, flags), handled on the loop's next
        /// turn.
        deferred: Vec<(u64, i32, u32)>,
    }

    struct Options {
        addr: String,
        max_connections: u32,
        deflate: bool,
        quiet: bool,
    }

    fn usage() -> ! {
        eprintln!("usage: event_loop_server [ADDR] [--max-connections N] [--deflate] [--quiet]");
        std::process::exit(2);
    }

    fn options() -> Options {
        let mut options = Options {
            addr: "127.0.0.1:9003".into(),
            max_connections: 20_000,
            deflate: false,
            quiet: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--max-connections" => {
                    options.max_connections = args
                        .next()
                        .and_then(|n| n.parse().ok())
                        .filter(|n| *n > 0 && *n < 1 << 24)
                        .unwrap_or_else(|| usage());
                }
                "--deflate" => options.deflate = true,
                "--quiet" => options.quiet = true,
                a if a.starts_with("--") => usage(),
                a => options.addr = a.to_string(),
            }
        }
        options
    }

    pub fn main() {
        let options = options();
        let addr: SocketAddr = match options
            .addr
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
        {
            Some(a) => a,
            None => {
                eprintln!("event_loop_server: bad address {}", options.addr);
                std::process::exit(2);
            }
        };
        let listener = match listen(addr) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("event_loop_server: cannot listen on {addr}: {e}");
                std::process::exit(1);
            }
        };
        let mut config = Config::default();
        config.handshake_timeout = Some(HANDSHAKE_TIMEOUT_MS);
        config.close_timeout = Some(CLOSE_TIMEOUT_MS);
        if options.deflate {
            config.deflate = Some(DeflateConfig::new());
        }
        let mut server = match Server::new(
            listener.as_raw_fd(),
            options.max_connections,
            config,
            !options.quiet,
        ) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("event_loop_server: {e}");
                std::process::exit(1);
            }
        };
        let local = listener.local_addr().map_or(addr, |a| a);
        println!("listening on ws://{local}");
        if let Err(e) = server.run() {
            eprintln!("event_loop_server: {e}");
            std::process::exit(1);
        }
    }

    /// A listener whose backlog holds a burst of thousands of connections (the kernel caps it
    /// at `net.core.somaxconn`).
    fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(4096)?;
        Ok(socket.into())
    }

    impl Server {
        fn new(
            listener: RawFd,
            max_connections: u32,
            config: Config,
            log: bool,
        ) -> io::Result<Server> {
            let ring = IoUring::builder()
                // Room for a completion from every connection and then some: a broadcast
                // completes a send on each.
                .setup_cqsize(65_536)
                .build(4096)
                .map_err(|e| io::Error::new(e.kind(), format!("io_uring: {e}")))?;
            ring.submitter()
                .register_files_sparse(max_connections)
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "a table of {max_connections} fixed files: {e} (at most the \
                             descriptor limit, RLIMIT_NOFILE: try --max-connections)"
                        ),
                    )
                })?;
            let mut server = Server {
                ring,
                listener,
                slots: (0..max_connections).map(|_| None).collect(),
                taken: 0,
                peak: 0,
                max_connections: max_connections as usize,
                pool: vec![0; BUFFER_SIZE * usize::from(BUFFERS)],
                timers: BinaryHeap::new(),
                next_generation: 0,
                started: Instant::now(),
                config,
                accepting: false,
                broadcasts: Vec::new(),
                log,
                deferred: Vec::new(),
            };
            let provide = opcode::ProvideBuffers::new(
                server.pool.as_mut_ptr(),
                BUFFER_SIZE as i32,
                BUFFERS,
                BUFFER_GROUP,
                0,
            )
            .build()
            .user_data(user_data(PROVIDE, 0, 0));
            server.push(provide)?;
            server.arm_accept()?;
            Ok(server)
        }

        fn now(&self) -> u64 {
            u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
        }

        /// Queues an operation, submitting what is queued first when the queue is full.
        fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
            loop {
                // SAFETY: every buffer an operation names (the pool, an entry's `sending`,
                // `ONE`) stays where it is until the operation's completion arrives.
                if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                    return Ok(());
                }
                match self.ring.submit() {
                    Ok(_) => {}
                    // The completion queue overflowed: take its entries for the loop's next
                    // turn, which makes room.
                    Err(e) if e.raw_os_error() == Some(EBUSY) => {
                        let taken = self
                            .ring
                            .completion()
                            .map(|c| (c.user_data(), c.result(), c.flags()));
                        self.deferred.extend(taken);
                    }
                    Err(e) => return Err(e),
                }
            }
        }

        /// Accepts the next connection if a slot is free and no accept is in flight.
        fn arm_accept(&mut self) -> io::Result<()> {
            if self.accepting || self.taken >= self.max_connections {
                return Ok(());
            }
            self.accepting = true;
            let accept = opcode::Accept::new(
                types::Fd(self.listener),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
            .file_index(Some(types::DestinationSlot::auto_target()))
            .build()
            .user_data(user_data(ACCEPT, 0, 0));
            self.push(accept)
        }

        fn arm_recv(&mut self, slot: u32, generation: u32) -> io::Result<()> {
            let recv = opcode::RecvMulti::new(types::Fixed(slot), BUFFER_GROUP)
                .build()
                .user_data(user_data(RECV, slot, generation));
            self.push(recv)
        }

        fn run(&mut self) -> io::Result<()> {
            let mut completions: Vec<(u64, i32, u32)> = Vec::new();
            loop {
                let wait = self.timers.peek().map(|Reverse((deadline, ..))| {
                    Duration::from_millis(deadline.saturating_sub(self.now()))
                });
                // Completions taken early are this turn's: nothing to wait for.
                let wait = if self.deferred.is_empty() {
                    wait
                } else {
                    Some(Duration::ZERO)
                };
                let submitted = match wait {
                    Some(wait) => {
                        let timeout = types::Timespec::new()
                            .sec(wait.as_secs())
                            .nsec(wait.subsec_nanos());
                        let args = types::SubmitArgs::new().timespec(&timeout);
                        self.ring.submitter().submit_with_args(1, &args)
                    }
                    None => self.ring.submit_and_wait(1),
                };
                match submitted {
                    Ok(_) => {}
                    // A timer came due, a signal, or completions to take first.
                    Err(e) if matches!(e.raw_os_error(), Some(ETIME | EINTR | EBUSY)) => {}
                    Err(e) => return Err(e),
                }
                completions.clear();
                completions.append(&mut self.deferred);
                completions.extend(
                    self.ring
                        .completion()
                        .map(|c| (c.user_data(), c.result(), c.flags())),
                );
                for &(data, result, flags) in &completions {
                    self.complete(data, result, flags)?;
                }
                self.run_timers()?;
            }
        }

        fn complete(&mut self, data: u64, result: i32, flags: u32) -> io::Result<()> {
            let (kind, slot, generation) = parts(data);
            match kind {
                ACCEPT => self.accepted(result),
                RECV => self.received(slot, generation, result, flags),
                SEND => self.sent(slot, generation, result),
                PROVIDE if result < 0 => Err(io::Error::other(format!(
                    "the kernel refused the receive buffers: {}",
                    io::Error::from_raw_os_error(-result)
                ))),
                CLOSE => {
                    self.taken -= 1;
                    if self.taken <= self.peak / 2 {
                        if self.peak >= 64 {
                            release_free_memory();
                        }
                        self.peak = self.taken;
                    }
                    self.arm_accept()
                }
                // Shutdown and TCP_NODELAY: a connection that failed them is gone or merely
                // slower; nothing to do.
                PROVIDE | SHUTDOWN | NODELAY => Ok(()),
                _ => Ok(()),
            }
        }

        fn accepted(&mut self, result: i32) -> io::Result<()> {
            self.accepting = false;
            if result >= 0 {
                let slot = result as u32;
                let generation = self.next_generation;
                self.next_generation = self.next_generation.wrapping_add(1);
                let mut conn = Connection::server(self.config);
                // The handshake timeout counts from the first `handle_timeout`.
                conn.handle_timeout(self.now());
                let mut entry = Box::new(Entry {
                    conn,
                    generation,
                    sending: Vec::new(),
                    sent: 0,
                    waiting: Vec::new(),
                    progress: 0,
                    timer: None,
                    broken: false,
                });
                self.schedule(slot, &mut entry);
                self.slots[slot as usize] = Some(entry);
                self.taken += 1;
                self.peak = self.peak.max(self.taken);
                let nodelay = opcode::SetSockOpt::new(
                    types::Fixed(slot),
                    6, // IPPROTO_TCP
                    1, // TCP_NODELAY
                    std::ptr::from_ref(&ONE).cast(),
                    4,
                )
                .build()
                .user_data(user_data(NODELAY, slot, generation));
                self.push(nodelay)?;
                self.arm_recv(slot, generation)?;
            } else {
                // Out of memory or of slots (something else holding them): the connection is
                // lost, the next one may fare better.
                eprintln!(
                    "event_loop_server: accept failed: {}",
                    io::Error::from_raw_os_error(-result)
                );
            }
            self.arm_accept()
        }

        fn received(
            &mut self,
            slot: u32,
            generation: u32,
            result: i32,
            flags: u32,
        ) -> io::Result<()> {
            let buffer = cqueue::buffer_select(flags);
            let live = self.entry(slot, generation).is_some();
            if live {
                let Server {
                    slots,
                    pool,
                    broadcasts,
                    log,
                    ..
                } = self;
                let log = log.then_some(slot);
                let entry = slots[slot as usize].as_mut().expect("live entry");
                match (result, buffer) {
                    (n, Some(id)) if n > 0 => {
                        let start = usize::from(id) * BUFFER_SIZE;
                        let mut rest = &pool[start..start + n as usize];
                        while !rest.is_empty() {
                            let taken = entry.conn.receive(rest);
                            rest = &rest[taken..];
                            handle_events(entry, log, broadcasts);
                            if taken == 0 && !rest.is_empty() {
                                // The input takes the largest frame the limits allow, so it
                                // only stays full on a connection that has failed.
                                break;
                            }
                        }
                    }
                    (0, _) => {
                        entry.conn.handle_eof();
                        handle_events(entry, log, broadcasts);
                    }
                    (n, _) if -n == ENOBUFS => {}
                    _ => entry.broken = true,
                }
            }
            if let Some(id) = buffer {
                self.give_back(id)?;
            }
            if live {
                let ended = !cqueue::more(flags);
                let rearm = ended
                    && self
                        .entry(slot, generation)
                        .is_some_and(|e| !e.broken && result != 0);
                if rearm {
                    self.arm_recv(slot, generation)?;
                }
                self.settle(slot)?;
                self.broadcast()?;
            }
            Ok(())
        }

        fn give_back(&mut self, id: u16) -> io::Result<()> {
            let start = usize::from(id) * BUFFER_SIZE;
            let provide = opcode::ProvideBuffers::new(
                self.pool[start..].as_mut_ptr(),
                BUFFER_SIZE as i32,
                1,
                BUFFER_GROUP,
                id,
            )
            .build()
            .user_data(user_data(PROVIDE, 0, 0));
            self.push(provide)
        }

        fn sent(&mut self, slot: u32, generation: u32, result: i32) -> io::Result<()> {
            let now = self.now();
            let Some(entry) = self.entry(slot, generation) else {
                return Ok(());
            };
            if result <= 0 {
                entry.sending = Vec::new();
                entry.waiting = Vec::new();
                entry.sent = 0;
                entry.broken = true;
            } else {
                entry.sent += result as usize;
                entry.progress = now;
                if entry.sent == entry.sending.len() {
                    // What waited goes next; with nothing, no buffer is left.
                    entry.sending = std::mem::take(&mut entry.waiting);
                    entry.sent = 0;
                }
                if !entry.sending.is_empty() {
                    let (rest, len) = (
                        entry.sending[entry.sent..].as_ptr(),
                        entry.sending.len() - entry.sent,
                    );
                    let send = opcode::Send::new(types::Fixed(slot), rest, len as u32)
                        .build()
                        .user_data(user_data(SEND, slot, generation));
                    self.push(send)?;
                }
            }
            self.settle(slot)
        }

        fn entry(&mut self, slot: u32, generation: u32) -> Option<&mut Entry> {
            self.slots
                .get_mut(slot as usize)?
                .as_deref_mut()
                .filter(|e| e.generation == generation)
        }

        /// After a connection was handled: sends what it queued (when no send is in flight),
        /// updates its timer, and ends it once it is closed and its output is out.
        fn settle(&mut self, slot: u32) -> io::Result<()> {
            let Some(mut entry) = self.slots[slot as usize].take() else {
                return Ok(());
            };
            let result = self.settle_entry(slot, &mut entry);
            // Between completions a connection waits for the network: it holds no engine
            // buffer but a partial frame.
            entry.conn.shrink_buffers();
            let done = entry.sending.is_empty()
                && (entry.broken
                    || (entry.conn.state() == State::Closed
                        && entry.conn.pending_output().is_empty()));
            if done {
                self.end(slot)?;
            } else {
                self.slots[slot as usize] = Some(entry);
            }
            result
        }

        fn settle_entry(&mut self, slot: u32, entry: &mut Entry) -> io::Result<()> {
            let pending = entry.conn.pending_output();
            if !entry.broken && !pending.is_empty() {
                let len = pending.len();
                let idle = entry.sending.is_empty();
                if idle {
                    entry.sending.extend_from_slice(pending);
                } else {
                    entry.waiting.extend_from_slice(pending);
                }
                // The bytes are the loop's to send now.
                let _ = entry
                    .conn
                    .handle_write(wsmachine::drive::Transfer::Bytes(len));
                if idle {
                    let send =
                        opcode::Send::new(types::Fixed(slot), entry.sending.as_ptr(), len as u32)
                            .build()
                            .user_data(user_data(SEND, slot, entry.generation));
                    self.push(send)?;
                    // Sends made back to back keep the first one's timer, which moves on
                    // with their progress when it comes due.
                    entry.progress = self.now();
                    let deadline = entry.progress + WRITE_TIMEOUT_MS;
                    self.timers
                        .push(Reverse((deadline, slot, entry.generation, Timer::Write)));
                } else if entry.waiting.len() > MAX_WAITING {
                    // A peer that does not read: the shutdown fails the send it holds, whose
                    // completion then ends the connection.
                    entry.broken = true;
                    entry.waiting = Vec::new();
                    self.push(shutdown(slot, entry.generation))?;
                }
            }
            self.schedule(slot, entry);
            Ok(())
        }

        fn schedule(&mut self, slot: u32, entry: &mut Entry) {
            let next = entry.conn.poll_timeout();
            if next != entry.timer {
                if let Some(deadline) = next {
                    self.timers.push(Reverse((
                        deadline,
                        slot,
                        entry.generation,
                        Timer::Connection,
                    )));
                }
                entry.timer = next;
            }
        }

        /// Ends the connection in `slot`: its socket is shut down, which ends its receive (a
        /// closed slot alone would leave the receive holding the socket open), then the slot
        /// is closed, even if the shutdown failed (a hard link); a later completion for the
        /// connection finds another generation in the slot.
        fn end(&mut self, slot: u32) -> io::Result<()> {
            self.slots[slot as usize] = None;
            let shutdown = shutdown(slot, 0).flags(squeue::Flags::IO_HARDLINK);
            let close = opcode::Close::new(types::Fixed(slot))
                .build()
                .user_data(user_data(CLOSE, slot, 0));
            self.push(shutdown)?;
            self.push(close)
        }

        /// Sends what the last connection's messages asked to broadcast to every open one.
        fn broadcast(&mut self) -> io::Result<()> {
            if self.broadcasts.is_empty() {
                return Ok(());
            }
            let texts = std::mem::take(&mut self.broadcasts);
            for slot in 0..self.slots.len() as u32 {
                let Some(entry) = self.slots[slot as usize].as_mut() else {
                    continue;
                };
                if entry.conn.state() != State::Open {
                    continue;
                }
                for text in &texts {
                    // A connection that cannot take it (closing meanwhile) misses it.
                    let _ = entry.conn.send_text(text);
                }
                self.settle(slot)?;
            }
            Ok(())
        }

        fn run_timers(&mut self) -> io::Result<()> {
            let now = self.now();
            while let Some(&Reverse((deadline, slot, generation, timer))) = self.timers.peek() {
                if deadline > now {
                    break;
                }
                self.timers.pop();
                if timer == Timer::Write {
                    self.write_timeout(slot, generation, now)?;
                    continue;
                }
                let Server {
                    slots,
                    broadcasts,
                    log,
                    ..
                } = self;
                let log = log.then_some(slot);
                let Some(entry) = slots[slot as usize]
                    .as_deref_mut()
                    .filter(|e| e.generation == generation && e.timer == Some(deadline))
                else {
                    continue;
                };
                entry.timer = None;
                entry.conn.handle_timeout(now);
                handle_events(entry, log, broadcasts);
                self.settle(slot)?;
                self.broadcast()?;
            }
            Ok(())
        }
    }

    impl Server {
        /// A send's write timeout came due: a peer that took no bytes since is dropped (the
        /// shutdown fails its send, whose completion ends the connection); one that did gets
        /// a new deadline from its last progress. That also bounds how long a closed
        /// connection's last send can hold its slot.
        fn write_timeout(&mut self, slot: u32, generation: u32, now: u64) -> io::Result<()> {
            let Some(entry) = self.entry(slot, generation) else {
                return Ok(());
            };
            if entry.sending.is_empty() || entry.broken {
                return Ok(());
            }
            let deadline = entry.progress + WRITE_TIMEOUT_MS;
            if now < deadline {
                self.timers
                    .push(Reverse((deadline, slot, generation, Timer::Write)));
                return Ok(());
            }
            entry.broken = true;
            entry.waiting = Vec::new();
            self.push(shutdown(slot, generation))
        }
    }

    /// Returns the allocator's free pages to the system.
    #[cfg(target_env = "gnu")]
    fn release_free_memory() {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: glibc's malloc_trim takes no pointer and may be called at any time.
        unsafe {
            malloc_trim(0);
        }
    }

    /// Other allocators return free pages by themselves, or have no call to ask for it.
    #[cfg(not(target_env = "gnu"))]
    fn release_free_memory() {}

    /// Everything the connection has to report: requests answered, messages echoed or
    /// collected for a broadcast. A failure (the peer's violation, a timed-out handshake) has
    /// queued its close frame or HTTP answer; the connection is then closed. With `log`, the
    /// connection's slot, an accepted WebSocket is logged.
    fn handle_events(entry: &mut Entry, log: Option<u32>, broadcasts: &mut Vec<String>) {
        loop {
            match entry.conn.poll_event_with_sender() {
                Ok(Some((Event::Text(text), tx))) => match text.strip_prefix("/all ") {
                    Some(rest) if rest.len() <= MAX_BROADCAST => broadcasts.push(rest.to_string()),
                    Some(_) => {
                        let _ = tx.close_with(CloseCode::TOO_BIG, "broadcasts are 64 KiB at most");
                    }
                    None => {
                        let _ = tx.send_text(text);
                    }
                },
                Ok(Some((Event::Binary(data), tx))) => {
                    let _ = tx.send_binary(data);
                }
                Ok(Some((Event::Request(_) | Event::HttpRequest(_), _))) => {
                    let Some(request) = entry.conn.request() else {
                        continue;
                    };
                    let decision = Decision::websocket_only(&request, NOT_WEBSOCKET);
                    let line = log.zip(request.version()).map(|(slot, version)| {
                        // The extension the 101 will agree to: what `accept` answers.
                        let agreed = match entry.conn.config().deflate {
                            Some(deflate) if !version.is_hixie() => {
                                accept_offers(request.extensions(), &deflate)
                                    .map(|a| format!(" extensions: {}", a.response))
                            }
                            _ => None,
                        };
                        format!(
                            "connection {slot}: {} {}{}",
                            version.as_str(),
                            request.target(),
                            agreed.unwrap_or_default()
                        )
                    });
                    if decision.apply(&mut entry.conn).is_ok() {
                        if let Some(line) = line {
                            eprintln!("{line}");
                        }
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
    }
}
