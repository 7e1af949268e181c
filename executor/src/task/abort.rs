//! [`AbortHandle`]: cancel a task from anywhere without holding its
//! [`JoinHandle`].
//!
//! A plain `JoinHandle` owns the task's [`FallibleTask`] and cancels by
//! dropping it, so it costs nothing extra. Only when an `AbortHandle` is asked
//! for does the task's `FallibleTask` move into a shared slot, and the
//! `JoinHandle` then awaits a small forwarding task that reads the output from
//! that slot. Tasks that never hand out an abort handle pay nothing for the
//! feature.
//!
//! The forwarder is a `Send` future driven by its own wakes: its schedule
//! function runs it on the thread that woke it (usually the core where the
//! real task just finished, for one poll), or drops it once the slot is
//! aborted, which cancels it and so reports cancellation to the `JoinHandle`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use async_task::{FallibleTask, Runnable};

use super::{JoinHandle, Outcome};

/// The real task, shared by the forwarder and every [`AbortHandle`].
struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

struct SlotState<T> {
    /// `None` while the forwarder polls it, and after it finished or was
    /// aborted.
    task: Option<FallibleTask<Outcome<T>>>,
    aborted: bool,
    /// The forwarder took the output.
    finished: bool,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        // Nothing panics while holding the lock: a poisoned lock is still sound.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What an [`AbortHandle`] can do without knowing the task's output type.
trait Abort: Send + Sync {
    fn abort(&self);
    fn is_finished(&self) -> bool;
}

impl<T: Send> Abort for Slot<T> {
    fn abort(&self) {
        let task = {
            let mut state = self.lock();
            if state.aborted
                || state.finished
                || state.task.as_ref().is_some_and(|t| t.is_finished())
            {
                // Already aborted, or finished: the output stays for the
                // `JoinHandle`, as with `JoinHandle::abort`.
                return;
            }
            state.aborted = true;
            state.task.take()
        };
        // Dropped outside the lock: cancelling wakes the forwarder, which
        // takes the lock. `None` means the forwarder is polling the task
        // right now; it sees `aborted` and drops it itself.
        drop(task);
    }

