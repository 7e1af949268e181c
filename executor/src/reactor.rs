//! The per-core reactor: one `polling::Poller`, sources registered once in
//! edge-triggered mode, readiness kept per direction.
//!
//! Readiness bits start set (the first syscall is tried optimistically), are
//! set again by each edge the poller reports, and are cleared only when a
//! syscall returns `WouldBlock`. With edge-triggered registration the poller
//! never needs re-arming, so a busy socket costs no `epoll_ctl`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use polling::Poller;
use slab::Slab;

use crate::defer::Deferred;
use crate::wait::{Notifier, RawEvent, Waiter};

/// Whether a short read proves a stream socket drained: see
/// [`Source::short_read`].
const SHORT_READ_DRAINS: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Low bits of a poller key: the slab index. High bits: a generation, so an
/// event queued for a source that has since been removed never reaches a new
/// source that took the same slot (or the same fd number).
const INDEX_BITS: u32 = usize::BITS / 2;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;

/// Which half of a source's readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read = 0,
    Write = 1,
}

impl Direction {
    #[inline]
    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The bits of [`Source::ready`].
const READY_BOTH: u8 = 0b11;

/// One registered file descriptor.
///
/// Every connection holds one, so it is kept to 56 bytes: with `Rc`'s
/// counts, 72, an 80-byte malloc chunk (see `a_source_fits_an_80_byte_chunk`).
/// Its slab index is kept by its owner ([`AsyncFd`](crate::AsyncFd), in
/// room it has to spare), which hands it back to
/// [`Reactor::deregister`].
pub(crate) struct Source {
    /// The task waiting in each direction, or the one that waited last: a
    /// waker stays after its wake, so a task that waits again (the usual
    /// case) registers without cloning it. `waiting` says which are live.
    wakers: [Cell<Option<Waker>>; 2],
    /// Told of every edge directly, without a task: see [`OnReady`]. A
    /// `Cell` (read in place to upgrade) where a `RefCell` would cost a
    /// word of borrow flag.
    callback: Cell<Option<Weak<dyn OnReady>>>,
    /// The high half of its poller key: see [`poller_key`].
    generation: u32,
    /// Readiness, one bit per [`Direction`].
    ready: Cell<u8>,
    /// Which of `wakers` may hold a waker, one bit per [`Direction`]: an
    /// event for a source nobody waits on (a callback's) takes none.
    waiting: Cell<u8>,
    /// The kernel reported a hang-up, an error, or the peer's FIN. Sticky:
    /// reads from now on never block, so read readiness is never cleared
    /// again (a hang-up that arrived with data brings no second edge).
    read_closed: Cell<bool>,
}

/// The key a source is registered under with the poller: its slab `index`
/// in the low bits, its `generation` in the high bits.
#[inline]
fn poller_key(index: usize, generation: u32) -> usize {
    // `generation` is at most `INDEX_MASK`, which fits in the high half.
    index | (generation as usize) << INDEX_BITS
}

/// An object the reactor tells of readiness directly, in place of waking a
/// task: the callback engine's connections. See
/// [`AsyncFd::set_on_ready`](crate::AsyncFd::set_on_ready).
pub trait OnReady {
    /// Called on the core's thread, as the reactor goes through the events
    /// of a wait (no task runs meanwhile), with
    /// the directions the kernel reported (both after a hang-up or error).
    fn on_ready(self: std::rc::Rc<Self>, readable: bool, writable: bool);
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("generation", &self.generation)
            .field("ready", &self.ready.get())
            .finish_non_exhaustive()
    }
}

impl Source {
    pub(crate) fn set_callback(&self, callback: Option<Weak<dyn OnReady>>) {
        self.callback.set(callback);
    }

    #[inline]
    fn callback(&self) -> Option<Rc<dyn OnReady>> {
        // SAFETY: the shared reference lives only for the upgrade, which
        // runs no other code (it counts, or fails): nothing can set the
        // cell meanwhile, since the cell is `!Sync` and this thread is here.
        let weak = unsafe { &*self.callback.as_ptr() };
        weak.as_ref().and_then(Weak::upgrade)
    }

    /// Whether a callback is set (it may be gone: see [`callback`](Self::callback)).
    #[inline]
    fn has_callback(&self) -> bool {
        // SAFETY: as in `callback`: the shared reference lives only for
        // the check.
        unsafe { &*self.callback.as_ptr() }.is_some()
    }

