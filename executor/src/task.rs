//! Tasks: spawning, scheduling, and the handles that await them.
//!
//! # Why `!Send` tasks are sound here
//!
//! Tasks are allocated with [`async_task::spawn_unchecked`], whose contract
//! says a `!Send` future must only be polled and dropped on the thread that
//! owns it. Polling and dropping a task's future happen only through its
//! [`Runnable`] (`run` or drop) or, for a completed or cancelled task, inside
//! `async_task` when the runnable runs. Every runnable reaches the executor
//! through [`schedule`], which sends it to exactly one place: the owner core's
//! local queue when called on the owner's thread, its remote queue otherwise.
//! Both queues are only ever popped (run or dropped) by the owner's thread, in
//! its event loop or its shutdown. The shutdown closes the remote queue only
//! once every polled task's future is dropped (see `Core::shutdown`), so a
//! runnable arriving later is one whose future was never polled, or (should a
//! waking thread stall past the shutdown's patience) one that is leaked, never
//! dropped on the foreign thread. Wakers and [`JoinHandle`]s may travel between threads: they
//! only reach the future through `schedule`.
//!
//! [`spawn_on`] builds the task on the calling thread: until its first poll on
//! the target core, the future holds only the `Send` closure, so dropping it
//! there (when the target core is already gone) is sound too.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::num::NonZeroU64;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_task::{FallibleTask, Runnable};

use crate::context;
use crate::core::{Core, CoreShared};

mod abort;

pub use abort::AbortHandle;

/// What a panicking task left behind.
pub(crate) type Panic = Box<dyn Any + Send + 'static>;

/// What a task leaves for its handle: its output, or its panic.
pub(crate) type Outcome<T> = Result<Caught<T>, Panic>;

/// A task's output until its handle takes it. `async_task` drops an output
/// that no handle will take (the task was detached) where a panic aborts
/// the process, and a handle dropped unawaited drops it in its own drop:
/// either way a panic of the output's destructor is logged, as a detached
/// task's panic is, and goes no further.
pub(crate) struct Caught<T>(ManuallyDrop<T>);

impl<T> Caught<T> {
    #[inline(always)]
    pub(crate) fn new(value: T) -> Self {
        Caught(ManuallyDrop::new(value))
    }

    #[inline(always)]
    pub(crate) fn into_inner(self) -> T {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: taken once, and `this` is never dropped: the value is
        // neither dropped nor used again here.
        unsafe { ManuallyDrop::take(&mut this.0) }
    }
}

impl<T> Drop for Caught<T> {
    fn drop(&mut self) {
        // SAFETY: dropped once, here, and never used again.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
            ManuallyDrop::drop(&mut self.0)
        }));
        if let Err(panic) = dropped {
            let error = JoinError::panicked(panic);
            log::error!("a task's output panicked when dropped (the core goes on): {error}");
        }
    }
}

/// Sends `runnable` to the core that owns it: its local queue on the owner's
/// thread, its remote queue from anywhere else. Gives the runnable back when
/// the owner has shut down.
#[inline]
fn route(owner: &Arc<CoreShared>, runnable: Runnable) -> Result<(), Runnable> {
    let local = context::with_core_or(runnable, |core, runnable| {
        if Arc::ptr_eq(core.shared(), owner) {
            core.push_local(runnable);
            Ok(())
        } else {
            Err(runnable)
        }
    });
    match local {
        Ok(Ok(())) => Ok(()),
        Ok(Err(runnable)) | Err(runnable) => push_remote(owner, runnable),
    }
}

/// A wake from another thread: out of line, so a wake on the owner's
/// thread (the usual one) is a short function.
#[cold]
#[inline(never)]
fn push_remote(owner: &Arc<CoreShared>, runnable: Runnable) -> Result<(), Runnable> {
    owner.push_remote(runnable)
}

/// The schedule function of every task; see the module docs.
#[inline]
fn schedule(owner: &Arc<CoreShared>, runnable: Runnable) {
    if let Err(runnable) = route(owner, runnable) {
        // The owner core is gone and this may be a foreign thread:
        // dropping would run a `!Send` future's destructor here.
        std::mem::forget(runnable);
    }
}

