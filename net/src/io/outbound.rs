//! The outbound side of a stream connection, as both faces keep it: the
//! ring written bytes wait in, the first send error, and the half-close.
//! The async stream wraps it with its flush scheduling and drain task
//! (`crate::stream`), the engine with its queue of `Bytes` and its high
//! watermark (`crate::engine::Outbound`); the sends are these.

use std::io;

use super::{send_ring, write_shut_down, Sent, StoredError, Transport};
use crate::buffer::RingBuffer;

/// The ring, the stored error and the shutdown state of one connection.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub(crate) ring: RingBuffer,
    state: State,
}

/// Whether a connection's write side is open, in one word beside the ring
/// (every connection holds one).
#[derive(Debug, Clone, Copy)]
enum State {
    Open,
    /// `shutdown(Write)` asked for: done once the ring is empty.
    ShutdownAsked,
    ShutDown,
    /// The first send error: every later write reports it again (a
    /// shutdown asked for no longer matters).
    Failed(StoredError),
}

impl Outbound {
    pub(crate) fn new(ring: RingBuffer) -> Outbound {
        Outbound {
            ring,
            state: State::Open,
        }
    }

    /// Neither failed nor shut down: writes are accepted.
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// Why a write is refused: the stored error, or the shutdown.
    #[cold]
    pub(crate) fn not_open(&self) -> io::Error {
        match self.state {
            State::Failed(err) => err.to_io(),
            _ => write_shut_down(),
        }
    }

    /// The stored send error, if a send has failed.
    #[inline]
    pub(crate) fn error(&self) -> io::Result<()> {
        match self.state {
            State::Failed(err) => Err(err.to_io()),
            _ => Ok(()),
        }
    }

    /// Asks for the write side to be shut down once everything queued is
    /// sent.
    pub(crate) fn request_shutdown(&mut self) {
        if let State::Open = self.state {
            self.state = State::ShutdownAsked;
        }
    }