    /// Ready in `dir` now, without registering a waker.
    #[inline]
    pub(crate) fn is_ready(&self, dir: Direction) -> bool {
        self.ready.get() & dir.bit() != 0
    }

    /// Ready in `dir`, or registers `cx`'s waker for the next edge.
    #[inline]
    pub(crate) fn poll_ready(&self, dir: Direction, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_ready(dir) {
            return Poll::Ready(());
        }
        let slot = &self.wakers[dir as usize];
        // SAFETY: the shared reference lives only for the comparison,
        // which runs no other code (`will_wake` compares pointers).
        let kept = unsafe { &*slot.as_ptr() }
            .as_ref()
            .is_some_and(|current| current.will_wake(cx.waker()));
        // The usual case: the waker kept from the last wake.
        if !kept {
            register_waker(slot, cx.waker());
        }
        self.waiting.set(self.waiting.get() | dir.bit());
        Poll::Pending
    }

    /// Forgets readiness in `dir`, after a syscall returned `WouldBlock`.
    #[inline]
    pub(crate) fn clear_ready(&self, dir: Direction) {
        if dir == Direction::Read && self.read_closed.get() {
            return;
        }
        self.ready.set(self.ready.get() & !dir.bit());
    }

    /// After a read from a stream socket returned fewer bytes than asked
    /// for: the socket is drained, so read readiness is forgotten where the
    /// poller reports a peer's FIN as an event of its own (Linux's
    /// `EPOLLRDHUP`). Elsewhere the reader reads on until `WouldBlock`.
    #[inline]
    pub(crate) fn short_read(&self) {
        if SHORT_READ_DRAINS {
            self.clear_ready(Direction::Read);
        }
    }

    /// Records the readiness `event` brings. Returns the directions it
    /// brings and, as bits, those a task waits in.
    #[inline]
    fn set_ready(&self, event: &RawEvent) -> (bool, bool, u8) {
        let (mut read, mut write) = (event.readable, event.writable);
        if event.hung_up {
            self.read_closed.set(true);
            read = true;
            write = true;
        } else if event.read_closed {
            self.read_closed.set(true);
            read = true;
        }
        let bits =
            (Direction::Read.bit() * u8::from(read)) | (Direction::Write.bit() * u8::from(write));
        self.ready.set(self.ready.get() | bits);
        let waiting = self.waiting.get();
        let due = waiting & bits;
        self.waiting.set(waiting & !bits);
        (read, write, due)
    }

    /// Wakes the tasks waiting in the directions `due`. Each waker stays
    /// in its slot, so a task that waits again right after (the usual
    /// case) registers without cloning it.
    #[inline]
    fn wake_due(&self, due: u8) {
        for dir in [Direction::Read, Direction::Write] {
            if due & dir.bit() == 0 {
                continue;
            }
            let slot = &self.wakers[dir as usize];
            if let Some(waker) = slot.take() {
                waker.wake_by_ref();
                // A waker registered meanwhile is the newer one: it stays.
                // SAFETY: the shared reference lives only for the check,
                // which runs no other code, as in `callback`.
                if unsafe { &*slot.as_ptr() }.is_none() {
                    slot.set(Some(waker));
                }
            }
        }
    }

    /// Wakes the task waiting in `dir`, if any, without changing readiness:
    /// it polls again and finds whatever the waker wanted it to see.
    pub(crate) fn wake_waiter(&self, dir: Direction) {
        self.waiting.set(self.waiting.get() & !dir.bit());
        if let Some(waker) = self.wakers[dir as usize].take() {
            waker.wake();
        }
    }

    fn take_wakers(&self, wake: &mut Vec<Waker>) {
        self.waiting.set(0);
        for slot in &self.wakers {
            wake.extend(slot.take());
        }
    }
}

/// Puts a clone of `waker` in `slot`, then drops the waker it held.
#[cold]
#[inline(never)]
fn register_waker(slot: &Cell<Option<Waker>>, waker: &Waker) {
    let old = slot.replace(Some(waker.clone()));
    drop(old);
}

/// The sources' slab is borrowed mutably while the reactor dispatches: a
/// register or deregister from inside a wait, which nothing does.
#[cold]
#[inline(never)]
fn already_borrowed() -> ! {
    panic!("the reactor's sources are borrowed during its wait")
}