/// A task's future, with what its task adds around it: a panic of its poll
/// is caught (and given to the handle); it registers with its core on first
/// poll, so shutdown can find it while it sits idle; and it is dropped
/// inside `catch_unwind`: `async_task` drops a cancelled future where a
/// panic aborts the process, and a destructor panicking while its core
/// unwinds would be a double panic. So a panicking destructor is logged, as
/// a detached task's panic is lost, and the core goes on.
struct Tracked<F> {
    // Built in place, by `build`. Uninitialized only in a task whose `make`
    // panicked: `registration` is then `UNBUILT`, and the task is never run
    // (its runnable is dropped before it could be).
    future: MaybeUninit<F>,
    // The registering core's uid (never 0, so the `Option` needs no
    // tag of its own: 16 bytes per task, not 24) and the key.
    registration: Option<(NonZeroU64, usize)>,
}

/// The registration of a task whose future was never built. No core has
/// this uid: they count up from 1.
const UNBUILT: Option<(NonZeroU64, usize)> = Some((NonZeroU64::MAX, usize::MAX));

impl<F: Future> Future for Tracked<F> {
    type Output = Outcome<F::Output>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out,
        // and it is dropped in place in `drop`. `registration` is not
        // pinned.
        let this = unsafe { self.get_unchecked_mut() };
        if this.registration.is_none() {
            this.registration =
                context::with_core(|core| (core.uid(), core.register_active(cx.waker())));
        }
        debug_assert!(this.registration != UNBUILT, "an unbuilt task is never run");
        // SAFETY: built (an unbuilt task is never run), and pinned as said
        // above.
        let future = unsafe { Pin::new_unchecked(this.future.assume_init_mut()) };
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(Caught::new(output))),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        if self.registration == UNBUILT {
            return;
        }
        if let Some((uid, key)) = self.registration {
            context::with_core(|core| {
                if core.uid() == uid {
                    core.unregister_active(key);
                }
            });
        }
        // SAFETY: built (checked above), dropped once, in place (so the
        // pinning holds), and never used again.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
            self.future.assume_init_drop()
        }));
        if let Err(panic) = dropped {
            let error = JoinError::panicked(panic);
            log::error!("a task's destructor panicked (the core goes on): {error}");
        }
    }
}

#[inline(always)]
fn tracked<F: Future>(future: F) -> Tracked<F> {
    Tracked {
        future: MaybeUninit::new(future),
        registration: None,
    }
}

/// Builds a task's future with `make`, catching its panic: the panic is put
/// in `panicked`, and the task is left unbuilt. `make` runs inside
/// `async_task`'s allocation of the task, where a panic would abort.
#[inline(always)]
fn build<M, F>(make: M, panicked: &mut Option<Panic>) -> Tracked<F>
where
    M: FnOnce() -> F,
    F: Future,
{
    let mut tracked = Tracked {
        future: MaybeUninit::uninit(),
        registration: None,
    };
    let future = &mut tracked.future;
    if let Err(panic) = catch_unwind(AssertUnwindSafe(move || {
        future.write(make());
    })) {
        tracked.registration = UNBUILT;
        *panicked = Some(panic);
    }
    tracked
}

/// Spawns a task on the current core. The future need not be `Send`: it never
/// leaves this core.
///
/// The task starts running when the current task yields. Dropping the returned
/// [`JoinHandle`] detaches the task; it keeps running.
///
/// # Panics
///
/// Panics when called outside a `runtime` core.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// let n = rt.block_on(async {
///     let shared = Rc::new(20); // `!Send` is fine
///     let task = runtime::spawn(async move { *shared + 1 });
///     task.await.unwrap()
/// });
/// assert_eq!(n, 21);
/// ```
#[inline(always)]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    context::with_core(|core| spawn_local(core, future))
        .expect("`spawn` called outside of a `runtime` core")
}

#[inline(always)]
pub(crate) fn spawn_local<F>(core: &Core, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_local_with(core, move || future)
}

