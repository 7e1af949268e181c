//! A ring's storage: the `Box<[u8]>` the pool hands out, held as a thin
//! pointer and a 32-bit length.
//!
//! The one module of `buffer` with `unsafe` code, for memory: a
//! `Box<[u8]>` is two words, and beside a ring's two 32-bit positions and
//! its two flag bytes that made a ring 32 bytes. Packed to 4-byte
//! alignment, this is 12 bytes, and a ring 24 (`a_ring_takes_24_bytes`):
//! every connection holds two rings, and on both faces that moves its
//! state into a smaller malloc chunk. Miri checks it through the ring's
//! tests (the README's Development section has the command).

#![allow(unsafe_code)]

use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::ptr::{self, NonNull};
use std::slice;

/// Owns what a `Box<[u8]>` of at most `u32::MAX` bytes owns, and derefs to
/// its bytes.
// Packed, so the fields are only ever copied out, never borrowed.
#[repr(C, packed(4))]
pub(super) struct Storage {
    // Invariant: `ptr` and `len` are the parts of a `Box<[u8]>` (from
    // `Box::into_raw`) that this value owns.
    ptr: NonNull<u8>,
    len: u32,
}

impl Storage {
    /// Takes ownership of `buf`.
    ///
    /// # Panics
    ///
    /// If `buf` holds more than `u32::MAX` bytes (a ring's storage is at
    /// most [`RingBuffer::MAX_CAPACITY`](super::RingBuffer::MAX_CAPACITY)).
    pub(super) fn new(buf: Box<[u8]>) -> Storage {
        let len = u32::try_from(buf.len()).expect("a ring's storage is at most 2 GiB");
        let ptr = NonNull::new(Box::into_raw(buf).cast::<u8>()).expect("a box is never null");
        Storage { ptr, len }
    }

    /// Gives the box back.
    pub(super) fn into_box(self) -> Box<[u8]> {
        let this = ManuallyDrop::new(self);
        // SAFETY: by the invariant, the parts of a box this value owned;
        // `this` is never dropped, so the box returned is its one owner.
        unsafe { Box::from_raw(this.raw()) }
    }

    /// The owned bytes, as a raw slice.
    #[inline]
    fn raw(&self) -> *mut [u8] {
        let (ptr, len) = (self.ptr, self.len);
        ptr::slice_from_raw_parts_mut(ptr.as_ptr(), len as usize)
    }
}

impl Default for Storage {
    /// No storage: an empty box, which allocates nothing.
    fn default() -> Storage {
        Storage::new(Box::default())
    }
}

impl Deref for Storage {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        let (ptr, len) = (self.ptr, self.len);
        // SAFETY: by the invariant, the initialised bytes of a box this
        // value owns, borrowed for as long as `self` is.
        unsafe { slice::from_raw_parts(ptr.as_ptr(), len as usize) }
    }
}

impl DerefMut for Storage {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        let (ptr, len) = (self.ptr, self.len);
        // SAFETY: as in `deref`, borrowed mutably for as long as `self` is,
        // so no other reference to the bytes lives meanwhile.
        unsafe { slice::from_raw_parts_mut(ptr.as_ptr(), len as usize) }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        // SAFETY: by the invariant, the parts of a box this value owns;
        // it is dropped once, here, and never used again.
        drop(unsafe { Box::from_raw(self.raw()) });
    }
}

// SAFETY: `Storage` owns its bytes as the `Box<[u8]>` it was made from
// does, and gives access to them only through `&self` and `&mut self`, as
// the box would; `Box<[u8]>` is `Send` and `Sync`.
unsafe impl Send for Storage {}
// SAFETY: as above.
unsafe impl Sync for Storage {}

#[cfg(test)]
mod tests {
    use super::Storage;

    #[test]
    fn storage_gives_back_the_box_it_took() {
        let mut storage = Storage::new(vec![1, 2, 3].into_boxed_slice());
        assert_eq!(&*storage, [1, 2, 3]);
        storage[1] = 7;
        assert_eq!(&*storage.into_box(), [1, 7, 3]);
        let empty = Storage::default();
        assert!(empty.is_empty());
        drop(empty);
        drop(Storage::new(vec![0; 4096].into_boxed_slice()));
    }
}
