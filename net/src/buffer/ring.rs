use std::fmt;

use super::storage::Storage;

mod growth;

/// A growable FIFO byte buffer stored in a ring, for a socket's inbound or
/// outbound bytes.
///
/// - **Lazy**: [`RingBuffer::new`] allocates nothing. Storage is taken from this
///   core's [`BufferPool`](super::BufferPool) when bytes first arrive and, by default, given back as
///   soon as the buffer is empty again ([`set_release_when_empty`]), so an idle
///   connection holds no buffer memory.
/// - **Bounded**: the capacity is a power of two that starts at 4 KiB
///   ([`BufferPool::MIN_BUFFER_SIZE`](super::BufferPool::MIN_BUFFER_SIZE)) and doubles on demand, keeping the bytes in
///   order, up to [`max_capacity`]. A write never grows the buffer past it; it
///   stores what fits and says how much that was. Whatever a peer sends or fails to
///   read, the buffer holds at most `max_capacity` bytes.
/// - **Vectored**: the readable bytes are at most two slices ([`as_slices`]) for a
///   `writev`, and the free room at most two slices ([`unfilled_slices`]) for a
///   `readv`, which [`commit`] then marks as filled.
///
/// [`set_release_when_empty`]: RingBuffer::set_release_when_empty
/// [`max_capacity`]: RingBuffer::max_capacity
/// [`as_slices`]: RingBuffer::as_slices
/// [`unfilled_slices`]: RingBuffer::unfilled_slices
/// [`commit`]: RingBuffer::commit
///
/// # Examples
///
/// ```
/// use runtime::net::buffer::RingBuffer;
///
/// let mut buf = RingBuffer::new(1024 * 1024);
/// assert_eq!(buf.write(b"GET / HTTP/1.1\r\n"), 16);
///
/// let mut method = [0; 3];
/// assert_eq!(buf.read(&mut method), 3);
/// assert_eq!(&method, b"GET");
/// assert_eq!(buf.len(), 13);
/// ```
pub struct RingBuffer {
    // Invariant:
    // - `buf.len()` (the capacity) is 0, meaning no storage, or a power of two no
    //   larger than `max_capacity`, itself a power of two;
    // - `len <= buf.len()`, and `head < buf.len()` unless `buf` is empty;
    // - the readable bytes are `buf[head..]` then `buf[..]` from the start, `len` of
    //   them, indices taken modulo `buf.len()` (a mask, since it is a power of two);
    // - `len == 0` implies `head == 0`, so a buffer refilled after it ran empty
    //   starts contiguous;
    // - `release_when_empty && len == 0` implies `buf` is empty, except between
    //   `unfilled_slices` and the `commit` that follows it, and after a
    //   `take_front` that emptied it (whose slice borrows the storage) until
    //   the next call that empties or fills it.
    buf: Storage,
    // Positions and lengths in 32 bits, the bound as a power of two, and
    // the storage as a thin pointer and a 32-bit length, so a ring takes 24
    // bytes: each connection holds two of them.
    head: u32,
    len: u32,
    max_shift: u8,
    release_when_empty: bool,
}

const MAX_CAPACITY: usize = RingBuffer::MAX_CAPACITY;

impl RingBuffer {
    /// The largest [`max_capacity`](RingBuffer::max_capacity): 2 GiB.
    pub const MAX_CAPACITY: usize = 1 << 31;

    /// Creates an empty buffer that will hold at most `max_capacity` bytes, rounded
    /// up to a power of two. It allocates nothing until bytes are written. A
    /// `max_capacity` above [`MAX_CAPACITY`](RingBuffer::MAX_CAPACITY) is taken
    /// as `MAX_CAPACITY`.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let buf = RingBuffer::new(100_000);
    /// assert_eq!(buf.capacity(), 0);
    /// assert_eq!(buf.max_capacity(), 128 * 1024);
    /// ```
    pub fn new(max_capacity: usize) -> RingBuffer {
        let max_capacity = max_capacity.min(MAX_CAPACITY).next_power_of_two();
        RingBuffer {
            buf: Storage::default(),
            head: 0,
            len: 0,
            max_shift: max_capacity.trailing_zeros() as u8,
            release_when_empty: true,
        }
    }

