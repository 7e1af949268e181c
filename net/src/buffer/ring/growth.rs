//! How a ring's storage comes and goes: taken from the core's pool when
//! bytes first arrive, doubled (bytes kept in order) as they need room up to
//! the ring's bound, and handed back to the pool when the ring empties (or
//! when its owner says, `give_back`) and when it is dropped.

use std::mem;

use super::super::pool::{self, BufferPool};
use super::super::storage::Storage;
use super::RingBuffer;

impl RingBuffer {
    /// Grows the storage, if needed, so that `additional` more bytes fit, or as many
    /// as the maximum capacity allows.
    #[inline]
    pub(super) fn reserve(&mut self, additional: usize) {
        if additional > self.buf.len() - self.len() {
            self.grow(additional);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, additional: usize) {
        let cap = self.buf.len();
        let needed = self
            .len()
            .saturating_add(additional)
            .min(self.max_capacity());
        if needed <= cap {
            return; // at the cap already
        }
        if cap == 0 {
            // The common case (a released ring refilled): nothing to copy.
            let new_cap = needed
                .next_power_of_two()
                .max(BufferPool::MIN_BUFFER_SIZE)
                .min(self.max_capacity());
            self.buf = Storage::new(pool::take_local(new_cap));
            self.set_head(0);
            return;
        }
        // Doubling keeps the copies amortised O(1) per byte; starting at the pool's
        // smallest class makes the first `read` from a socket worth a syscall.
        let new_cap = needed
            .next_power_of_two()
            .max(cap * 2)
            .max(BufferPool::MIN_BUFFER_SIZE)
            .min(self.max_capacity());
        let mut new_buf = Storage::new(pool::take_local(new_cap));
        let (front, back) = self.as_slices();
        new_buf[..front.len()].copy_from_slice(front);
        new_buf[front.len()..self.len()].copy_from_slice(back);
        let old = mem::replace(&mut self.buf, new_buf);
        self.set_head(0);
        if !old.is_empty() {
            pool::give_local(old.into_box());
        }
    }

    #[inline]
    pub(super) fn release_if_empty(&mut self) {
        if self.release_when_empty && self.is_empty() {
            self.release();
        }
    }

    pub(super) fn release(&mut self) {
        let buf = mem::take(&mut self.buf);
        self.set_head(0);
        if !buf.is_empty() {
            pool::give_local(buf.into_box());
        }
    }
}

impl Drop for RingBuffer {
    fn drop(&mut self) {
        self.release();
    }
}
