use std::cell::RefCell;
use std::fmt;

/// Number of size classes: one per power of two from
/// [`BufferPool::MIN_BUFFER_SIZE`] to [`BufferPool::MAX_BUFFER_SIZE`].
const CLASSES: usize = (BufferPool::MAX_BUFFER_SIZE.trailing_zeros()
    - BufferPool::MIN_BUFFER_SIZE.trailing_zeros()) as usize
    + 1;

thread_local! {
    // One pool per thread is one pool per core: a core never shares its pool, so
    // taking and giving need neither atomics nor locks.
    static LOCAL: RefCell<BufferPool> = const { RefCell::new(BufferPool::new()) };
}

/// A cache of byte buffers, with one free list per power-of-two size class.
///
/// Each core has its own pool ([`BufferPool::with_local`]), from which every
/// [`RingBuffer`](super::RingBuffer) on that core takes its storage and to which it
/// gives it back when it runs empty. Reusing buffers this way spares the allocator
/// the churn of connections that come and go, or that fill and drain their buffers
/// many times a second.
///
/// The pool is bounded: a size class keeps at most
/// [`max_bytes_per_class`](BufferPool::max_bytes_per_class) bytes of free buffers
/// and frees the rest, so a burst of traffic does not pin its peak memory forever.
/// Sizes that are not a power of two between [`MIN_BUFFER_SIZE`] and
/// [`MAX_BUFFER_SIZE`] are never pooled: they are allocated by [`take`] and freed by
/// [`give`].
///
/// A pooled buffer keeps the bytes its last user wrote; only fresh allocations are
/// zeroed.
///
/// [`MIN_BUFFER_SIZE`]: BufferPool::MIN_BUFFER_SIZE
/// [`MAX_BUFFER_SIZE`]: BufferPool::MAX_BUFFER_SIZE
/// [`take`]: BufferPool::take
/// [`give`]: BufferPool::give
///
/// # Examples
///
/// ```
/// use runtime::net::buffer::BufferPool;
///
/// let mut pool = BufferPool::new();
/// let buf = pool.take(8192);
/// assert_eq!(buf.len(), 8192);
///
/// pool.give(buf);
/// assert_eq!(pool.pooled_bytes(), 8192);
///
/// let again = pool.take(8192); // reused, not allocated
/// assert_eq!(again.len(), 8192);
/// assert_eq!(pool.pooled_bytes(), 0);
/// ```
pub struct BufferPool {
    /// `classes[i]` holds free buffers of `MIN_BUFFER_SIZE << i` bytes.
    classes: [Vec<Box<[u8]>>; CLASSES],
    /// Sum of the lengths of all buffers in `classes`.
    pooled_bytes: usize,
    max_bytes_per_class: usize,
    /// Bytes handed back to the allocator since the last
    /// [`take_freed_bytes`](Self::take_freed_bytes).
    freed_bytes: usize,
    /// A buffer was taken since the last [`shrink_if_unused`](Self::shrink_if_unused).
    taken: bool,
}

impl BufferPool {
    /// The smallest pooled buffer: 4 KiB, one page.
    pub const MIN_BUFFER_SIZE: usize = 4 * 1024;

    /// The largest pooled buffer: 1 MiB.
    pub const MAX_BUFFER_SIZE: usize = 1024 * 1024;

    /// How many bytes of free buffers a size class keeps by default: 1 MiB, so
    /// 256 buffers of 4 KiB, or one of 1 MiB, and at most 9 MiB per core in all.
    pub const DEFAULT_MAX_BYTES_PER_CLASS: usize = 1024 * 1024;

    /// Creates an empty pool that keeps up to
    /// [`DEFAULT_MAX_BYTES_PER_CLASS`](BufferPool::DEFAULT_MAX_BYTES_PER_CLASS)
    /// bytes per size class.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::BufferPool;
    ///
    /// let pool = BufferPool::new();
    /// assert_eq!(pool.pooled_bytes(), 0);
    /// ```
    pub const fn new() -> BufferPool {
        BufferPool::with_max_bytes_per_class(BufferPool::DEFAULT_MAX_BYTES_PER_CLASS)
    }

    /// Creates an empty pool that keeps up to `max_bytes` bytes of free buffers per
    /// size class. Zero turns pooling off: every buffer given back is freed.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::BufferPool;
    ///
    /// let mut pool = BufferPool::with_max_bytes_per_class(8192);
    /// for _ in 0..3 {
    ///     pool.give(vec![0; 4096].into_boxed_slice());
    /// }
    /// assert_eq!(pool.pooled_buffers(), 2); // the third one was freed
    /// ```
    pub const fn with_max_bytes_per_class(max_bytes: usize) -> BufferPool {
        BufferPool {
            classes: [const { Vec::new() }; CLASSES],
            pooled_bytes: 0,
            max_bytes_per_class: max_bytes,
            freed_bytes: 0,
            taken: false,
        }
    }