    /// The read position. Stored in 32 bits: the capacity is at most
    /// [`MAX_CAPACITY`], so positions and lengths fit.
    #[inline]
    fn head(&self) -> usize {
        self.head as usize
    }

    #[inline]
    fn set_head(&mut self, head: usize) {
        debug_assert!(head < MAX_CAPACITY);
        self.head = head as u32;
    }

    #[inline]
    fn set_len(&mut self, len: usize) {
        debug_assert!(len <= MAX_CAPACITY);
        self.len = len as u32;
    }

    /// Returns the number of bytes buffered.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(4096);
    /// buf.write(b"hello");
    /// assert_eq!(buf.len(), 5);
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Returns `true` if no bytes are buffered.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(4096);
    /// assert!(buf.is_empty());
    /// buf.write(b"x");
    /// assert!(!buf.is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns the size of the storage the buffer holds now: zero or a power of two
    /// no larger than [`max_capacity`](RingBuffer::max_capacity).
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(64 * 1024);
    /// assert_eq!(buf.capacity(), 0);
    /// buf.write(&[0; 5000]);
    /// assert_eq!(buf.capacity(), 8192);
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Returns the most bytes the buffer will ever hold: the `max_capacity` given to
    /// [`new`](RingBuffer::new), rounded up to a power of two.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// assert_eq!(RingBuffer::new(65536).max_capacity(), 65536);
    /// assert_eq!(RingBuffer::new(1000).max_capacity(), 1024);
    /// ```
    #[inline]
    pub fn max_capacity(&self) -> usize {
        1 << self.max_shift
    }

    /// Returns how many more bytes fit before the buffer reaches its maximum
    /// capacity, growing as needed.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(8192);
    /// buf.write(&[0; 1000]);
    /// assert_eq!(buf.remaining_capacity(), 7192);
    /// ```
    #[inline]
    pub fn remaining_capacity(&self) -> usize {
        self.max_capacity() - self.len()
    }

    /// Returns whether the buffer gives its storage back to the pool each time it
    /// runs empty; `true` unless changed with
    /// [`set_release_when_empty`](RingBuffer::set_release_when_empty).
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// assert!(RingBuffer::new(4096).release_when_empty());
    /// ```
    pub fn release_when_empty(&self) -> bool {
        self.release_when_empty
    }

    /// Sets whether the buffer gives its storage back to this core's
    /// [`BufferPool`](super::BufferPool) each time a read, discard, commit or clear leaves it empty.
    ///
    /// On (the default), an idle connection holds no buffer memory. Off, the buffer
    /// keeps its storage until dropped, which spares a busy connection the trips to
    /// the pool. Turning it on while empty releases the storage at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(4096);
    /// buf.set_release_when_empty(false);
    /// buf.write(b"ping");
    /// buf.discard(4);
    /// assert_eq!(buf.capacity(), 4096); // kept
    ///
    /// buf.set_release_when_empty(true);
    /// assert_eq!(buf.capacity(), 0); // released
    /// ```
    pub fn set_release_when_empty(&mut self, release: bool) {
        self.release_when_empty = release;
        self.release_if_empty();
    }

