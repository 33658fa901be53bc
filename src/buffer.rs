//! Byte storage a connection works in: growable `Vec<u8>` with `alloc`, or slices the caller
//! owns without it. [`ByteQueue`] is the one queue type over both, used for input, output and
//! message reassembly.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::error::UsageError;

/// Memory a connection keeps bytes in.
///
/// Implemented for `&mut [u8]` (fixed size, never allocates) and, with `alloc`, for `Vec<u8>`
/// (grows on demand up to the connection's [`crate::Limits`], keeps its memory while the
/// connection is busy, and gives it back on [`crate::Connection::shrink_buffers`]).
pub trait Storage {
    /// The usable bytes.
    fn bytes(&self) -> &[u8];
    /// The usable bytes, mutably.
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Makes at least `needed` bytes usable (but never more than `max`), keeping the current
    /// contents; returns false if the storage cannot grow that far.
    fn try_grow(&mut self, needed: usize, max: usize) -> bool;
    /// Gives memory back; called only when the queue is empty. Fixed storage keeps its bytes.
    fn release(&mut self) {}
    /// The most bytes this storage can ever hold.
    fn max_capacity(&self) -> usize {
        usize::MAX
    }
}

impl Storage for &mut [u8] {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
    fn try_grow(&mut self, needed: usize, _max: usize) -> bool {
        needed <= self.len()
    }
    fn max_capacity(&self) -> usize {
        self.len()
    }
}

#[cfg(feature = "alloc")]
impl Storage for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
    fn try_grow(&mut self, needed: usize, max: usize) -> bool {
        if needed <= self.len() {
            return true;
        }
        if needed > max {
            return false;
        }
        // Doubling keeps growth amortised; the floor avoids tiny first allocations.
        let len = needed.max(self.len().saturating_mul(2)).max(1024).min(max);
        if self.is_empty() {
            // A zeroed allocation (calloc: large ones are fresh pages, which need no zeroing
            // in user space), rather than `resize`, which fills the whole buffer with zeros.
            *self = alloc::vec![0; len];
        } else {
            // `resize` reallocates in place when it can (large buffers move by remapping,
            // with no copy and no second buffer alive at once) and zeroes the new part: once
            // per doubling, as the buffer is kept while the connection is busy.
            self.resize(len, 0);
        }
        true
    }
    fn release(&mut self) {
        *self = Vec::new();
    }
}

/// A FIFO of bytes in one [`Storage`]: `data()` is `storage[start..end]`.
#[derive(Debug)]
pub(crate) struct ByteQueue<S> {
    storage: S,
    // 32-bit positions keep every connection 24 bytes smaller; a queue never holds more than
    // a limit, and limits stop at 4 GiB - 1.
    start: u32,
    end: u32,
}

/// The most bytes of a storage a queue uses.
const MAX_QUEUE: usize = u32::MAX as usize;

impl<S: Storage> ByteQueue<S> {
    pub(crate) fn new(storage: S) -> Self {
        ByteQueue {
            storage,
            start: 0,
            end: 0,
        }
    }

    #[inline]
    fn range(&self) -> (usize, usize) {
        (self.start as usize, self.end as usize)
    }

    /// Usable bytes of the storage.
    #[inline]
    fn usable(&self) -> usize {
        self.storage.bytes().len().min(MAX_QUEUE)
    }

    #[inline]
    pub(crate) fn data(&self) -> &[u8] {
        let (start, end) = self.range();
        &self.storage.bytes()[start..end]
    }

    #[inline]
    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        let (start, end) = self.range();
        &mut self.storage.bytes_mut()[start..end]
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The most bytes the storage can ever hold.
    pub(crate) fn max_capacity(&self) -> usize {
        self.storage.max_capacity().min(MAX_QUEUE)
    }

    /// Bytes held by the storage (for memory accounting).
    pub(crate) fn capacity(&self) -> usize {
        self.storage.bytes().len()
    }

    /// Drops `n` bytes from the front.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        // `n.min(len)` fits 32 bits because `len` does.
        self.start += n.min(self.len()) as u32;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drops everything.
    pub(crate) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Frees growable storage if nothing is queued.
    pub(crate) fn release_if_empty(&mut self) {
        if self.is_empty() && self.capacity() > 0 {
            self.storage.release();
        }
    }