    fn is_finished(&self) -> bool {
        let state = self.lock();
        state.aborted || state.finished || state.task.as_ref().is_some_and(|t| t.is_finished())
    }
}

/// Polls the real task out of the slot, never holding the lock across the
/// poll (a poll may wake the forwarder on this very thread).
struct Forward<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Future for Forward<T> {
    type Output = Outcome<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(mut task) = self.slot.lock().task.take() else {
            // Aborted: the schedule function drops this task on its next
            // wake, which the cancellation of the real task brings.
            return Poll::Pending;
        };
        match Pin::new(&mut task).poll(cx) {
            Poll::Ready(Some(out)) => {
                self.slot.lock().finished = true;
                Poll::Ready(out)
            }
            Poll::Ready(None) => {
                // Cancelled by its core's shutdown: report it as cancelled.
                self.slot.lock().aborted = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Pending => {
                let mut state = self.slot.lock();
                if state.aborted {
                    drop(state);
                    drop(task);
                } else {
                    state.task = Some(task);
                }
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Forward<T> {
    fn drop(&mut self) {
        // Cancelled through `JoinHandle::abort`: cancel the real task too.
        // After the output was taken, or an abort, this does nothing.
        if self.slot.lock().finished {
            return;
        }
        let task = {
            let mut state = self.slot.lock();
            state.aborted = true;
            state.task.take()
        };
        drop(task);
    }
}

/// An owned permission to cancel a task, without the right to await it.
///
/// Made by [`JoinHandle::abort_handle`]. It is `Send + Sync` and `Clone`,
/// so any task or thread can cancel the task through it. Dropping it does
/// not cancel the task.
///
/// # Examples
///
/// ```
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let task = runtime::spawn(std::future::pending::<()>());
///     let abort = task.abort_handle();
///     std::thread::spawn(move || abort.abort()).join().unwrap();
///     assert!(task.await.unwrap_err().is_cancelled());
/// });
/// ```
#[derive(Clone)]
pub struct AbortHandle {
    slot: Option<Arc<dyn Abort>>,
}

impl AbortHandle {
    /// Cancels the task, as [`JoinHandle::abort`] does: its future is
    /// dropped on its own core, and awaiting its `JoinHandle` gives
    /// [`JoinError::is_cancelled`](crate::JoinError::is_cancelled), unless
    /// the task had already finished. Aborting twice, or after the task
    /// finished, does nothing.
    pub fn abort(&self) {
        if let Some(slot) = &self.slot {
            slot.abort();
        }
    }

    /// Whether the task has finished (completed, panicked or been aborted).
    pub fn is_finished(&self) -> bool {
        self.slot.as_ref().is_none_or(|slot| slot.is_finished())
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T: Send + 'static> JoinHandle<T> {
    /// A handle that cancels this task from any thread, without awaiting it.
    ///
    /// Unlike tokio's, it needs a `Send` output: a `!Send` output never
    /// leaves its core, and the handle may be used on any thread. Use
    /// [`abort`](Self::abort) for those tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
    /// rt.block_on(async {
    ///     let task = runtime::spawn(async { 7 });
    ///     let abort = task.abort_handle();
    ///     assert_eq!(task.await.unwrap(), 7);
    ///     abort.abort(); // too late: does nothing
    ///     assert!(abort.is_finished());
    /// });
    /// ```
    pub fn abort_handle(&self) -> AbortHandle {
        let Some(task) = self.task.take() else {
            return AbortHandle { slot: None };
        };
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState {
                task: Some(task),
                aborted: false,
                finished: false,
            }),
        });
        let schedule_slot = slot.clone();
        let schedule = move |runnable: Runnable| {
            if schedule_slot.lock().aborted {
                drop(runnable); // cancels the forwarder
            } else {
                runnable.run();
            }
        };
        let (runnable, forwarder) = async_task::spawn(Forward { slot: slot.clone() }, schedule);
        self.task.set(Some(forwarder.fallible()));
        // The first poll registers the forwarder with the real task.
        runnable.schedule();
        AbortHandle { slot: Some(slot) }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use crate::Runtime;

    #[test]
    fn abort_from_another_core_cancels_and_drops_the_future() {
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }

        let rt = Runtime::builder().cores(2).build().unwrap();
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = dropped.clone();
        let cancelled = rt.block_on(async move {
            let guard = SetOnDrop(flag);
            let task = crate::spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await
            });
            let abort = task.abort_handle();
            assert!(!abort.is_finished());
            crate::spawn_on(1, move || async move { abort.abort() })
                .await
                .unwrap();
            task.await.unwrap_err().is_cancelled()
        });
        assert!(cancelled);
        // The future is dropped on its core by the time the core stops.
        drop(rt);
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[test]
    fn the_output_still_arrives_through_the_forwarder() {
        let rt = Runtime::builder().cores(2).build().unwrap();
        let out = rt.block_on(async {
            let task = crate::spawn_on(1, || async {
                crate::yield_now().await;
                String::from("done")
            });
            let abort = task.abort_handle();
            let out = task.await.unwrap();
            abort.abort();
            out
        });
        assert_eq!(out, "done");
    }

    #[test]
    fn a_panic_is_still_reported_as_a_panic() {
        let rt = Runtime::builder().cores(1).build().unwrap();
        let panicked = rt.block_on(async {
            let task = crate::spawn(async { panic!("boom") });
            let abort = task.abort_handle();
            let err: crate::JoinError = task.await.unwrap_err();
            err.is_panic() && abort.is_finished()
        });
        assert!(panicked);
    }

    #[test]
    fn join_handle_abort_still_cancels_the_task() {
        let rt = Runtime::builder().cores(1).build().unwrap();
        let cancelled = rt.block_on(async {
            let task = crate::spawn(std::future::pending::<()>());
            let abort = task.abort_handle();
            task.abort();
            crate::yield_now().await;
            abort.is_finished() && task.await.unwrap_err().is_cancelled()
        });
        assert!(cancelled);
    }

    #[test]
    fn dropping_the_abort_handle_does_not_cancel() {
        let rt = Runtime::builder().cores(1).build().unwrap();
        let out = rt.block_on(async {
            let task = crate::spawn(async {
                crate::yield_now().await;
                5
            });
            drop(task.abort_handle());
            task.await.unwrap()
        });
        assert_eq!(out, 5);
    }

    #[test]
    fn abort_after_the_join_handle_is_dropped_still_cancels() {
        let rt = Runtime::builder().cores(1).build().unwrap();
        let finished = rt.block_on(async {
            let task = crate::spawn(std::future::pending::<()>());
            let abort = task.abort_handle();
            drop(task);
            abort.abort();
            crate::yield_now().await;
            abort.is_finished()
        });
        assert!(finished);
    }
}