    /// Appends as much of `data` as fits under the maximum capacity, growing the
    /// buffer as needed, and returns how many bytes that was: less than
    /// `data.len()` only if the buffer is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(8);
    /// assert_eq!(buf.write(b"hello"), 5);
    /// assert_eq!(buf.write(b" world"), 3); // full
    /// assert_eq!(buf.as_slices(), (&b"hello wo"[..], &b""[..]));
    /// ```
    #[inline]
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.is_empty() && data.len() <= self.buf.len() {
            // The usual case of a connection: an empty ring that kept its
            // storage. Empty means `head == 0`, so the bytes go at the start.
            self.buf[..data.len()].copy_from_slice(data);
            self.set_len(data.len());
            return data.len();
        }
        self.write_slow(data)
    }

    fn write_slow(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.remaining_capacity());
        if n == 0 {
            return 0;
        }
        self.reserve(n);
        // Copied here rather than through `unfilled_slices`: the direct form is
        // what keeps a 64-byte write on par with `VecDeque` (benches/ring_buffer.rs).
        let cap = self.buf.len();
        let tail = (self.head() + self.len()) & (cap - 1);
        let first = n.min(cap - tail);
        self.buf[tail..tail + first].copy_from_slice(&data[..first]);
        if first < n {
            self.buf[..n - first].copy_from_slice(&data[first..n]);
        }
        self.set_len(self.len() + n);
        n
    }

    /// Moves bytes from the front of the buffer into `dst` and returns how many:
    /// `dst.len()` or all buffered bytes, whichever is fewer.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(4096);
    /// buf.write(b"hello");
    /// let mut dst = [0; 8];
    /// assert_eq!(buf.read(&mut dst), 5);
    /// assert_eq!(&dst[..5], b"hello");
    /// assert!(buf.is_empty());
    /// ```
    #[inline]
    pub fn read(&mut self, dst: &mut [u8]) -> usize {
        let n = self.peek(dst);
        self.discard(n);
        n
    }

    /// Copies bytes from the front of the buffer into `dst` without consuming them
    /// and returns how many: `dst.len()` or all buffered bytes, whichever is fewer.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(4096);
    /// buf.write(b"hello");
    /// let mut dst = [0; 2];
    /// assert_eq!(buf.peek(&mut dst), 2);
    /// assert_eq!(&dst, b"he");
    /// assert_eq!(buf.len(), 5);
    /// ```
    #[inline]
    pub fn peek(&self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.len());
        let first = n.min(self.buf.len() - self.head());
        dst[..first].copy_from_slice(&self.buf[self.head()..self.head() + first]);
        if first < n {
            dst[first..n].copy_from_slice(&self.buf[..n - first]);
        }
        n
    }

    /// Removes `n` bytes from the front of the buffer, as after a `writev` sent
    /// them or a parser consumed them.
    ///
    /// # Panics
    ///
    /// Panics if `n` is greater than [`len`](RingBuffer::len).
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(4096);
    /// buf.write(b"hello");
    /// buf.discard(2);
    /// assert_eq!(buf.as_slices(), (&b"llo"[..], &b""[..]));
    /// ```
    #[inline]
    pub fn discard(&mut self, n: usize) {
        assert!(
            n <= self.len(),
            "RingBuffer::discard: {n} bytes asked for, {} buffered",
            self.len()
        );
        if n == self.len() {
            self.clear();
        } else {
            self.set_head((self.head() + n) & (self.buf.len() - 1));
            self.set_len(self.len() - n);
        }
    }

    /// Returns the buffered bytes, oldest first, as two slices: the second is empty
    /// unless the bytes wrap around the end of the storage. This is what a `writev`
    /// sends, through `[IoSlice::new(front), IoSlice::new(back)]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{IoSlice, Write};
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(4096);
    /// buf.write(b"pipelined ");
    /// buf.write(b"replies");
    ///
    /// let (front, back) = buf.as_slices();
    /// let mut socket = Vec::new();
    /// let sent = socket.write_vectored(&[IoSlice::new(front), IoSlice::new(back)])?;
    /// buf.discard(sent);
    /// assert_eq!(socket, b"pipelined replies");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[inline]
    pub fn as_slices(&self) -> (&[u8], &[u8]) {
        match self.contiguous() {
            Some(bytes) => (bytes, &[]),
            None => self.as_slices_wrapped(),
        }
    }

    /// The buffered bytes if they do not wrap around the end: the usual
    /// case, which a send takes in one slice. Inlined everywhere, as the
    /// one check it is.
    #[inline(always)]
    pub(crate) fn contiguous(&self) -> Option<&[u8]> {
        let (head, len) = (self.head(), self.len());
        if head + len <= self.buf.len() {
            Some(&self.buf[head..head + len])
        } else {
            None
        }
    }

    fn as_slices_wrapped(&self) -> (&[u8], &[u8]) {
        let cap = self.buf.len();
        let (wrapped, front) = self.buf.split_at(self.head());
        (front, &wrapped[..self.head() + self.len() - cap])
    }

    /// Makes room for `want` more bytes, growing the buffer up to its maximum
    /// capacity, and returns all of the free room as two slices, in the order they
    /// are filled: this is what a `readv` reads into. Call
    /// [`commit`](RingBuffer::commit) afterwards with the number of bytes written
    /// into them.
    ///
    /// The slices hold `min(want, remaining_capacity())` bytes or more, possibly
    /// stale ones from an earlier user of the storage.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{IoSliceMut, Read};
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut socket: &[u8] = b"+OK\r\n";
    /// let mut buf = RingBuffer::new(64 * 1024);
    ///
    /// let (front, back) = buf.unfilled_slices(4096);
    /// assert!(front.len() + back.len() >= 4096);
    /// let n = socket.read_vectored(&mut [IoSliceMut::new(front), IoSliceMut::new(back)])?;
    /// buf.commit(n);
    /// assert_eq!(buf.as_slices().0, b"+OK\r\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[inline]
    pub fn unfilled_slices(&mut self, want: usize) -> (&mut [u8], &mut [u8]) {
        if self.is_empty() && want <= self.buf.len() {
            // The usual case of a socket read: an empty ring that kept its
            // storage. Empty means `head == 0`: all of it, from the start.
            return (&mut self.buf[..], &mut []);
        }
        self.unfilled_slices_slow(want)
    }

    fn unfilled_slices_slow(&mut self, want: usize) -> (&mut [u8], &mut [u8]) {
        self.reserve(want);
        let cap = self.buf.len();
        if cap == 0 {
            return (&mut [], &mut []);
        }
        let tail = (self.head() + self.len()) & (cap - 1);
        let free = cap - self.len();
        if tail + free <= cap {
            (&mut self.buf[tail..tail + free], &mut [])
        } else {
            // The free room wraps: it runs from `tail` to the end, then from the
            // start up to `head`.
            let head = self.head();
            let (start, end) = self.buf.split_at_mut(tail);
            (end, &mut start[..head])
        }
    }

    /// Marks the first `n` bytes of the slices that
    /// [`unfilled_slices`](RingBuffer::unfilled_slices) returned as filled, making
    /// them readable.
    ///
    /// # Panics
    ///
    /// Panics if `n` is greater than the free room, `capacity() - len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(4096);
    /// let (front, _) = buf.unfilled_slices(3);
    /// front[..3].copy_from_slice(b"abc");
    /// buf.commit(3);
    /// assert_eq!(buf.len(), 3);
    /// ```
    #[inline(always)]
    pub fn commit(&mut self, n: usize) {
        let free = self.buf.len() - self.len();
        if n > free {
            commit_past_room(n, free);
        }
        self.set_len(self.len() + n);
        // A `readv` that got nothing (`WouldBlock`, end of file) commits 0: an
        // idle connection must not keep the storage it reserved for it.
        self.release_if_empty();
    }

    /// Moves the buffered bytes so that they form one slice, and returns it; for
    /// parsers that need a frame in one piece. Costs a pass over the storage if the
    /// bytes wrap, nothing otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(4096);
    /// buf.write(&[0; 4000]);
    /// buf.discard(3990); // 10 bytes left, at the end of the storage
    /// buf.write(&[1; 96]); // up to the end
    /// buf.write(b"wraps"); // at the start
    /// assert_eq!(buf.as_slices().1, b"wraps");
    ///
    /// let bytes = buf.make_contiguous();
    /// assert_eq!(bytes.len(), 111);
    /// assert!(bytes.ends_with(b"wraps"));
    /// ```
    pub fn make_contiguous(&mut self) -> &[u8] {
        if self.head() + self.len() > self.buf.len() {
            let head = self.head();
            self.buf.rotate_left(head);
            self.set_head(0);
        }
        &self.buf[self.head()..self.head() + self.len()]
    }

    /// Removes the first `n` bytes (at most [`len`](RingBuffer::len)) and
    /// returns them, contiguous: the storage is rotated first if they wrap.
    /// The slice borrows the buffer, so it cannot outlive the next change;
    /// the storage is kept until then, even if the buffer is now empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(4096);
    /// buf.write(b"hello world");
    /// assert_eq!(buf.take_front(5), b"hello");
    /// assert_eq!(buf.len(), 6);
    /// assert_eq!(buf.take_front(100), b" world");
    /// assert!(buf.is_empty());
    /// ```
    #[inline]
    pub fn take_front(&mut self, n: usize) -> &[u8] {
        if n >= self.len() && self.head() + self.len() <= self.buf.len() {
            // All of it, contiguous: the usual case of a reader that takes
            // whatever came.
            let (start, len) = (self.head(), self.len());
            self.set_head(0);
            self.set_len(0);
            return &self.buf[start..start + len];
        }
        self.take_front_slow(n)
    }

    fn take_front_slow(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.len());
        if n == 0 {
            return &[];
        }
        if self.head() + n > self.buf.len() {
            let head = self.head();
            self.buf.rotate_left(head);
            self.set_head(0);
        }
        let start = self.head();
        self.set_len(self.len() - n);
        self.set_head(if self.is_empty() {
            0
        } else {
            (start + n) & (self.buf.len() - 1)
        });
        // Storage is only released by later calls (`clear`, `give_back`,
        // a write), which need `&mut self` and so end this borrow first.
        &self.buf[start..start + n]
    }

    /// Removes every buffered byte, and gives the storage back to the pool unless
    /// [`release_when_empty`](RingBuffer::release_when_empty) is off.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(4096);
    /// buf.write(b"hello");
    /// buf.clear();
    /// assert!(buf.is_empty());
    /// assert_eq!(buf.capacity(), 0);
    /// ```
    #[inline]
    pub fn clear(&mut self) {
        self.set_head(0);
        self.set_len(0);
        self.release_if_empty();
    }

    /// Gives the storage back to the pool if the buffer is empty, whatever
    /// [`release_when_empty`](RingBuffer::release_when_empty) says: for an
    /// owner that keeps storage between uses and decides itself when it is
    /// idle.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::RingBuffer;
    ///
    /// let mut buf = RingBuffer::new(4096);
    /// buf.set_release_when_empty(false);
    /// buf.write(b"hi");
    /// buf.give_back(); // not empty: kept
    /// assert_eq!(buf.capacity(), 4096);
    /// buf.discard(2);
    /// assert_eq!(buf.capacity(), 4096);
    /// buf.give_back();
    /// assert_eq!(buf.capacity(), 0);
    /// ```
    pub fn give_back(&mut self) {
        if self.is_empty() {
            self.release();
        }
    }
}