/// A core's reactor.
pub(crate) struct Reactor {
    poller: Arc<Poller>,
    sources: RefCell<Slab<Rc<Source>>>,
    generation: Cell<usize>,
    waiter: RefCell<Waiter>,
    shut_down: Cell<bool>,
    /// Work to run once the current task poll returns (see
    /// [`crate::defer`]). Kept here, with the reactor every I/O object
    /// holds, so an I/O object defers work without a thread-local lookup.
    /// The oldest item waits in `deferred_first` when it was deferred onto
    /// an empty queue (most polls defer one socket's flush: a slot costs
    /// less than the queue); the rest, in order, in `deferred`.
    deferred_first: Cell<Option<Rc<dyn Deferred>>>,
    deferred: RefCell<VecDeque<Rc<dyn Deferred>>>,
    /// How many items wait, in the slot and the queue together.
    deferred_len: Cell<usize>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("sources", &self.sources.borrow().len())
            .field("shut_down", &self.shut_down.get())
            .finish_non_exhaustive()
    }
}

impl Reactor {
    pub(crate) fn new(poller: Arc<Poller>, notifier: Arc<Notifier>) -> Self {
        Reactor {
            waiter: RefCell::new(Waiter::new(poller.clone(), notifier)),
            poller,
            sources: RefCell::new(Slab::new()),
            generation: Cell::new(0),
            shut_down: Cell::new(false),
            deferred_first: Cell::new(None),
            deferred: RefCell::new(VecDeque::new()),
            deferred_len: Cell::new(0),
        }
    }

    #[inline]
    pub(crate) fn defer(&self, work: Rc<dyn Deferred>) {
        let len = self.deferred_len.get();
        // With nothing waiting, both the slot and the queue are empty; the
        // slot then holds the oldest item, so the order is kept.
        if len == 0 {
            // The slot is empty: put in, with nothing to drop (`set` would
            // look for an old item to drop).
            let old = self.deferred_first.replace(Some(work));
            debug_assert!(old.is_none(), "a deferred item outside the count");
            std::mem::forget(old);
        } else {
            self.deferred.borrow_mut().push_back(work);
        }
        self.deferred_len.set(len + 1);
    }

    #[inline]
    pub(crate) fn has_deferred(&self) -> bool {
        self.deferred_len.get() != 0
    }

    pub(crate) fn clear_deferred(&self) {
        let first = self.deferred_first.take();
        let rest = std::mem::take(&mut *self.deferred.borrow_mut());
        self.deferred_len.set(0);
        drop((first, rest));
    }

    /// Runs deferred work in order, including work deferred by deferred
    /// work, up to four times what was queued (so work that keeps
    /// deferring itself cannot hold the core: the rest waits for the next
    /// poll).
    #[inline]
    pub(crate) fn run_deferred(&self) {
        // The usual case, in line: one item, in the slot (a poll that
        // wrote to one socket), which leaves nothing behind.
        let len = self.deferred_len.get();
        if len == 1 {
            if let Some(work) = self.deferred_first.take() {
                self.deferred_len.set(0);
                work.run();
                if self.deferred_len.get() != 0 {
                    self.run_deferred_budget(3);
                }
                return;
            }
        }
        if len != 0 {
            self.run_deferred_budget(len * 4);
        }
    }

    /// [`run_deferred`](Self::run_deferred) for up to `budget` items.
    #[inline(never)]
    fn run_deferred_budget(&self, mut budget: usize) {
        while budget > 0 && self.deferred_len.get() > 0 {
            let work = match self.deferred_first.take() {
                Some(work) => work,
                None => match self.deferred.borrow_mut().pop_front() {
                    Some(work) => work,
                    None => return, // unreachable while the count is right
                },
            };
            self.deferred_len.set(self.deferred_len.get() - 1);
            work.run();
            budget -= 1;
        }
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.get()
    }

    pub(crate) fn has_sources(&self) -> bool {
        !self.sources.borrow().is_empty()
    }

