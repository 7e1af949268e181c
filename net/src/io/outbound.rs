//! The outbound side of a stream connection, as both faces keep it: the
//! ring written bytes wait in, the first send error, and the half-close.
//! The async stream wraps it with its flush scheduling and drain task
//! (`crate::stream`), the engine with its queue of `Bytes` and its high
//! watermark (`crate::engine::Outbound`); the sends are these.

use std::io;

use runtime_executor::AsyncFd;
use socket2::Socket;

use super::{send_ring, write_shut_down, Sent, StoredError, SEND_FLAGS};
use crate::buffer::RingBuffer;

/// The ring, the stored error and the shutdown state of one connection.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub(crate) ring: RingBuffer,
    /// The first send error: every later write reports it again.
    error: Option<StoredError>,
    /// `shutdown(Write)` asked for: done once the ring is empty.
    shutdown_requested: bool,
    shut_down: bool,
}

impl Outbound {
    pub(crate) fn new(ring: RingBuffer) -> Outbound {
        Outbound {
            ring,
            error: None,
            shutdown_requested: false,
            shut_down: false,
        }
    }

    /// Neither failed nor shut down: writes are accepted.
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        self.error.is_none() && !self.shutdown_requested
    }

    /// Why a write is refused: the stored error, or the shutdown.
    #[cold]
    pub(crate) fn not_open(&self) -> io::Error {
        match self.error {
            Some(err) => err.to_io(),
            None => write_shut_down(),
        }
    }

    /// The stored send error, if a send has failed.
    #[inline]
    pub(crate) fn error(&self) -> io::Result<()> {
        match self.error {
            Some(err) => Err(err.to_io()),
            None => Ok(()),
        }
    }

    /// Asks for the write side to be shut down once everything queued is
    /// sent.
    pub(crate) fn request_shutdown(&mut self) {
        self.shutdown_requested = true;
    }

    pub(crate) fn shutdown_requested(&self) -> bool {
        self.shutdown_requested
    }

    /// Keeps the first send error for every later write, and frees what
    /// can never be delivered.
    pub(crate) fn fail(&mut self, err: &io::Error) {
        if self.error.is_none() {
            self.error = Some(StoredError::from_io(err));
        }
        self.ring.clear();
        self.ring.give_back();
    }

    /// The usual send, in short: open, one contiguous run (or nothing), and
    /// the kernel takes what it is offered. `Some(true)` once the ring is
    /// empty, `Some(false)` when the socket's buffer is full; `None` for
    /// anything else (a wrapped ring, a shutdown to carry out, an error from
    /// the kernel), which [`send_all`](Self::send_all) handles and reports.
    #[inline(always)]
    pub(crate) fn send_short(&mut self, fd: &AsyncFd<Socket>) -> Option<bool> {
        if !self.is_open() {
            return None;
        }
        let (front, back) = self.ring.as_slices();
        if !back.is_empty() {
            return None;
        }
        if front.is_empty() {
            return Some(true);
        }
        match crate::sys::send(fd.get_ref(), front, SEND_FLAGS) {
            Ok(n) if n == front.len() => {
                self.ring.clear();
                Some(true)
            }
            Ok(n) if n > 0 => {
                // The socket's buffer is full (see `send_ring`).
                self.ring.discard(n);
                fd.clear_write_ready();
                Some(false)
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                fd.clear_write_ready();
                Some(false)
            }
            // `Ok(0)` and the errors: the general path sends again and
            // reports them.
            _ => None,
        }
    }

    /// Sends the ring until it is empty and `refill` (which may move more
    /// bytes into it, and says whether it did) has nothing more, then shuts
    /// the write side down if that was asked for. `Ok(true)` once all is
    /// sent, `Ok(false)` when the socket's buffer is full.
    ///
    /// # Errors
    ///
    /// The stored error, or the send's (then stored, and the ring freed).
    pub(crate) fn send_all(
        &mut self,
        fd: &AsyncFd<Socket>,
        mut refill: impl FnMut(&mut RingBuffer) -> bool,
    ) -> io::Result<bool> {
        self.error()?;
        loop {
            while !self.ring.is_empty() {
                match send_ring(fd, &mut self.ring) {
                    Sent::All | Sent::Interrupted => {}
                    Sent::Full => return Ok(false),
                    Sent::Failed(err) => {
                        self.fail(&err);
                        return Err(err);
                    }
                }
            }
            if !refill(&mut self.ring) {
                break;
            }
        }
        if self.shutdown_requested && !self.shut_down {
            self.shut_down = true;
            match fd.get_ref().shutdown(std::net::Shutdown::Write) {
                Err(err) if err.kind() != io::ErrorKind::NotConnected => return Err(err),
                _ => {}
            }
        }
        Ok(true)
    }
}
