//! A raw DEFLATE decoder (RFC 1951) of its own, written after zlib's `puff.c`, so that
//! [`crate::Audit`] reads compressed messages without the crate's decoder or its library, and
//! sees every back-reference: each must stay within the window the writer agreed to
//! (RFC 7692 §7.1.2) and within what the reader holds (the message so far, and the messages
//! before it only with context takeover, §7.1.1).

/// Why a compressed message does not inflate.
pub type Failure = String;

/// Length base values and extra bits of the length codes 257 to 285.
const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Distance base values and extra bits of the distance codes 0 to 29.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order the code length code lengths come in (RFC 1951 §3.2.7).
const CODE_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// A canonical Huffman code: how many codes of each length, and the symbols in code order.
struct Huffman {
    count: [u16; 16],
    symbol: Vec<u16>,
}

impl Huffman {
    /// The code for `lengths` (one per symbol, 0 for unused), and how many codes are left
    /// unused: negative for an over-subscribed code, positive for an incomplete one.
    fn new(lengths: &[u8]) -> (Self, i32) {
        let mut count = [0u16; 16];
        for &l in lengths {
            count[usize::from(l)] += 1;
        }
        let mut left: i32 = 1;
        let mut h = Huffman {
            count,
            symbol: vec![0; lengths.len()],
        };
        if usize::from(count[0]) == lengths.len() {
            return (h, 0);
        }
        for &n in &count[1..16] {
            left <<= 1;
            left -= i32::from(n);
            if left < 0 {
                return (h, left);
            }
        }
        let mut offs = [0u16; 16];
        for len in 1..15 {
            offs[len + 1] = offs[len] + count[len];
        }
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                h.symbol[usize::from(offs[usize::from(l)])] = sym as u16;
                offs[usize::from(l)] += 1;
            }
        }
        (h, left)
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    count: u32,
}

impl Reader<'_> {
    fn bits(&mut self, need: u32) -> Result<u32, Failure> {
        while self.count < need {
            let byte = *self
                .data
                .get(self.pos)
                .ok_or("the data ends inside a block")?;
            self.pos += 1;
            self.buf |= u64::from(byte) << self.count;
            self.count += 8;
        }
        let value = (self.buf & ((1u64 << need) - 1)) as u32;
        self.buf >>= need;
        self.count -= need;
        Ok(value)
    }

    fn decode(&mut self, h: &Huffman) -> Result<u16, Failure> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= self.bits(1)? as i32;
            let count = i32::from(h.count[len]);
            if code - count < first {
                return Ok(h.symbol[(index + (code - first)) as usize]);
            }
            index += count;
            first += count;
            first <<= 1;
            code <<= 1;
        }
        Err("a code that the block's Huffman code does not have".into())
    }
}

/// What a compressed message inflated to.
#[derive(Debug)]
pub struct Inflated {
    pub data: Vec<u8>,
    /// The largest distance a back-reference used (0 if none).
    pub max_distance: usize,
    /// A block had BFINAL set; the bytes after it were not read.
    pub final_block: bool,
}