    /// Registers `fd` for both directions, edge-triggered. Returns the
    /// source and its slab index, for [`deregister`](Self::deregister).
    ///
    /// The caller must call [`deregister`](Self::deregister) before closing
    /// `fd`.
    pub(crate) fn register(&self, fd: BorrowedFd<'_>) -> io::Result<(Rc<Source>, u32)> {
        if self.shut_down.get() {
            return Err(shut_down_error());
        }
        let mut sources = self.sources.borrow_mut();
        let entry = sources.vacant_entry();
        let index = entry.key();
        let Some(index32) = u32::try_from(index).ok().filter(|_| index <= INDEX_MASK) else {
            return Err(io::Error::other("too many sources on one core"));
        };
        // Never 0: a key with generation 0 is the notifier's. At most
        // `INDEX_MASK`, so it fits in 32 bits.
        let generation = (self.generation.get() & INDEX_MASK) % INDEX_MASK + 1;
        self.generation.set(generation);
        let generation = generation as u32;
        let key = poller_key(index, generation);
        let source = Rc::new(Source {
            wakers: [Cell::new(None), Cell::new(None)],
            callback: Cell::new(None),
            generation,
            ready: Cell::new(READY_BOTH),
            waiting: Cell::new(0),
            read_closed: Cell::new(false),
        });
        // SAFETY: `AsyncFd` (the only caller) deletes the fd from the poller in
        // `deregister` before the fd can be closed: it deregisters in `Drop`
        // and `into_inner` before giving up or dropping the I/O object, and
        // gives no `&mut` access to it, so the object (and its fd) cannot be
        // replaced or closed while registered.
        unsafe {
            crate::wait::add_source(&self.poller, fd.as_raw_fd(), key)?;
        }
        entry.insert(source.clone());
        Ok((source, index32))
    }

    /// Removes a source, registered at `index`, from the poller and the
    /// slab.
    pub(crate) fn deregister(&self, index: u32, source: &Rc<Source>, fd: BorrowedFd<'_>) {
        // The fd is still open here; a failure means it was never added.
        let _ = self.poller.delete(fd);
        let mut sources = self.sources.borrow_mut();
        let index = index as usize;
        if sources.get(index).is_some_and(|s| Rc::ptr_eq(s, source)) {
            sources.remove(index);
        }
    }

    /// Waits for events (`Some(ZERO)`: without blocking) and wakes the tasks
    /// they concern. Returns the number of events.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> usize {
        self.poll_ms(crate::wait::timeout_ms(timeout))
    }

    /// [`poll`](Self::poll) with the timeout as `epoll_wait` takes it:
    /// milliseconds, -1 for none. A parking core has it in milliseconds
    /// already (its timers tick in them). Inlined there: a parking core
    /// calls it once per turn.
    #[inline]
    pub(crate) fn poll_ms(&self, timeout_ms: i32) -> usize {
        let mut waiter = self.waiter.borrow_mut();
        let result = waiter.wait(timeout_ms, |event| self.dispatch(&event));
        drop(waiter);
        let count = match result {
            Ok(count) => count,
            // A signal: nothing to report.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => 0,
            Err(err) => {
                // Unexpected; retrying at once would spin.
                log::error!("poller wait failed: {err}");
                std::thread::sleep(Duration::from_millis(1));
                0
            }
        };
        count
    }

    /// Marks the source behind `key` ready, unless `key` is stale, and
    /// wakes its tasks and calls its callback.
    #[inline]
    fn dispatch(&self, event: &RawEvent) {
        // SAFETY: `sources` is used only until the source is cloned or
        // its callback upgraded below, and up to there nothing runs that
        // could borrow the slab mutably (`set_ready`, the key checks, the
        // clone and the upgrade run no other code). What follows runs with
        // no borrow of the slab: a woken waker or a callback may register
        // or drop sources (a dropped one's later events fail the key
        // check). Unguarded, the borrow costs no flag to set and reset.
        let Ok(sources) = (unsafe { self.sources.try_borrow_unguarded() }) else {
            already_borrowed();
        };
        let Some(source) = sources.get(event.key & INDEX_MASK) else {
            return;
        };
        if event.key >> INDEX_BITS != source.generation as usize {
            return;
        }
        let (read, write, due) = source.set_ready(event);
        if due == 0 {
            // No task waits: the usual case for a callback's source, which
            // then needs no clone of the source.
            if let Some(callback) = source.callback() {
                callback.on_ready(read, write);
            }
            return;
        }
        let source = source.clone();
        if source.has_callback() {
            source.wake_due(due);
            if let Some(callback) = source.callback() {
                callback.on_ready(read, write);
            }
        } else {
            // A task's source, the async face's: nothing to keep for
            // after the wake. (A callback set by the wake itself hears of
            // the next edge.)
            source.wake_due(due);
        }
    }

    /// Fails every source from now on and wakes their tasks.
    pub(crate) fn shutdown(&self) {
        self.shut_down.set(true);
        let mut wakers = Vec::new();
        for (_, source) in self.sources.borrow().iter() {
            source.take_wakers(&mut wakers);
            source.set_callback(None);
            // Every later operation then asks for readiness, and so hears
            // that the core is gone rather than reaching the socket.
            source.read_closed.set(false);
            source.ready.set(0);
        }
        for waker in wakers {
            waker.wake();
        }
    }
}