/// [`RingBuffer::commit`]'s panic, out of line: the check stays a compare
/// on the read path, with nothing kept on the stack for the message.
#[cold]
#[inline(never)]
#[track_caller]
fn commit_past_room(n: usize, free: usize) -> ! {
    panic!("RingBuffer::commit: {n} bytes committed, {free} bytes of room")
}

impl fmt::Debug for RingBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingBuffer")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("max_capacity", &self.max_capacity())
            .field("release_when_empty", &self.release_when_empty)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::BufferPool;

    fn pooled_bytes() -> usize {
        BufferPool::with_local(|pool| pool.pooled_bytes())
    }

    #[test]
    fn a_ring_takes_24_bytes() {
        // Every connection holds two: the inbound one in its task's future
        // (async) or its cell (engine), the outbound one in its write side.
        // 8 bytes more grew an echo server's task and connection cell into
        // the next malloc chunk, 16 bytes more per idle connection.
        assert_eq!(
            std::mem::size_of::<RingBuffer>(),
            24,
            "RingBuffer grew: more memory per connection"
        );
    }

    #[test]
    fn a_ring_moves_and_shares_across_threads_as_its_box_did() {
        // Its storage is held by raw pointer now: the auto traits are kept
        // by hand.
        use std::panic::{RefUnwindSafe, UnwindSafe};
        fn traits<T: Send + Sync + Unpin + UnwindSafe + RefUnwindSafe>() {}
        traits::<RingBuffer>();
    }

    fn contents(buf: &RingBuffer) -> Vec<u8> {
        let (front, back) = buf.as_slices();
        [front, back].concat()
    }

    #[test]
    fn new_allocates_nothing() {
        let buf = RingBuffer::new(1 << 20);
        assert_eq!(buf.capacity(), 0);
        assert!(buf.buf.is_empty());
        assert_eq!(buf.len(), 0);
        assert_eq!(buf.remaining_capacity(), 1 << 20);
    }

    #[test]
    fn max_capacity_rounds_up_to_a_power_of_two() {
        assert_eq!(RingBuffer::new(0).max_capacity(), 1);
        assert_eq!(RingBuffer::new(1).max_capacity(), 1);
        assert_eq!(RingBuffer::new(3).max_capacity(), 4);
        assert_eq!(RingBuffer::new(4097).max_capacity(), 8192);
    }

    #[test]
    fn max_capacity_is_capped_at_two_gib() {
        for asked in [usize::MAX, RingBuffer::MAX_CAPACITY + 1] {
            assert_eq!(
                RingBuffer::new(asked).max_capacity(),
                RingBuffer::MAX_CAPACITY
            );
        }
    }

    #[test]
    fn first_write_takes_the_smallest_class() {
        let mut buf = RingBuffer::new(1 << 20);
        buf.write(b"x");
        assert_eq!(buf.capacity(), 4096);
    }

    #[test]
    fn small_max_capacity_caps_the_first_allocation() {
        let mut buf = RingBuffer::new(16);
        assert_eq!(buf.write(&[7; 20]), 16);
        assert_eq!(buf.capacity(), 16);
        assert_eq!(buf.write(b"more"), 0);
    }

    #[test]
    fn growth_doubles_and_jumps_to_fit() {
        let mut buf = RingBuffer::new(1 << 20);
        buf.write(&[1; 4096]);
        assert_eq!(buf.capacity(), 4096);
        buf.write(&[2; 1]);
        assert_eq!(buf.capacity(), 8192);
        buf.write(&[3; 100_000]);
        assert_eq!(buf.capacity(), 128 * 1024);
        assert_eq!(buf.len(), 4096 + 1 + 100_000);
    }

    #[test]
    fn growth_while_wrapped_keeps_order() {
        let mut buf = RingBuffer::new(8192);
        buf.write(&[0; 3000]);
        buf.discard(2500);
        let data: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
        buf.write(&data[..3500]); // 500 + 3500 = 4000 bytes, wraps at 4096
        assert!(!buf.as_slices().1.is_empty());
        assert_eq!(buf.capacity(), 4096);
        buf.write(&data[3500..]); // 4500 bytes: grows to 8192
        assert_eq!(buf.capacity(), 8192);
        assert!(buf.as_slices().1.is_empty());
        let mut expected = vec![0; 500];
        expected.extend_from_slice(&data);
        assert_eq!(contents(&buf), expected);
    }

    #[test]
    fn unfilled_slices_wrap_around_the_end() {
        let mut buf = RingBuffer::new(16);
        buf.set_release_when_empty(false);
        buf.write(&[0; 12]);
        buf.discard(10);
        // Data at 10..12; free room at 12..16 then 0..10.
        let (front, back) = buf.unfilled_slices(14);
        assert_eq!((front.len(), back.len()), (4, 10));
        front.copy_from_slice(b"abcd");
        back[..3].copy_from_slice(b"efg");
        buf.commit(7);
        assert_eq!(buf.as_slices(), (&b"\0\0abcd"[..], &b"efg"[..]));
    }

    #[test]
    fn unfilled_slices_when_full_are_empty() {
        let mut buf = RingBuffer::new(8);
        buf.write(&[1; 8]);
        let (front, back) = buf.unfilled_slices(100);
        assert!(front.is_empty() && back.is_empty());
        buf.commit(0);
        assert_eq!(buf.len(), 8);
    }

    #[test]
    fn unfilled_slices_of_zero_allocate_nothing() {
        let mut buf = RingBuffer::new(4096);
        let (front, back) = buf.unfilled_slices(0);
        assert!(front.is_empty() && back.is_empty());
        assert_eq!(buf.capacity(), 0);
    }

    #[test]
    fn commit_of_nothing_releases_the_reservation() {
        let mut buf = RingBuffer::new(1 << 16);
        buf.unfilled_slices(4096);
        assert_eq!(buf.capacity(), 4096);
        buf.commit(0); // the `readv` would have blocked
        assert_eq!(buf.capacity(), 0);
        assert_eq!(pooled_bytes(), 4096);
    }

    #[test]
    #[should_panic(expected = "7 bytes committed, 6 bytes of room")]
    fn commit_past_the_room_panics() {
        let mut buf = RingBuffer::new(8);
        buf.write(b"ab");
        buf.commit(7);
    }

    #[test]
    #[should_panic(expected = "3 bytes asked for, 2 buffered")]
    fn discard_past_the_end_panics() {
        let mut buf = RingBuffer::new(8);
        buf.write(b"ab");
        buf.discard(3);
    }

    #[test]
    fn peek_across_the_wrap() {
        let mut buf = RingBuffer::new(8);
        buf.set_release_when_empty(false);
        buf.write(b"123456");
        buf.discard(5);
        buf.write(b"abcde"); // "6abcde": "6ab" at 5..8, "cde" at 0..3
        assert_eq!(buf.as_slices(), (&b"6ab"[..], &b"cde"[..]));
        let mut dst = [0; 5];
        assert_eq!(buf.peek(&mut dst), 5);
        assert_eq!(&dst, b"6abcd");
        let mut dst = [0; 10];
        assert_eq!(buf.read(&mut dst), 6);
        assert_eq!(&dst[..6], b"6abcde");
    }

    #[test]
    fn contiguous_only_while_the_bytes_do_not_wrap() {
        let mut buf = RingBuffer::new(8);
        buf.set_release_when_empty(false);
        assert_eq!(buf.contiguous(), Some(&b""[..]), "no storage yet: empty");
        buf.write(b"123456");
        buf.discard(4);
        assert_eq!(buf.contiguous(), Some(&b"56"[..]));
        buf.write(b"ab"); // "56ab" at 4..8: up to the end, not past it
        assert_eq!(buf.contiguous(), Some(&b"56ab"[..]));
        assert_eq!(buf.as_slices(), (&b"56ab"[..], &b""[..]));
        buf.write(b"cd"); // "cd" at 0..2
        assert_eq!(buf.contiguous(), None);
        assert_eq!(buf.as_slices(), (&b"56ab"[..], &b"cd"[..]));
    }

    #[test]
    fn make_contiguous_when_wrapped() {
        let mut buf = RingBuffer::new(8);
        buf.set_release_when_empty(false);
        buf.write(b"123456");
        buf.discard(4);
        buf.write(b"abcd"); // "56ab" at 4..8, "cd" at 0..2
        assert_eq!(buf.make_contiguous(), b"56abcd");
        assert_eq!(buf.as_slices(), (&b"56abcd"[..], &b""[..]));
        assert_eq!(buf.write(b"xy"), 2);
        assert_eq!(contents(&buf), b"56abcdxy");
    }

    #[test]
    fn emptying_restarts_at_the_front() {
        let mut buf = RingBuffer::new(16);
        buf.set_release_when_empty(false);
        buf.write(&[1; 10]);
        buf.discard(5);
        assert_eq!(buf.head, 5);
        buf.discard(5);
        assert_eq!(buf.head, 0, "an empty buffer restarts at 0");
        assert_eq!(buf.capacity(), 16);
        buf.write(&[2; 16]);
        assert_eq!(buf.as_slices(), (&[2; 16][..], &[][..]));
    }

    #[test]
    fn storage_goes_back_to_the_pool_when_empty() {
        let before = pooled_bytes();
        let mut buf = RingBuffer::new(1 << 16);
        buf.write(&[1; 10_000]);
        assert_eq!(buf.capacity(), 16384);
        let mut dst = vec![0; 10_000];
        assert_eq!(buf.read(&mut dst[..9_999]), 9_999);
        assert_eq!(buf.capacity(), 16384);
        buf.read(&mut dst);
        assert_eq!(buf.capacity(), 0);
        assert_eq!(pooled_bytes(), before + 16384);
    }

    #[test]
    fn drop_gives_the_storage_back() {
        let mut buf = RingBuffer::new(4096);
        buf.set_release_when_empty(false);
        buf.write(b"x");
        assert_eq!(pooled_bytes(), 0);
        drop(buf);
        assert_eq!(pooled_bytes(), 4096);
    }

    #[test]
    fn debug_shows_sizes_not_bytes() {
        let mut buf = RingBuffer::new(4096);
        buf.write(b"secret");
        let debug = format!("{buf:?}");
        assert_eq!(
            debug,
            "RingBuffer { len: 6, capacity: 4096, max_capacity: 4096, release_when_empty: true }"
        );
    }
}