    /// Runs `f` on this core's pool, the one every
    /// [`RingBuffer`](super::RingBuffer) on this thread uses.
    ///
    /// While `f` runs, ring buffers on this thread bypass the pool: they allocate
    /// and free directly.
    ///
    /// # Panics
    ///
    /// Panics if called from inside `f`, or while this thread's thread-locals are
    /// being destroyed.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::BufferPool;
    ///
    /// BufferPool::with_local(|pool| pool.set_max_bytes_per_class(256 * 1024));
    /// let pooled = BufferPool::with_local(|pool| pool.pooled_bytes());
    /// assert_eq!(pooled, 0);
    /// ```
    pub fn with_local<R>(f: impl FnOnce(&mut BufferPool) -> R) -> R {
        LOCAL.with_borrow_mut(f)
    }

    /// Returns a buffer of exactly `capacity` bytes: a pooled one if this size class
    /// has one, otherwise a freshly allocated, zeroed one.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::BufferPool;
    ///
    /// let mut pool = BufferPool::new();
    /// let buf = pool.take(4096);
    /// assert_eq!(buf.len(), 4096);
    /// ```
    pub fn take(&mut self, capacity: usize) -> Box<[u8]> {
        self.taken = true;
        if let Some(class) = class_of(capacity) {
            if let Some(buf) = self.classes[class].pop() {
                self.pooled_bytes -= buf.len();
                return buf;
            }
        }
        // `vec![0; n]` asks the allocator for zeroed memory, which large
        // allocations get from fresh pages without writing them.
        vec![0; capacity].into_boxed_slice()
    }

    /// Gives `buf` back for reuse, or frees it if its size is not pooled or its
    /// size class is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::BufferPool;
    ///
    /// let mut pool = BufferPool::new();
    /// pool.give(vec![0; 4096].into_boxed_slice());
    /// pool.give(vec![0; 1000].into_boxed_slice()); // not a size class: freed
    /// assert_eq!(pool.pooled_bytes(), 4096);
    /// ```
    pub fn give(&mut self, buf: Box<[u8]>) {
        let Some(class) = class_of(buf.len()) else {
            self.freed_bytes += buf.len();
            return;
        };
        let class_bytes = self.classes[class].len() * buf.len();
        if class_bytes + buf.len() <= self.max_bytes_per_class {
            self.pooled_bytes += buf.len();
            self.classes[class].push(buf);
        } else {
            self.freed_bytes += buf.len();
        }
    }

    /// Returns how many bytes of buffers this pool has handed back to the
    /// allocator (its size classes were full) since the last call, and
    /// starts counting again from zero.
    ///
    /// The allocator may keep those pages resident; the idle sweep uses this
    /// count to decide when to ask it to return them to the OS.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::BufferPool;
    ///
    /// let mut pool = BufferPool::with_max_bytes_per_class(4096);
    /// pool.give(vec![0; 4096].into_boxed_slice()); // kept
    /// pool.give(vec![0; 4096].into_boxed_slice()); // the class is full: freed
    /// assert_eq!(pool.take_freed_bytes(), 4096);
    /// assert_eq!(pool.take_freed_bytes(), 0);
    /// ```
    pub fn take_freed_bytes(&mut self) -> usize {
        std::mem::take(&mut self.freed_bytes)
    }

    /// Frees the free buffers past `keep_bytes` per size class, if no buffer
    /// was taken since the last call; returns how many bytes it freed.
    ///
    /// The idle sweep calls it once a period: a pool sized for a burst keeps
    /// that size while buffers are in demand, and shrinks once the core goes
    /// quiet, so the memory of a burst does not stay resident for good.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::BufferPool;
    ///
    /// let mut pool = BufferPool::new();
    /// let bufs: Vec<_> = (0..4).map(|_| pool.take(4096)).collect();
    /// bufs.into_iter().for_each(|b| pool.give(b));
    /// assert_eq!(pool.shrink_if_unused(4096), 0); // buffers were taken: kept
    /// assert_eq!(pool.shrink_if_unused(4096), 3 * 4096); // quiet since: shrunk
    /// assert_eq!(pool.pooled_bytes(), 4096);
    /// ```
    pub fn shrink_if_unused(&mut self, keep_bytes: usize) -> usize {
        if std::mem::take(&mut self.taken) {
            return 0;
        }
        let mut freed = 0;
        for (class, free) in self.classes.iter_mut().enumerate() {
            let keep = keep_bytes / (BufferPool::MIN_BUFFER_SIZE << class);
            if free.len() > keep {
                freed += free.drain(keep..).map(|buf| buf.len()).sum::<usize>();
            }
        }
        self.pooled_bytes -= freed;
        self.freed_bytes += freed;
        freed
    }

