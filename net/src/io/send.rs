//! One send of an outbound ring.

use std::io::{self, IoSlice};

use runtime_executor::AsyncFd;
use socket2::Socket;

use super::StoredError;
use crate::buffer::RingBuffer;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) const SEND_FLAGS: libc::c_int = 0;

/// The send of a ring whose bytes wrap around its end: out of the way of
/// the usual, contiguous case.
#[cold]
#[inline(never)]
fn send_wrapped(sock: &Socket, front: &[u8], back: &[u8]) -> io::Result<usize> {
    sock.send_vectored_with_flags(&[IoSlice::new(front), IoSlice::new(back)], SEND_FLAGS)
}

/// What one [`send_ring`] did.
pub(crate) enum Sent {
    /// The kernel took all of it.
    All,
    /// The socket's buffer is full (write readiness is cleared).
    Full,
    /// A signal interrupted the call: try again.
    Interrupted,
    /// The send failed; the socket is unusable for writing.
    Failed(io::Error),
}

/// Where an outbound ring's bytes go: the connection's socket, or, in
/// tests, a scripted stand-in that takes a few bytes at a time, refuses, or
/// fails as a real socket would (and as one can rarely be made to).
pub(crate) trait Transport {
    /// One send of `front` then `back` (`back` is empty unless the ring
    /// wraps around its end).
    fn send(&self, front: &[u8], back: &[u8]) -> io::Result<usize>;
    /// The socket's buffer is full: forget write readiness until the next
    /// edge.
    fn clear_write_ready(&self);
    /// `shutdown(Write)`: the peer reads end of stream.
    fn shutdown_write(&self) -> io::Result<()>;
}

impl Transport for AsyncFd<Socket> {
    #[inline(always)]
    fn send(&self, front: &[u8], back: &[u8]) -> io::Result<usize> {
        if back.is_empty() {
            crate::sys::send(self.get_ref(), front, SEND_FLAGS)
        } else {
            send_wrapped(self.get_ref(), front, back)
        }
    }

    #[inline]
    fn clear_write_ready(&self) {
        AsyncFd::clear_write_ready(self);
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.get_ref().shutdown(std::net::Shutdown::Write)
    }
}

/// Sends what `ring` holds once (`send`, or `sendmsg` when it wraps) with
/// `MSG_NOSIGNAL`, and discards what the kernel took. A stream socket
/// takes less than it is offered only when its buffer is full, so a short
/// send clears write readiness as `WouldBlock` does: the next send would
/// only say `WouldBlock`, and writability brings a new edge.
#[inline]
pub(crate) fn send_ring(to: &impl Transport, ring: &mut RingBuffer) -> Sent {
    let (front, back) = ring.as_slices();
    let asked = front.len() + back.len();
    match to.send(front, back) {
        Ok(0) if asked > 0 => Sent::Failed(StoredError::Kind(io::ErrorKind::WriteZero).to_io()),
        Ok(n) => {
            ring.discard(n);
            if n < asked {
                to.clear_write_ready();
                Sent::Full
            } else {
                Sent::All
            }
        }
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
            to.clear_write_ready();
            Sent::Full
        }
        Err(err) if err.kind() == io::ErrorKind::Interrupted => Sent::Interrupted,
        Err(err) => Sent::Failed(err),
    }
}