/// Spawns the future `make` returns, on the current core, as [`spawn`]
/// does; `make` runs at once, inside the spawn, so the future is built
/// where the task keeps it. A future moved into [`spawn`] is copied there
/// whole, state it has not reached included: for a future of kilobytes
/// (a TLS connection's, a buffer held across an `await`) those copies are
/// a cost of their own.
///
/// # Panics
///
/// Panics when called outside a `runtime` core. A panic in `make` goes on
/// in the caller, as if `make` had run before the spawn: the task it was
/// building is freed, never run.
#[doc(hidden)]
#[inline(always)]
pub fn spawn_with<M, F>(make: M) -> JoinHandle<F::Output>
where
    M: FnOnce() -> F,
    F: Future + 'static,
    F::Output: 'static,
{
    context::with_core(|core| spawn_local_with(core, make))
        .expect("`spawn` called outside of a `runtime` core")
}

#[inline(always)]
fn spawn_local_with<M, F>(core: &Core, make: M) -> JoinHandle<F::Output>
where
    M: FnOnce() -> F,
    F: Future + 'static,
    F::Output: 'static,
{
    let owner = core.shared().clone();
    let mut panicked = None;
    // SAFETY: `schedule` routes every run and drop of this runnable to the
    // owner core's thread (see the module docs); the future is 'static and the
    // schedule function is Send + Sync + 'static.
    let (runnable, task) = unsafe {
        async_task::Builder::new().spawn_unchecked(
            |()| build(make, &mut panicked),
            move |runnable| schedule(&owner, runnable),
        )
    };
    if let Some(panic) = panicked {
        // Never run: dropping the runnable frees the unbuilt task (the
        // handle is dropped first, so nothing waits for it), and the panic
        // goes on in the caller, as if `make` had run before the spawn.
        drop(task);
        drop(runnable);
        resume_unwind(panic);
    }
    core.shared().stats.add_spawned();
    core.push_local(runnable);
    JoinHandle::new(task.fallible())
}

/// Spawns a task on core `core` of the current runtime: `f` is sent there and
/// called on that core's thread, so the future it returns need not be `Send`.
///
/// # Panics
///
/// Panics when called outside a `runtime` core, or if `core` is not below the
/// runtime's number of cores. Use [`Handle::spawn_on`](crate::Handle::spawn_on)
/// from outside the runtime.
///
/// # Examples
///
/// ```
/// let rt = runtime::Runtime::builder().cores(2).build().unwrap();
/// let core = rt.block_on(async {
///     runtime::spawn_on(1, || async { runtime::current_core() })
///         .await
///         .unwrap()
/// });
/// assert_eq!(core, 1);
/// ```
pub fn spawn_on<F, Fut>(core: usize, f: F) -> JoinHandle<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let runtime = context::with_core(|c| c.runtime().clone())
        .expect("`spawn_on` called outside of a `runtime` core");
    spawn_on_shared(runtime.core(core), f)
}

pub(crate) fn spawn_on_shared<F, Fut>(owner: &Arc<CoreShared>, f: F) -> JoinHandle<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let owner = owner.clone();
    owner.stats.add_spawned();
    let future = async move { f().await };
    let schedule_owner = owner.clone();
    // SAFETY: as in `spawn_local`: every later run or drop goes through
    // `schedule` to the owner's thread. The first schedule is below.
    let (runnable, task) = unsafe {
        async_task::spawn_unchecked(tracked(future), move |runnable| {
            schedule(&schedule_owner, runnable)
        })
    };
    let handle = JoinHandle::new(task.fallible());
    // A runnable the owner refuses (it has shut down) is dropped here. Sound:
    // it was never polled, so the future holds only `f`, which is `Send`. The
    // handle then reports the task as cancelled.
    if !owner.is_closed() {
        let _ = route(&owner, runnable);
    }
    handle
}