    /// Returns the total size of the free buffers this pool holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::BufferPool;
    ///
    /// let mut pool = BufferPool::new();
    /// pool.give(vec![0; 4096].into_boxed_slice());
    /// pool.give(vec![0; 8192].into_boxed_slice());
    /// assert_eq!(pool.pooled_bytes(), 12288);
    /// ```
    pub fn pooled_bytes(&self) -> usize {
        self.pooled_bytes
    }

    /// Returns the number of free buffers this pool holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::BufferPool;
    ///
    /// let mut pool = BufferPool::new();
    /// pool.give(vec![0; 4096].into_boxed_slice());
    /// pool.give(vec![0; 8192].into_boxed_slice());
    /// assert_eq!(pool.pooled_buffers(), 2);
    /// ```
    pub fn pooled_buffers(&self) -> usize {
        self.classes.iter().map(Vec::len).sum()
    }

    /// Returns how many bytes of free buffers each size class keeps.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::BufferPool;
    ///
    /// let pool = BufferPool::new();
    /// assert_eq!(pool.max_bytes_per_class(), BufferPool::DEFAULT_MAX_BYTES_PER_CLASS);
    /// ```
    pub fn max_bytes_per_class(&self) -> usize {
        self.max_bytes_per_class
    }

    /// Sets how many bytes of free buffers each size class keeps, freeing the
    /// buffers over the new bound at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::BufferPool;
    ///
    /// let mut pool = BufferPool::new();
    /// pool.give(vec![0; 4096].into_boxed_slice());
    /// pool.give(vec![0; 4096].into_boxed_slice());
    /// pool.set_max_bytes_per_class(4096);
    /// assert_eq!(pool.pooled_bytes(), 4096);
    /// ```
    pub fn set_max_bytes_per_class(&mut self, max_bytes: usize) {
        self.max_bytes_per_class = max_bytes;
        for (class, free) in self.classes.iter_mut().enumerate() {
            let size = BufferPool::MIN_BUFFER_SIZE << class;
            let keep = max_bytes / size;
            if free.len() > keep {
                let freed = (free.len() - keep) * size;
                self.pooled_bytes -= freed;
                self.freed_bytes += freed;
                free.truncate(keep);
            }
        }
    }

    /// Frees every buffer the pool holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::net::buffer::BufferPool;
    ///
    /// let mut pool = BufferPool::new();
    /// pool.give(vec![0; 4096].into_boxed_slice());
    /// pool.clear();
    /// assert_eq!(pool.pooled_bytes(), 0);
    /// ```
    pub fn clear(&mut self) {
        self.classes.iter_mut().for_each(Vec::clear);
        self.freed_bytes += self.pooled_bytes;
        self.pooled_bytes = 0;
    }
}

impl Default for BufferPool {
    fn default() -> BufferPool {
        BufferPool::new()
    }
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("pooled_bytes", &self.pooled_bytes)
            .field("pooled_buffers", &self.pooled_buffers())
            .field("max_bytes_per_class", &self.max_bytes_per_class)
            .finish()
    }
}

/// Takes a buffer of `capacity` bytes from this core's pool. Outside the pool's
/// reach (inside [`BufferPool::with_local`], or during thread teardown) it allocates.
pub(super) fn take_local(capacity: usize) -> Box<[u8]> {
    LOCAL
        .try_with(|pool| pool.try_borrow_mut().ok().map(|mut p| p.take(capacity)))
        .ok()
        .flatten()
        .unwrap_or_else(|| vec![0; capacity].into_boxed_slice())
}

/// Gives `buf` back to this core's pool. Outside the pool's reach (inside
/// [`BufferPool::with_local`], or during thread teardown) it frees `buf`.
pub(super) fn give_local(buf: Box<[u8]>) {
    let _ = LOCAL.try_with(|pool| {
        if let Ok(mut pool) = pool.try_borrow_mut() {
            pool.give(buf);
        }
    });
}

