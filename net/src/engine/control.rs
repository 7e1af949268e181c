//! `Engine`: a handle on running loops, usable from any thread.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use event_listener::Event;
use runtime_executor::channel::mpsc::UnboundedSender;

use super::handle::Command;

/// A running engine (or client): stop it, count its connections, wait for
/// it. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

pub(crate) struct EngineInner {
    pub(crate) senders: Vec<UnboundedSender<Command>>,
    connections: AtomicUsize,
    per_loop: Vec<AtomicUsize>,
    rejected: AtomicU64,
    max_connections: Option<usize>,
    stopped: AtomicBool,
    addrs: Vec<String>,
    finished: Mutex<bool>,
    finished_cv: Condvar,
    /// Wakes [`Engine::finished`]'s waiters.
    finished_event: Event,
}

impl EngineInner {
    pub(crate) fn new(
        senders: Vec<UnboundedSender<Command>>,
        max_connections: Option<usize>,
        addrs: Vec<String>,
    ) -> Self {
        EngineInner {
            per_loop: senders.iter().map(|_| AtomicUsize::new(0)).collect(),
            senders,
            connections: AtomicUsize::new(0),
            rejected: AtomicU64::new(0),
            max_connections,
            stopped: AtomicBool::new(false),
            addrs,
            finished: Mutex::new(false),
            finished_cv: Condvar::new(),
            finished_event: Event::new(),
        }
    }

    /// Takes a connection slot; `false` (and counted) past `max_connections`.
    pub(crate) fn reserve(&self) -> bool {
        let before = self.connections.fetch_add(1, Ordering::AcqRel);
        if self.max_connections.is_some_and(|max| before >= max) {
            self.connections.fetch_sub(1, Ordering::AcqRel);
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Counts a reserved connection against the loop that will serve it.
    pub(crate) fn assign(&self, lp: usize) {
        self.per_loop[lp].fetch_add(1, Ordering::Relaxed);
    }

    /// Gives back a slot taken by [`reserve`](Self::reserve) and
    /// [`assign`](Self::assign)ed to loop `lp`.
    pub(crate) fn connection_closed(&self, lp: usize) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
        self.per_loop[lp].fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn loop_load(&self, lp: usize) -> usize {
        self.per_loop[lp].load(Ordering::Relaxed)
    }

    pub(crate) fn set_finished(&self) {
        self.stopped.store(true, Ordering::Release);
        *self.finished.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.finished_cv.notify_all();
        self.finished_event.notify(usize::MAX);
    }

    fn is_finished(&self) -> bool {
        *self.finished.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Engine {
    /// Stops the engine gracefully: every loop stops accepting at once (its
    /// listeners and UDP sockets close), serves its open connections until
    /// they close or [`Options::shutdown_timeout`](super::Options::shutdown_timeout)
    /// passes, then closes the rest (`on_close` with no error), calls
    /// `on_shutdown` and returns. Returns at once; [`wait`](Self::wait) for
    /// the end, or call [`shutdown`](Self::shutdown), which waits. Calling
    /// it again is fine.
    pub fn stop(&self) {
        if self.inner.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        for sender in &self.inner.senders {
            let _ = sender.send(Command::Stop(None));
        }
    }

    /// Stops the engine as [`stop`](Self::stop) does, with `grace` in place
    /// of the shutdown timeout, and blocks until every loop has returned
    /// (gnet's `Stop(ctx)`). Connections still open when `grace` has passed
    /// are closed; so the call returns soon after `grace` (or sooner, once
    /// every connection has closed), however the peers behave. A zero
    /// `grace` closes every connection at once. Called after `stop`, it
    /// brings the deadline forward, never back.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when called on one of the engine's own loops (from a
    /// callback), where waiting for the loops would never end: use
    /// [`stop`](Self::stop) there.
    pub fn shutdown(&self, grace: std::time::Duration) -> std::io::Result<()> {
        if super::launch::on_loop_of(self) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "Engine::shutdown on one of the engine's own loops would wait for itself",
            ));
        }
        self.stop_within(grace);
        self.wait();
        Ok(())
    }

    /// [`shutdown`](Self::shutdown) without the wait: for a caller that may
    /// be the thread that runs a loop (an engine on a shared runtime).
    pub(crate) fn stop_within(&self, grace: std::time::Duration) {
        self.inner.stopped.store(true, Ordering::Release);
        let deadline = runtime_executor::time::Instant::now() + grace;
        for sender in &self.inner.senders {
            let _ = sender.send(Command::Stop(Some(deadline)));
        }
    }

    /// Whether [`stop`](Self::stop) was called (or an `Action::Shutdown`
    /// returned).
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }

    /// Waits until every loop has returned: [`wait`](Self::wait) for async
    /// code, such as a task on the runtime that
    /// [`serve_on`](super::serve_on) started the engine on (blocking that
    /// runtime's thread would stop its loop).
    pub async fn finished(&self) {
        loop {
            if self.inner.is_finished() {
                return;
            }
            let listener = self.inner.finished_event.listen();
            if self.inner.is_finished() {
                return;
            }
            listener.await;
        }
    }

    /// Blocks until every loop has returned.
    ///
    /// # Panics
    ///
    /// Never, but it blocks the calling thread: from a task on the runtime
    /// the engine runs on, await [`finished`](Self::finished) instead.
    pub fn wait(&self) {
        let mut finished = self
            .inner
            .finished
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while !*finished {
            finished = self
                .inner
                .finished_cv
                .wait(finished)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Open connections, across all loops.
    pub fn count_connections(&self) -> usize {
        self.inner.connections.load(Ordering::Acquire)
    }

    /// Connections closed at once because `max_connections` were open.
    pub fn rejected_connections(&self) -> u64 {
        self.inner.rejected.load(Ordering::Relaxed)
    }

    /// The number of loops.
    pub fn num_loops(&self) -> usize {
        self.inner.senders.len()
    }

    /// The addresses listened on, as engine addresses with the ports
    /// resolved (`tcp://127.0.0.1:9000` for `tcp://127.0.0.1:0`).
    pub fn addrs(&self) -> &[String] {
        &self.inner.addrs
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("addrs", &self.inner.addrs)
            .field("loops", &self.num_loops())
            .field("connections", &self.count_connections())
            .field("stopped", &self.is_stopped())
            .finish()
    }
}