pub(crate) fn shut_down_error() -> io::Error {
    io::Error::other("the runtime core owning this I/O object has shut down")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn event(key: usize, readable: bool, writable: bool) -> RawEvent {
        RawEvent {
            key,
            readable,
            writable,
            hung_up: false,
            read_closed: false,
        }
    }

    /// The poller key of `source`, registered at `index`.
    fn key(index: u32, source: &Source) -> usize {
        poller_key(index as usize, source.generation)
    }

    fn reactor() -> Reactor {
        let poller = Arc::new(Poller::new().unwrap());
        let notifier = Arc::new(Notifier::new(&poller).unwrap());
        Reactor::new(poller, notifier)
    }

    /// Deferred work that logs its name and may defer more.
    struct Logged {
        name: &'static str,
        log: Rc<RefCell<Vec<&'static str>>>,
        reactor: Rc<Reactor>,
        then: Cell<Option<Rc<dyn Deferred>>>,
        again: Cell<bool>,
    }

    impl Deferred for Logged {
        fn run(self: Rc<Self>) {
            self.log.borrow_mut().push(self.name);
            if let Some(next) = self.then.take() {
                self.reactor.defer(next);
            }
            if self.again.get() {
                self.reactor.defer(self.clone());
            }
        }
    }

    #[test]
    fn deferred_work_runs_in_order_and_self_deferring_work_is_bounded() {
        let reactor = Rc::new(reactor());
        let log = Rc::new(RefCell::new(Vec::new()));
        let work = |name| {
            Rc::new(Logged {
                name,
                log: log.clone(),
                reactor: reactor.clone(),
                then: Cell::new(None),
                again: Cell::new(false),
            })
        };
        let (a, b, c, d) = (work("a"), work("b"), work("c"), work("d"));
        a.then.set(Some(c));
        b.then.set(Some(d));
        reactor.defer(a);
        reactor.defer(b);
        assert!(reactor.has_deferred());
        reactor.run_deferred();
        assert_eq!(*log.borrow(), ["a", "b", "c", "d"]);
        assert!(!reactor.has_deferred());

        // Once the queue has emptied, the next item goes first again.
        log.borrow_mut().clear();
        let (e, f) = (work("e"), work("f"));
        e.then.set(Some(f));
        reactor.defer(e);
        reactor.run_deferred();
        assert_eq!(*log.borrow(), ["e", "f"]);

        // Work that keeps deferring itself runs four times per call.
        log.borrow_mut().clear();
        let spin = work("spin");
        spin.again.set(true);
        reactor.defer(spin.clone());
        reactor.run_deferred();
        assert_eq!(log.borrow().len(), 4);
        assert!(reactor.has_deferred());
        reactor.clear_deferred();
        assert!(!reactor.has_deferred());
        spin.again.set(false);
    }

    /// A waker that counts its clones and wakes.
    struct Counts {
        clones: AtomicUsize,
        wakes: AtomicUsize,
    }

    fn counting_waker(target: &'static Counts) -> Waker {
        use std::task::{RawWaker, RawWakerVTable};
        fn counts(data: *const ()) -> &'static Counts {
            // SAFETY: `data` is the `&'static Counts` the waker was made from.
            unsafe { &*data.cast::<Counts>() }
        }
        static VTABLE: RawWakerVTable = RawWakerVTable::new(
            |data| {
                counts(data).clones.fetch_add(1, Ordering::SeqCst);
                RawWaker::new(data, &VTABLE)
            },
            |data| {
                counts(data).wakes.fetch_add(1, Ordering::SeqCst);
            },
            |data| {
                counts(data).wakes.fetch_add(1, Ordering::SeqCst);
            },
            |_| {},
        );
        let raw = RawWaker::new((target as *const Counts).cast(), &VTABLE);
        // SAFETY: the vtable's functions only count, through a `'static`
        // reference, and are sound from any thread.
        unsafe { Waker::from_raw(raw) }
    }

    #[test]
    fn an_event_wakes_the_task_and_keeps_its_waker_for_the_next_wait() {
        static COUNTS: Counts = Counts {
            clones: AtomicUsize::new(0),
            wakes: AtomicUsize::new(0),
        };
        let reactor = reactor();
        let (a, _peer) = UnixStream::pair().unwrap();
        let (source, index) = reactor.register(a.as_fd()).unwrap();
        let waker = counting_waker(&COUNTS);
        let mut cx = Context::from_waker(&waker);
        for round in 1..=3 {
            source.clear_ready(Direction::Read);
            assert!(source.poll_ready(Direction::Read, &mut cx).is_pending());
            reactor.dispatch(&event(key(index, &source), true, false));
            assert_eq!(COUNTS.wakes.load(Ordering::SeqCst), round);
            // Not waiting any more: a second edge wakes nobody.
            reactor.dispatch(&event(key(index, &source), true, false));
            assert_eq!(COUNTS.wakes.load(Ordering::SeqCst), round);
            assert!(source.poll_ready(Direction::Read, &mut cx).is_ready());
        }
        // One clone, at the first wait; none per round after it.
        assert_eq!(COUNTS.clones.load(Ordering::SeqCst), 1);
        reactor.deregister(index, &source, a.as_fd());
    }

    /// A waker that, when woken, registers `NEXT` on `WAITED` in its place,
    /// as a task that polls again from its wake would.
    fn registering_waker() -> Waker {
        use std::task::{RawWaker, RawWakerVTable};
        fn register(_: *const ()) {
            let source = WAITED.with(|s| s.borrow().clone()).unwrap();
            let next = Waker::from(NEXT.with(|n| n.clone()));
            source.clear_ready(Direction::Read);
            assert!(source
                .poll_ready(Direction::Read, &mut Context::from_waker(&next))
                .is_pending());
        }
        static VTABLE: RawWakerVTable = RawWakerVTable::new(
            |data| RawWaker::new(data, &VTABLE),
            register,
            register,
            |_| {},
        );
        // SAFETY: the vtable's functions touch only this thread's
        // thread-locals, and the test uses the waker on this thread only.
        unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
    }

    thread_local! {
        static WAITED: RefCell<Option<Rc<Source>>> = const { RefCell::new(None) };
        static NEXT: Arc<CountingWaker> = Arc::new(CountingWaker(AtomicUsize::new(0)));
    }

    #[test]
    fn a_waker_registered_during_a_wake_replaces_the_woken_one() {
        let reactor = reactor();
        let (a, _peer) = UnixStream::pair().unwrap();
        let (source, index) = reactor.register(a.as_fd()).unwrap();
        WAITED.with(|s| *s.borrow_mut() = Some(source.clone()));
        let first = registering_waker();
        source.clear_ready(Direction::Read);
        assert!(source
            .poll_ready(Direction::Read, &mut Context::from_waker(&first))
            .is_pending());
        // Wakes `first`, which registers `NEXT`: the slot keeps `NEXT`.
        reactor.dispatch(&event(key(index, &source), true, false));
        let next = NEXT.with(|n| n.clone());
        assert_eq!(next.0.load(Ordering::SeqCst), 0);
        reactor.dispatch(&event(key(index, &source), true, false));
        assert_eq!(next.0.load(Ordering::SeqCst), 1, "the newer waker was lost");
        WAITED.with(|s| s.borrow_mut().take());
        reactor.deregister(index, &source, a.as_fd());
    }

    #[test]
    fn stale_key_never_reaches_a_source_reusing_the_slot() {
        let reactor = reactor();
        let (a, _a_peer) = UnixStream::pair().unwrap();
        let (old, old_index) = reactor.register(a.as_fd()).unwrap();
        let old_key = key(old_index, &old);
        reactor.deregister(old_index, &old, a.as_fd());
        drop(a);

        // Same slab slot, and very likely the same fd number.
        let (b, _b_peer) = UnixStream::pair().unwrap();
        let (new, new_index) = reactor.register(b.as_fd()).unwrap();
        let new_key = key(new_index, &new);
        assert_eq!(new_index, old_index);
        assert_ne!(new_key, old_key);

        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        new.clear_ready(Direction::Read);
        assert!(new.poll_ready(Direction::Read, &mut cx).is_pending());

        reactor.dispatch(&event(old_key, true, true));
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            0,
            "a stale event woke the new source"
        );
        assert!(new.poll_ready(Direction::Read, &mut cx).is_pending());

        reactor.dispatch(&event(new_key, true, false));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(new.poll_ready(Direction::Read, &mut cx).is_ready());
        reactor.deregister(new_index, &new, b.as_fd());
        assert!(!reactor.has_sources());
    }

    #[test]
    fn readiness_is_kept_until_cleared() {
        let reactor = reactor();
        let (a, mut peer) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let (source, index) = reactor.register(a.as_fd()).unwrap();
        let waker = Waker::from(Arc::new(CountingWaker(AtomicUsize::new(0))));
        let mut cx = Context::from_waker(&waker);
        // Optimistic start: ready until a syscall says otherwise.
        assert!(source.poll_ready(Direction::Read, &mut cx).is_ready());
        source.clear_ready(Direction::Read);
        assert!(source.poll_ready(Direction::Read, &mut cx).is_pending());
        // An edge from the kernel sets it again.
        std::io::Write::write_all(&mut peer, b"x").unwrap();
        assert!(reactor.poll(Some(Duration::from_secs(5))) >= 1);
        assert!(source.poll_ready(Direction::Read, &mut cx).is_ready());
        assert!(source.poll_ready(Direction::Read, &mut cx).is_ready());
        reactor.deregister(index, &source, a.as_fd());
    }

    /// A registered socket pair after data alone arrived and was read
    /// short: the short read proved the socket drained.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn drained_after_a_short_read(reactor: &Reactor) -> (UnixStream, UnixStream, Rc<Source>, u32) {
        use std::io::{Read, Write};
        let (a, mut peer) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let (source, index) = reactor.register(a.as_fd()).unwrap();
        peer.write_all(b"ping").unwrap();
        assert!(reactor.poll(Some(Duration::from_secs(5))) >= 1);
        let mut buf = [0; 64];
        assert_eq!((&a).read(&mut buf).unwrap(), 4);
        source.short_read();
        assert!(!source.is_ready(Direction::Read));
        (a, peer, source, index)
    }

    #[test]
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn a_fin_keeps_read_readiness_after_a_short_read() {
        use std::io::{Read, Write};
        use std::net::Shutdown;
        let reactor = reactor();
        let (a, mut peer, source, index) = drained_after_a_short_read(&reactor);
        let mut buf = [0; 64];

        // Data and the FIN before the next wait: one edge brings both, and
        // after the short read the end of stream must still be read.
        peer.write_all(b"last").unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        assert!(reactor.poll(Some(Duration::from_secs(5))) >= 1);
        assert_eq!((&a).read(&mut buf).unwrap(), 4);
        source.short_read();
        assert!(source.is_ready(Direction::Read), "the FIN would be missed");
        assert_eq!((&a).read(&mut buf).unwrap(), 0);
        reactor.deregister(index, &source, a.as_fd());
    }

    #[test]
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn a_fin_after_a_short_read_brings_its_own_event() {
        use std::io::Read;
        use std::net::Shutdown;
        let reactor = reactor();
        let (a, peer, source, index) = drained_after_a_short_read(&reactor);
        let mut buf = [0; 64];
        peer.shutdown(Shutdown::Write).unwrap();
        assert!(reactor.poll(Some(Duration::from_secs(5))) >= 1);
        assert!(source.is_ready(Direction::Read));
        assert_eq!((&a).read(&mut buf).unwrap(), 0);
        reactor.deregister(index, &source, a.as_fd());
    }

    #[test]
    fn shutdown_wakes_waiters() {
        let reactor = reactor();
        let (a, _peer) = UnixStream::pair().unwrap();
        let (source, index) = reactor.register(a.as_fd()).unwrap();
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        source.clear_ready(Direction::Write);
        assert!(source.poll_ready(Direction::Write, &mut cx).is_pending());
        reactor.shutdown();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(reactor.is_shut_down());
        assert!(reactor.register(a.as_fd()).is_err());
        reactor.deregister(index, &source, a.as_fd());
    }

    #[test]
    fn a_source_fits_an_80_byte_chunk() {
        // Every connection holds one, in an `Rc`: 56 bytes plus the two
        // counts take an 80-byte malloc chunk; one byte more takes 96, 16
        // bytes more per idle connection (`benches/idle_memory.sh`).
        assert!(
            std::mem::size_of::<Source>() <= 56,
            "Source grew to {} bytes: 16 more bytes of memory per connection",
            std::mem::size_of::<Source>()
        );
    }
}