/// An owned permission to await a task's result.
///
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] when the task panicked
/// or was cancelled (by [`abort`](Self::abort) or because its core shut
/// down). Dropping it detaches the task, which keeps running.
///
/// # Cancel safety
///
/// Awaiting is cancel safe: dropping the `.await` leaves the task running.
pub struct JoinHandle<T> {
    // A `Cell`, taken and put back, where a `RefCell` would add a word of
    // borrow flag: a server keeps one per connection
    // (`a_join_handle_is_one_word`).
    task: Cell<Option<FallibleTask<Outcome<T>>>>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: FallibleTask<Outcome<T>>) -> Self {
        JoinHandle {
            task: Cell::new(Some(task)),
        }
    }

    /// Cancels the task. Its future is dropped on its own core the next time
    /// that core runs (at once if it is not running now); awaiting this handle
    /// then gives [`JoinError::is_cancelled`], unless the task had already
    /// finished.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
    /// rt.block_on(async {
    ///     let task = runtime::spawn(std::future::pending::<()>());
    ///     task.abort();
    ///     assert!(task.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn abort(&self) {
        if let Some(task) = self.task.take() {
            if task.is_finished() {
                // Keep a finished task's output available.
                self.task.set(Some(task));
            } else {
                drop(task);
            }
        }
    }

    /// Whether the task has finished (completed, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        let task = self.task.take();
        let finished = task.as_ref().is_none_or(|task| task.is_finished());
        self.task.set(task);
        finished
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let slot = self.get_mut().task.get_mut();
        let Some(task) = slot.as_mut() else {
            return Poll::Ready(Err(JoinError::cancelled()));
        };
        let out = match Pin::new(task).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => Err(JoinError::cancelled()),
            Poll::Ready(Some(Ok(value))) => Ok(value.into_inner()),
            Poll::Ready(Some(Err(panic))) => Err(JoinError::panicked(panic)),
        };
        *slot = None;
        Poll::Ready(out)
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().take() {
            task.detach();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Why a task gave no output.
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panicked(Panic),
}

impl JoinError {
    pub(crate) fn cancelled() -> Self {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panicked(panic: Panic) -> Self {
        JoinError {
            repr: Repr::Panicked(panic),
        }
    }

    /// The task was cancelled: aborted, or dropped when its core shut down.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panicked(_))
    }

    /// The panic payload, to resume the panic with
    /// [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// Panics if the task did not panic.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("`JoinError::into_panic` on a task that did not panic")
    }

    /// The panic payload, or the error back if the task did not panic.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panicked(panic) => Ok(panic),
            Repr::Cancelled => Err(self),
        }
    }

    fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panicked(panic) => panic
                .downcast_ref::<&'static str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str)),
            Repr::Cancelled => None,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("task was cancelled"),
            (Repr::Panicked(_), Some(msg)) => write!(f, "task panicked: {msg}"),
            (Repr::Panicked(_), None) => f.write_str("task panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("JoinError::Cancelled"),
            (Repr::Panicked(_), Some(msg)) => write!(f, "JoinError::Panicked({msg:?})"),
            (Repr::Panicked(_), None) => f.write_str("JoinError::Panicked(..)"),
        }
    }
}

impl std::error::Error for JoinError {}

/// Yields to the other tasks of this core, and to its I/O: the current task
/// runs again in the core's next turn, once the reactor has been polled and
/// the tasks it woke queued ahead of it (as tokio's `yield_now`). A task that
/// yields in a loop runs once per turn, so it cannot starve sockets.
///
/// # Examples
///
/// ```
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let task = runtime::spawn(async { 7 });
///     runtime::yield_now().await; // lets `task` run
///     assert!(task.is_finished());
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        if context::with_core(|core| core.wake_after_io(cx.waker())).is_none() {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::JoinHandle;

    #[test]
    fn a_join_handle_is_one_word() {
        // A server keeps one per open connection (in a slab, to cancel them
        // at shutdown): one word makes a 16-byte slab entry, two words 24.
        assert_eq!(
            std::mem::size_of::<JoinHandle<()>>(),
            std::mem::size_of::<usize>(),
            "JoinHandle grew: 8 more bytes of memory per served connection"
        );
    }
}