    /// Free space at the end, at least `min` bytes if the storage and `max_len` (the most the
    /// queue may hold) allow; may be shorter or empty otherwise.
    pub(crate) fn spare(&mut self, min: usize, max_len: usize) -> &mut [u8] {
        let len = self.len();
        let max_len = max_len.min(MAX_QUEUE).max(len);
        let want = len.saturating_add(min).min(max_len);
        if self.usable() - (self.start as usize) < want {
            self.compact();
            let _ = self.storage.try_grow(want, max_len);
        }
        let spare = self.spare_range(max_len);
        &mut self.storage.bytes_mut()[spare]
    }

    /// Bytes [`ByteQueue::spare`] with the same `max_len` hands out now, without making room.
    pub(crate) fn spare_len(&self, max_len: usize) -> usize {
        self.spare_range(max_len).len()
    }

    fn spare_range(&self, max_len: usize) -> core::ops::Range<usize> {
        let max_len = max_len.min(MAX_QUEUE).max(self.len());
        let (start, end) = self.range();
        // Never hand out more than the limit allows to be queued.
        let limit = (start + max_len).min(self.usable());
        end..limit.max(end)
    }

    /// Marks `n` bytes of [`ByteQueue::spare`] as filled.
    pub(crate) fn commit(&mut self, n: usize) {
        self.end = (self.end as usize + n).min(self.usable()) as u32;
    }

    /// Appends exactly `n` bytes and returns them to be written, or the bytes available if the
    /// storage or `max_len` cannot take them; nothing changes then.
    #[inline]
    pub(crate) fn append(&mut self, n: usize, max_len: usize) -> Result<&mut [u8], usize> {
        let len = self.len();
        let max_len = max_len.min(MAX_QUEUE);
        let available = max_len.saturating_sub(len);
        if n > available {
            return Err(available);
        }
        if self.usable() - (self.end as usize) < n {
            self.compact();
            if !self.storage.try_grow(len + n, max_len) {
                return Err(self.usable() - len);
            }
        }
        let start = self.end as usize;
        // `len + n <= max_len <= u32::MAX`, and the queue starts at 0 after compacting.
        self.end += n as u32;
        Ok(&mut self.storage.bytes_mut()[start..start + n])
    }

    /// [`ByteQueue::append`] when the bytes fit right after the queue as it stands, without
    /// compacting or growing: small enough to inline into every send. `None` changes nothing,
    /// and `append` then decides (and reports) as usual.
    #[inline(always)]
    pub(crate) fn append_in_place(&mut self, n: usize, max_len: usize) -> Option<&mut [u8]> {
        let new_end = self.end_in_place(n, max_len)?;
        let end = self.end as usize;
        let buf = self.storage.bytes_mut().get_mut(end..new_end)?;
        self.end = new_end as u32;
        Some(buf)
    }

    /// Whether [`ByteQueue::append_in_place`] would succeed.
    #[inline(always)]
    pub(crate) fn fits_in_place(&self, n: usize, max_len: usize) -> bool {
        self.end_in_place(n, max_len).is_some()
    }

    #[inline(always)]
    fn end_in_place(&self, n: usize, max_len: usize) -> Option<usize> {
        let (start, end) = self.range();
        // The same two bounds as `append`, as compares of the new end: the limit on what is
        // queued, and the usable storage. `end` has 32 bits, so the sum cannot overflow on
        // 64-bit targets and the check folds away there.
        let new_end = end.checked_add(n)?;
        let fits = new_end - start <= max_len.min(MAX_QUEUE) && new_end <= self.usable();
        fits.then_some(new_end)
    }

    /// [`ByteQueue::append`] for output: a shortfall is the caller's [`UsageError::OutputFull`].
    pub(crate) fn append_output(
        &mut self,
        n: usize,
        max_len: usize,
    ) -> Result<&mut [u8], UsageError> {
        self.append(n, max_len)
            .map_err(|available| UsageError::OutputFull {
                required: n,
                available,
            })
    }

