//! One read into a connection's inbound ring, as both faces make it: the
//! async stream's read side (`crate::stream`) and the engine's `Inbound`.

use std::io::{self, IoSliceMut, Read};

use socket2::Socket;

use super::READ_CHUNK;
use crate::buffer::RingBuffer;

/// What [`read_into`] brought.
pub(crate) struct Filled {
    /// Bytes read (`Ok(0)`: end of stream), or the error (`WouldBlock`
    /// included).
    pub(crate) result: io::Result<usize>,
    /// Fewer bytes came than were asked for: the socket is drained, so the
    /// read that would only say `WouldBlock` can be skipped (see
    /// `AsyncFd::short_read`).
    pub(crate) drained: bool,
}

/// Reads once from `sock` into the unfilled room of `ring` (growing it by
/// up to [`READ_CHUNK`], within its bound): `recv`, or `readv` when the room
/// wraps around the ring's end. What came is committed; a read that brought
/// nothing (end of stream, `WouldBlock`, an error) gives the ring's storage
/// back if it holds no byte, so an idle connection holds no buffer.
/// Inlined: the engine reads through it in two places, and each read is
/// a few checks around the syscall; the `readv` is out of line.
#[inline(always)]
pub(crate) fn read_into(ring: &mut RingBuffer, sock: &Socket) -> Filled {
    let (front, back) = ring.unfilled_slices(READ_CHUNK);
    if !back.is_empty() {
        return read_wrapped(ring, sock);
    }
    let asked = front.len();
    let result = crate::sys::recv(sock, front);
    settle(ring, result, asked)
}

/// [`read_into`] when the free room wraps around the ring's end.
#[cold]
#[inline(never)]
fn read_wrapped(ring: &mut RingBuffer, sock: &Socket) -> Filled {
    // The room was made by the first call: this one finds it.
    let (front, back) = ring.unfilled_slices(READ_CHUNK);
    let asked = front.len() + back.len();
    let result = (&*sock).read_vectored(&mut [IoSliceMut::new(front), IoSliceMut::new(back)]);
    settle(ring, result, asked)
}

/// Commits what a read of `asked` bytes brought, or gives the storage back.
#[inline(always)]
fn settle(ring: &mut RingBuffer, result: io::Result<usize>, asked: usize) -> Filled {
    match result {
        Ok(n) if n > 0 => {
            ring.commit(n);
            Filled {
                result,
                drained: n < asked,
            }
        }
        _ => {
            ring.commit(0);
            ring.give_back();
            Filled {
                result,
                drained: false,
            }
        }
    }
}
