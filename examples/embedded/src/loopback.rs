//! A loopback network device in fixed memory: every packet sent is received back, in order.
//!
//! smoltcp's own `phy::Loopback` keeps packets in a `VecDeque<Vec<u8>>`, which needs an
//! allocator; this one keeps at most `SLOTS` packets of at most `MTU` bytes in arrays. On a
//! real board the Ethernet or Wi-Fi driver's `Device` takes its place.

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// The largest packet, as on Ethernet.
pub const MTU: usize = 1500;
/// Packets that can wait in the loop.
pub const SLOTS: usize = 4;

/// The packets in flight, oldest first.
pub struct Queue {
    packets: [[u8; MTU]; SLOTS],
    lens: [usize; SLOTS],
    head: usize,
    count: usize,
    /// Where a packet goes when the queue is full; it is dropped, and TCP sends it again.
    overflow: [u8; MTU],
    /// Packets and bytes sent, and packets dropped because the queue was full.
    pub sent: usize,
    pub bytes: usize,
    pub dropped: usize,
}

pub struct Loopback {
    queue: Queue,
    /// The packet being received, copied out so that its slot can take a reply at once.
    received: [u8; MTU],
}

impl Loopback {
    pub const fn new() -> Self {
        Loopback {
            queue: Queue {
                packets: [[0; MTU]; SLOTS],
                lens: [0; SLOTS],
                head: 0,
                count: 0,
                overflow: [0; MTU],
                sent: 0,
                bytes: 0,
                dropped: 0,
            },
            received: [0; MTU],
        }
    }

    pub fn stats(&self) -> &Queue {
        &self.queue
    }
}

impl Device for Loopback {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let queue = &mut self.queue;
        if queue.count == 0 {
            return None;
        }
        let len = queue.lens[queue.head];
        self.received[..len].copy_from_slice(&queue.packets[queue.head][..len]);
        queue.head = (queue.head + 1) % SLOTS;
        queue.count -= 1;
        Some((
            RxToken {
                packet: &self.received[..len],
            },
            TxToken { queue },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            queue: &mut self.queue,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        caps
    }
}

pub struct RxToken<'a> {
    packet: &'a [u8],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.packet)
    }
}

pub struct TxToken<'a> {
    queue: &'a mut Queue,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let queue = self.queue;
        let len = len.min(MTU);
        if queue.count == SLOTS {
            queue.dropped += 1;
            return f(&mut queue.overflow[..len]);
        }
        let slot = (queue.head + queue.count) % SLOTS;
        let result = f(&mut queue.packets[slot][..len]);
        queue.lens[slot] = len;
        queue.count += 1;
        queue.sent += 1;
        queue.bytes += len;
        result
    }
}