    fn compact(&mut self) {
        if self.start > 0 {
            let (start, end) = self.range();
            self.storage.bytes_mut().copy_within(start..end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }
}

/// Copies `src` into `dst`, of the same length, with fixed-size moves instead of a call to
/// `memcpy`: for the few bytes of a small frame the call and memcpy's dispatch on the length
/// cost more than the copy. Each size class copies its first and last block, which overlap,
/// so every length is covered without a byte loop.
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = dst.len();
    let src = &src[..n];
    if n > 128 {
        dst.copy_from_slice(src);
    } else if n >= 64 {
        dst[..64].copy_from_slice(&src[..64]);
        dst[n - 64..].copy_from_slice(&src[n - 64..]);
    } else if n >= 32 {
        dst[..32].copy_from_slice(&src[..32]);
        dst[n - 32..].copy_from_slice(&src[n - 32..]);
    } else if n >= 16 {
        dst[..16].copy_from_slice(&src[..16]);
        dst[n - 16..].copy_from_slice(&src[n - 16..]);
    } else if n >= 8 {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..].copy_from_slice(&src[n - 8..]);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..].copy_from_slice(&src[n - 4..]);
    } else if n > 0 {
        // One to three bytes: the first, the middle and the last cover them all.
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_storage_refuses_what_does_not_fit_and_keeps_its_bytes() {
        let mut mem = [0u8; 8];
        let mut q = ByteQueue::new(&mut mem[..]);
        q.append(5, 100).unwrap().copy_from_slice(b"hello");
        assert_eq!(q.append(4, 100), Err(3));
        assert_eq!(q.data(), b"hello");
        q.consume(2);
        // Compacting makes room for what fits once the front was consumed.
        q.append(4, 100).unwrap().copy_from_slice(b"1234");
        assert_eq!(q.data(), b"llo1234");
    }

    #[test]
    fn limit_bounds_the_queue() {
        let mut mem = [0u8; 64];
        let mut q = ByteQueue::new(&mut mem[..]);
        assert_eq!(q.append(11, 10), Err(10));
        assert_eq!(q.spare(100, 10).len(), 10);
    }

    #[test]
    fn in_place_appends_exactly_what_append_does_without_compacting() {
        let mut mem = [0u8; 16];
        let mut q = ByteQueue::new(&mut mem[..]);
        q.append_in_place(5, 100).unwrap().copy_from_slice(b"hello");
        // The limit counts queued bytes only.
        assert!(q.append_in_place(6, 10).is_none());
        q.append_in_place(5, 10).unwrap().copy_from_slice(b"world");
        assert_eq!(q.data(), b"helloworld");
        q.consume(4);
        // Room only after compacting: left to `append`, and nothing changed.
        assert!(q.append_in_place(7, 100).is_none());
        assert_eq!(q.data(), b"oworld");
        q.append_in_place(6, 100)
            .unwrap()
            .copy_from_slice(b"123456");
        assert_eq!(q.data(), b"oworld123456");
        assert!(q.append_in_place(1, 100).is_none());
    }

    #[test]
    fn short_copies_match_copy_from_slice_at_every_length() {
        let src: [u8; 200] = core::array::from_fn(|i| (i * 13 + 5) as u8);
        for len in 0..200 {
            let mut dst = [0xAAu8; 202];
            copy_short(&mut dst[1..1 + len], &src[..len]);
            assert_eq!(dst[1..1 + len], src[..len], "len {len}");
            assert_eq!(dst[0], 0xAA);
            assert!(dst[1 + len..].iter().all(|&b| b == 0xAA), "len {len}");
        }
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn vec_storage_grows_keeps_its_bytes_and_is_released_only_when_empty() {
        let mut q = ByteQueue::new(Vec::new());
        q.append(3, 1 << 20).unwrap().copy_from_slice(b"abc");
        q.consume(1);
        // Growing keeps what is queued, and no more than it.
        q.append(10_000, 1 << 20).unwrap().fill(7);
        assert!(q.capacity() >= 10_002);
        assert_eq!(&q.data()[..2], b"bc");
        assert!(q.data()[2..].iter().all(|&b| b == 7));
        q.release_if_empty();
        assert!(q.capacity() >= 10_002, "released while it held bytes");
        q.consume(10_002);
        // Emptied, it keeps its memory for the next bytes...
        assert!(q.capacity() >= 10_002);
        // ...until asked to give it back.
        q.release_if_empty();
        assert_eq!(q.capacity(), 0);
    }
}