    /// Keeps the first send error for every later write, and frees what
    /// can never be delivered.
    pub(crate) fn fail(&mut self, err: &io::Error) {
        if !matches!(self.state, State::Failed(_)) {
            self.state = State::Failed(StoredError::from_io(err));
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
    pub(crate) fn send_short(&mut self, to: &impl Transport) -> Option<bool> {
        if !self.is_open() {
            return None;
        }
        let front = self.ring.contiguous()?;
        if front.is_empty() {
            return Some(true);
        }
        match to.send(front, &[]) {
            Ok(n) if n == front.len() => {
                self.ring.clear();
                Some(true)
            }
            Ok(n) if n > 0 => {
                // The socket's buffer is full (see `send_ring`).
                self.ring.discard(n);
                to.clear_write_ready();
                Some(false)
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                to.clear_write_ready();
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
        to: &impl Transport,
        mut refill: impl FnMut(&mut RingBuffer) -> bool,
    ) -> io::Result<bool> {
        self.error()?;
        loop {
            while !self.ring.is_empty() {
                match send_ring(to, &mut self.ring) {
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
        if let State::ShutdownAsked = self.state {
            self.state = State::ShutDown;
            match to.shutdown_write() {
                Err(err) if err.kind() != io::ErrorKind::NotConnected => return Err(err),
                _ => {}
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    //! The outbound core against a scripted transport (RELIABILITY rows 6
    //! and 7): what a real socket does only under load, or never, on
    //! demand.

    use std::cell::{Cell, RefCell};

    use super::*;
    use crate::io::kept_ring;

    /// What the scripted transport does on each send.
    #[derive(Clone, Copy)]
    enum Script {
        /// Takes 1 to 7 bytes, or says `WouldBlock`, at random.
        Trickle,
        /// Takes nothing: `Ok(0)`.
        Zero,
    }

    struct Scripted {
        script: Script,
        received: RefCell<Vec<u8>>,
        sends: Cell<usize>,
        would_blocks: Cell<usize>,
        shut_down: Cell<bool>,
        rng: Cell<u64>,
    }

    impl Scripted {
        fn new(script: Script) -> Scripted {
            Scripted {
                script,
                received: RefCell::new(Vec::new()),
                sends: Cell::new(0),
                would_blocks: Cell::new(0),
                shut_down: Cell::new(false),
                rng: Cell::new(0x9e37_79b9_7f4a_7c15),
            }
        }

        /// xorshift64: a fixed sequence, so a failure replays.
        fn next(&self) -> u64 {
            let mut x = self.rng.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.rng.set(x);
            x
        }
    }

    impl Transport for Scripted {
        fn send(&self, front: &[u8], back: &[u8]) -> io::Result<usize> {
            self.sends.set(self.sends.get() + 1);
            match self.script {
                Script::Zero => Ok(0),
                Script::Trickle => {
                    let roll = self.next();
                    if roll % 4 == 0 {
                        self.would_blocks.set(self.would_blocks.get() + 1);
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                    let take = 1 + (roll >> 8) as usize % 7;
                    let mut received = self.received.borrow_mut();
                    let from_front = take.min(front.len());
                    received.extend_from_slice(&front[..from_front]);
                    let from_back = (take - from_front).min(back.len());
                    received.extend_from_slice(&back[..from_back]);
                    Ok(from_front + from_back)
                }
            }
        }

        fn clear_write_ready(&self) {}

        fn shutdown_write(&self) -> io::Result<()> {
            self.shut_down.set(true);
            Ok(())
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
    }

    #[test]
    fn a_transport_taking_one_to_seven_bytes_gets_everything_in_order() {
        const TOTAL: usize = 4 * 1024 * 1024;
        const MAX: usize = 64 * 1024;
        let data = pattern(TOTAL);
        let to = Scripted::new(Script::Trickle);
        let mut out = Outbound::new(kept_ring(MAX));
        let (mut written, mut waits) = (0, 0);
        while written < TOTAL || !out.ring.is_empty() {
            // Write what fits, as a task does until the ring is full.
            written += out
                .ring
                .write(&data[written..(written + 10_000).min(TOTAL)]);
            assert!(out.ring.len() <= MAX, "the ring grew past its bound");
            match out.send_short(&to) {
                Some(_) => {}
                None => {
                    if !out.send_all(&to, |_| false).unwrap() {
                        // Full: a real stream waits for writability here.
                        waits += 1;
                    }
                }
            }
        }
        out.request_shutdown();
        assert!(out.send_all(&to, |_| false).unwrap());
        assert!(
            to.shut_down.get(),
            "the write side was shut down once empty"
        );
        assert_eq!(*to.received.borrow(), data, "every byte, in order");
        // No busy loop: every send either took bytes or said WouldBlock, and
        // each WouldBlock ended its flush (a wait for writability).
        let sends = to.sends.get();
        assert!(
            waits >= to.would_blocks.get(),
            "{} WouldBlock, but only {waits} waits",
            to.would_blocks.get()
        );
        assert!(sends <= TOTAL + to.would_blocks.get());
        // The ring holds nothing more; its storage goes back on request.
        assert!(out.ring.is_empty());
        out.ring.give_back();
        assert_eq!(out.ring.capacity(), 0, "the storage went back to the pool");
    }

    #[test]
    fn an_outbound_is_its_ring_and_one_word() {
        // Every connection holds one: its state packs into a word.
        assert_eq!(
            std::mem::size_of::<Outbound>(),
            std::mem::size_of::<RingBuffer>() + 8
        );
    }

    #[test]
    fn a_shutdown_asked_after_a_failure_keeps_the_error() {
        let to = Scripted::new(Script::Zero);
        let mut out = Outbound::new(kept_ring(4096));
        out.ring.write(b"x");
        assert!(out.send_all(&to, |_| false).is_err());
        out.request_shutdown();
        assert_eq!(out.not_open().kind(), io::ErrorKind::WriteZero);
        assert!(matches!(out.state, State::Failed(_)), "the failure stays");
        assert!(!to.shut_down.get(), "a failed socket is not shut down");
    }

    #[test]
    fn a_transport_taking_zero_bytes_is_write_zero_once_not_a_retry_loop() {
        let to = Scripted::new(Script::Zero);
        let mut out = Outbound::new(kept_ring(4096));
        out.ring.write(b"never delivered");
        assert_eq!(out.send_short(&to), None, "Ok(0) leaves the short path");
        let err = out.send_all(&to, |_| false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
        let sends = to.sends.get();
        assert_eq!(sends, 2, "one send in each path, no retry");
        // Stored: every later send and write reports it, without sending.
        assert!(!out.is_open());
        assert_eq!(out.not_open().kind(), io::ErrorKind::WriteZero);
        let again = out.send_all(&to, |_| false).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::WriteZero);
        assert_eq!(to.sends.get(), sends, "a failed connection sends no more");
        // What can never be delivered is freed.
        assert!(out.ring.is_empty());
        assert_eq!(out.ring.capacity(), 0);
    }
}