/// Returns the index of the size class for buffers of `size` bytes, or `None` if
/// that size is not pooled.
fn class_of(size: usize) -> Option<usize> {
    if size.is_power_of_two()
        && (BufferPool::MIN_BUFFER_SIZE..=BufferPool::MAX_BUFFER_SIZE).contains(&size)
    {
        Some((size.trailing_zeros() - BufferPool::MIN_BUFFER_SIZE.trailing_zeros()) as usize)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_cover_4k_to_1m() {
        assert_eq!(CLASSES, 9);
        assert_eq!(class_of(4096), Some(0));
        assert_eq!(class_of(8192), Some(1));
        assert_eq!(class_of(1 << 20), Some(8));
        assert_eq!(class_of(2048), None);
        assert_eq!(class_of(2 << 20), None);
        assert_eq!(class_of(6000), None);
        assert_eq!(class_of(0), None);
    }

    #[test]
    fn take_reuses_the_buffer_given_back() {
        let mut pool = BufferPool::new();
        let mut buf = pool.take(4096);
        buf[0] = 7;
        let addr = buf.as_ptr();
        pool.give(buf);
        let again = pool.take(4096);
        assert_eq!(again.as_ptr(), addr);
        assert_eq!(again[0], 7, "pooled buffers are not zeroed again");
        assert_eq!(pool.pooled_bytes(), 0);
    }

    #[test]
    fn take_does_not_mix_size_classes() {
        let mut pool = BufferPool::new();
        pool.give(vec![0; 8192].into_boxed_slice());
        assert_eq!(pool.take(4096).len(), 4096);
        assert_eq!(pool.pooled_bytes(), 8192);
        assert_eq!(pool.take(16384).len(), 16384);
        assert_eq!(pool.pooled_bytes(), 8192);
        assert_eq!(pool.take(8192).len(), 8192);
        assert_eq!(pool.pooled_bytes(), 0);
    }

    #[test]
    fn sizes_outside_the_classes_are_not_pooled() {
        let mut pool = BufferPool::new();
        for size in [0, 1, 64, 2048, 5000, 2 << 20] {
            let buf = pool.take(size);
            assert_eq!(buf.len(), size);
            pool.give(buf);
        }
        assert_eq!(pool.pooled_bytes(), 0);
        assert_eq!(pool.pooled_buffers(), 0);
    }

    #[test]
    fn each_class_is_bounded() {
        let mut pool = BufferPool::new();
        for _ in 0..1000 {
            pool.give(vec![0; 4096].into_boxed_slice());
            pool.give(vec![0; 1 << 20].into_boxed_slice());
        }
        assert_eq!(pool.pooled_buffers(), 256 + 1);
        assert_eq!(
            pool.pooled_bytes(),
            2 * BufferPool::DEFAULT_MAX_BYTES_PER_CLASS
        );
    }

    #[test]
    fn a_class_larger_than_the_bound_keeps_nothing() {
        let mut pool = BufferPool::with_max_bytes_per_class(64 * 1024);
        pool.give(vec![0; 128 * 1024].into_boxed_slice());
        pool.give(vec![0; 64 * 1024].into_boxed_slice());
        assert_eq!(pool.pooled_bytes(), 64 * 1024);
    }

    #[test]
    fn zero_bound_turns_pooling_off() {
        let mut pool = BufferPool::with_max_bytes_per_class(0);
        pool.give(vec![0; 4096].into_boxed_slice());
        assert_eq!(pool.pooled_bytes(), 0);
    }

    #[test]
    fn lowering_the_bound_frees_the_excess() {
        let mut pool = BufferPool::new();
        for _ in 0..4 {
            pool.give(vec![0; 4096].into_boxed_slice());
            pool.give(vec![0; 65536].into_boxed_slice());
        }
        pool.set_max_bytes_per_class(2 * 65536);
        assert_eq!(pool.pooled_buffers(), 4 + 2);
        assert_eq!(pool.pooled_bytes(), 4 * 4096 + 2 * 65536);
        pool.set_max_bytes_per_class(0);
        assert_eq!(pool.pooled_buffers(), 0);
        assert_eq!(pool.pooled_bytes(), 0);
    }

    #[test]
    fn clear_frees_everything() {
        let mut pool = BufferPool::new();
        pool.give(vec![0; 4096].into_boxed_slice());
        pool.give(vec![0; 1 << 20].into_boxed_slice());
        pool.clear();
        assert_eq!(pool.pooled_buffers(), 0);
        assert_eq!(pool.pooled_bytes(), 0);
    }

    #[test]
    fn local_pool_is_per_thread() {
        give_local(vec![0; 4096].into_boxed_slice());
        assert_eq!(BufferPool::with_local(|pool| pool.pooled_bytes()), 4096);
        let other = std::thread::spawn(|| BufferPool::with_local(|pool| pool.pooled_bytes()));
        assert_eq!(other.join().unwrap(), 0);
        assert_eq!(take_local(4096).len(), 4096);
        assert_eq!(BufferPool::with_local(|pool| pool.pooled_bytes()), 0);
    }

    #[test]
    fn local_helpers_bypass_a_borrowed_pool() {
        BufferPool::with_local(|pool| {
            // Re-entering would panic; the helpers allocate and free instead.
            assert_eq!(take_local(4096).len(), 4096);
            give_local(vec![0; 4096].into_boxed_slice());
            assert_eq!(pool.pooled_bytes(), 0);
        });
        assert_eq!(BufferPool::with_local(|pool| pool.pooled_bytes()), 0);
    }
}