/// Inflates `input`, one message's payload with the `00 00 FF FF` its sender removed put back
/// (RFC 7692 §7.2.2), after `history` (what the reader holds from earlier messages: empty
/// without context takeover). Every back-reference must be at most `window` bytes back and
/// within the history and the output; the input must end exactly where a block ends, on a byte
/// boundary (the empty stored block of the sync flush), unless a block has BFINAL set. At most
/// `max` bytes are produced.
pub fn inflate(
    input: &[u8],
    history: &[u8],
    window: usize,
    max: usize,
) -> Result<Inflated, Failure> {
    let mut r = Reader {
        data: input,
        pos: 0,
        buf: 0,
        count: 0,
    };
    let mut out = history.to_vec();
    let start = out.len();
    let mut max_distance = 0;
    loop {
        if r.pos == input.len() && r.count == 0 {
            return Ok(Inflated {
                data: out.split_off(start),
                max_distance,
                final_block: false,
            });
        }
        let last = r.bits(1)? == 1;
        match r.bits(2)? {
            0 => {
                // Stored: the rest of the byte is dropped, then LEN and its complement.
                r.buf = 0;
                r.count = 0;
                let head = input
                    .get(r.pos..r.pos + 4)
                    .ok_or("a stored block's length is cut short")?;
                let len = u16::from_le_bytes([head[0], head[1]]);
                let nlen = u16::from_le_bytes([head[2], head[3]]);
                if len != !nlen {
                    return Err(format!("stored block length {len:#x} / {nlen:#x}"));
                }
                r.pos += 4;
                let bytes = input
                    .get(r.pos..r.pos + usize::from(len))
                    .ok_or("a stored block is cut short")?;
                out.extend_from_slice(bytes);
                r.pos += usize::from(len);
            }
            1 => {
                let mut lengths = [0u8; 288 + 30];
                lengths[..144].fill(8);
                lengths[144..256].fill(9);
                lengths[256..280].fill(7);
                lengths[280..288].fill(8);
                lengths[288..].fill(5);
                let (lit, _) = Huffman::new(&lengths[..288]);
                let (dist, _) = Huffman::new(&lengths[288..]);
                codes(
                    &mut r,
                    &lit,
                    &dist,
                    &mut out,
                    window,
                    start,
                    &mut max_distance,
                )?;
            }
            2 => {
                let nlen = r.bits(5)? as usize + 257;
                let ndist = r.bits(5)? as usize + 1;
                let ncode = r.bits(4)? as usize + 4;
                if nlen > 286 || ndist > 30 {
                    return Err(format!("{nlen} length codes, {ndist} distance codes"));
                }
                let mut lengths = [0u8; 320];
                for &at in &CODE_ORDER[..ncode] {
                    lengths[at] = r.bits(3)? as u8;
                }
                let (lencode, left) = Huffman::new(&lengths[..19]);
                if left != 0 {
                    return Err("an incomplete code length code".into());
                }
                let mut index = 0;
                while index < nlen + ndist {
                    let sym = r.decode(&lencode)?;
                    if sym < 16 {
                        lengths[index] = sym as u8;
                        index += 1;
                        continue;
                    }
                    let (value, repeat) = match sym {
                        16 => {
                            if index == 0 {
                                return Err("a repeat with no length before it".into());
                            }
                            (lengths[index - 1], 3 + r.bits(2)? as usize)
                        }
                        17 => (0, 3 + r.bits(3)? as usize),
                        _ => (0, 11 + r.bits(7)? as usize),
                    };
                    if index + repeat > nlen + ndist {
                        return Err("code lengths repeated past their end".into());
                    }
                    lengths[index..index + repeat].fill(value);
                    index += repeat;
                }
                if lengths[256] == 0 {
                    return Err("no end-of-block code".into());
                }
                let (lit, left) = Huffman::new(&lengths[..nlen]);
                // Incomplete codes only when a single code of one bit is used.
                let used = |h: &Huffman| usize::from(h.count[0]) + usize::from(h.count[1]);
                if left < 0 || (left > 0 && nlen != used(&lit)) {
                    return Err("an invalid literal/length code".into());
                }
                let (dist, left) = Huffman::new(&lengths[nlen..nlen + ndist]);
                if left < 0 || (left > 0 && ndist != used(&dist)) {
                    return Err("an invalid distance code".into());
                }
                codes(
                    &mut r,
                    &lit,
                    &dist,
                    &mut out,
                    window,
                    start,
                    &mut max_distance,
                )?;
            }
            _ => return Err("block type 3".into()),
        }
        if out.len() - start > max {
            return Err(format!("more than {max} bytes"));
        }
        if last {
            return Ok(Inflated {
                data: out.split_off(start),
                max_distance,
                final_block: true,
            });
        }
    }
}

/// The literals and matches of one Huffman block, up to its end code.
fn codes(
    r: &mut Reader<'_>,
    lit: &Huffman,
    dist: &Huffman,
    out: &mut Vec<u8>,
    window: usize,
    start: usize,
    max_distance: &mut usize,
) -> Result<(), Failure> {
    loop {
        let sym = r.decode(lit)?;
        if sym < 256 {
            out.push(sym as u8);
            continue;
        }
        if sym == 256 {
            return Ok(());
        }
        let at = usize::from(sym - 257);
        if at >= 29 {
            return Err(format!("length symbol {sym}"));
        }
        let len = usize::from(LENGTH_BASE[at]) + r.bits(u32::from(LENGTH_EXTRA[at]))? as usize;
        let dsym = usize::from(r.decode(dist)?);
        if dsym >= 30 {
            return Err(format!("distance symbol {dsym}"));
        }
        let distance = usize::from(DIST_BASE[dsym]) + r.bits(u32::from(DIST_EXTRA[dsym]))? as usize;
        if distance > out.len() {
            return Err(format!(
                "a match {distance} bytes back, before what the reader holds ({} bytes: {} of \
                 this message)",
                out.len(),
                out.len() - start
            ));
        }
        if distance > window {
            return Err(format!(
                "a match {distance} bytes back, beyond the agreed window of {window} bytes"
            ));
        }
        *max_distance = (*max_distance).max(distance);
        for _ in 0..len {
            out.push(out[out.len() - distance]);
        }
        if out.len() - start > (64 << 20) {
            return Err("an endless message".into());
        }
    }
}
