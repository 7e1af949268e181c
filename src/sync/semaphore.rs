//! [`Semaphore`]: `async-lock`'s, with tokio's API: `Result`s, owned
//! permits and `close`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use event_listener::Event;
use futures_lite::future;

/// A counting semaphore: at most `permits` holders at a time, across cores.
///
/// It wraps [`async_lock::Semaphore`] and adds what tokio's has:
/// [`acquire`](Self::acquire) fails once the semaphore is
/// [closed](Self::close), and [`acquire_owned`](Self::acquire_owned) gives a
/// permit that holds an `Arc` of the semaphore, to move into a task.
///
/// Differences from tokio's: no `acquire_many` (take permits one by one);
/// waiters are woken in order, but a task arriving just as a permit is
/// released may take it before a woken one (tokio's queue is strictly
/// first-in, first-out).
///
/// # Examples
///
/// At most two of five jobs at once:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use runtime::sync::Semaphore;
///
/// #[runtime::main]
/// async fn main() {
///     let limit = Arc::new(Semaphore::new(2));
///     let running = Arc::new(AtomicUsize::new(0));
///     let mut jobs = Vec::new();
///     for _ in 0..5 {
///         let permit = limit.clone().acquire_owned().await.unwrap();
///         let running = running.clone();
///         jobs.push(runtime::spawn(async move {
///             assert!(running.fetch_add(1, Ordering::SeqCst) < 2);
///             runtime::task::yield_now().await;
///             running.fetch_sub(1, Ordering::SeqCst);
///             drop(permit);
///         }));
///     }
///     for job in jobs {
///         job.await.unwrap();
///     }
/// }
/// ```
pub struct Semaphore {
    inner: Arc<async_lock::Semaphore>,
    closed: AtomicBool,
    on_close: Event,
}

impl Semaphore {
    /// The most permits a semaphore may hold, as tokio's.
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    /// A semaphore with `permits` permits.
    ///
    /// # Panics
    ///
    /// Panics if `permits` exceeds [`MAX_PERMITS`](Self::MAX_PERMITS).
    pub fn new(permits: usize) -> Self {
        assert!(
            permits <= Self::MAX_PERMITS,
            "a semaphore holds at most {} permits",
            Self::MAX_PERMITS
        );
        Semaphore {
            inner: Arc::new(async_lock::Semaphore::new(permits)),
            closed: AtomicBool::new(false),
            on_close: Event::new(),
        }
    }

    /// The number of permits free now.
    pub fn available_permits(&self) -> usize {
        self.inner.available_permits()
    }

    /// Adds `n` permits, waking as many waiters.
    pub fn add_permits(&self, n: usize) {
        self.inner.add_permits(n);
    }

    /// Closes the semaphore: waiting and later `acquire` calls fail with
    /// [`AcquireError`]. Permits already held stay valid.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::sync::{Semaphore, TryAcquireError};
    ///
    /// # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
    /// let sem = Semaphore::new(2);
    /// let held = sem.acquire().await.unwrap();
    /// sem.close();
    /// assert!(sem.acquire().await.is_err());
    /// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    /// drop(held); // still valid until dropped
    /// # });
    /// ```
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.on_close.notify(usize::MAX);
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Waits for a permit.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] once the semaphore is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a waiter that is dropped takes no permit, and hands a
    /// wakeup it received to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::sync::Semaphore;
    ///
    /// # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
    /// let sem = Semaphore::new(1);
    /// let permit = sem.acquire().await.unwrap();
    /// assert_eq!(sem.available_permits(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        let guard = self.until_closed(self.inner.acquire()).await?;
        Ok(SemaphorePermit { guard })
    }

    /// Waits for a permit that owns an `Arc` of the semaphore, so it can move
    /// into a spawned task (tokio's `acquire_owned`).
    ///
    /// # Errors
    ///
    /// [`AcquireError`] once the semaphore is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`acquire`](Self::acquire).
    pub async fn acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        let guard = self.until_closed(self.inner.acquire_arc()).await?;
        Ok(OwnedSemaphorePermit {
            _semaphore: self,
            guard,
        })
    }

    /// A permit if one is free now.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::Closed`] once closed, [`TryAcquireError::NoPermits`]
    /// when none is free.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::sync::{Semaphore, TryAcquireError};
    ///
    /// let sem = Semaphore::new(1);
    /// let _permit = sem.try_acquire().unwrap();
    /// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        if self.is_closed() {
            return Err(TryAcquireError::Closed);
        }
        let guard = self.inner.try_acquire().ok_or(TryAcquireError::NoPermits)?;
        Ok(SemaphorePermit { guard })
    }

    /// An owned permit if one is free now.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        if self.is_closed() {
            return Err(TryAcquireError::Closed);
        }
        let guard = self
            .inner
            .try_acquire_arc()
            .ok_or(TryAcquireError::NoPermits)?;
        Ok(OwnedSemaphorePermit {
            _semaphore: self,
            guard,
        })
    }

    /// Runs `acquire` until it completes or the semaphore closes.
    async fn until_closed<G>(
        &self,
        acquire: impl std::future::Future<Output = G>,
    ) -> Result<G, AcquireError> {
        if self.is_closed() {
            return Err(AcquireError(()));
        }
        let closed = self.on_close.listen();
        // Checked again after listening: a `close` in between is not missed.
        if self.is_closed() {
            return Err(AcquireError(()));
        }
        let mut closed = std::pin::pin!(closed);
        future::or(async { Ok(acquire.await) }, async {
            closed.as_mut().await;
            Err(AcquireError(()))
        })
        .await
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A permit of a [`Semaphore`]; dropping it gives the permit back.
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    guard: async_lock::SemaphoreGuard<'a>,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for good: the semaphore has one fewer.
    pub fn forget(self) {
        self.guard.forget();
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("SemaphorePermit")
    }
}

/// A permit that owns an `Arc` of its [`Semaphore`]; dropping it gives the
/// permit back.
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct OwnedSemaphorePermit {
    // Keeps the semaphore (and so the guard's inner semaphore) alive.
    _semaphore: Arc<Semaphore>,
    guard: async_lock::SemaphoreGuardArc,
}

impl OwnedSemaphorePermit {
    /// Keeps the permit taken for good: the semaphore has one fewer.
    pub fn forget(self) {
        self.guard.forget();
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("OwnedSemaphorePermit")
    }
}

/// The error from [`Semaphore::acquire`]: the semaphore is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

/// The error from [`Semaphore::try_acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore is closed.
    Closed,
    /// No permit is free now.
    NoPermits,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
        }
    }
}

impl std::error::Error for TryAcquireError {}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use futures_lite::future::{block_on, poll_once};

    use super::*;

    #[test]
    fn permits_are_counted_and_given_back() {
        let sem = Semaphore::new(2);
        let a = sem.try_acquire().unwrap();
        let _b = sem.try_acquire().unwrap();
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
        drop(a);
        assert_eq!(sem.available_permits(), 1);
        sem.try_acquire().unwrap().forget();
        assert_eq!(sem.available_permits(), 0);
        sem.add_permits(1);
        assert!(sem.try_acquire().is_ok());
    }

    #[test]
    fn close_fails_waiters_and_later_acquires_but_keeps_held_permits() {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire().unwrap();
        let mut waiter = pin!(sem.acquire());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(waiter.as_mut().poll(&mut cx).is_pending());
        sem.close();
        assert!(matches!(waiter.as_mut().poll(&mut cx), Poll::Ready(Err(_))));
        assert!(block_on(sem.clone().acquire_owned()).is_err());
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
        drop(held);
        assert_eq!(sem.available_permits(), 1);
    }

    #[test]
    fn a_cancelled_waiter_passes_its_wakeup_on() {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let mut first = Box::pin(sem.acquire());
        let mut second = Box::pin(sem.acquire());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        drop(held); // wakes `first`...
        drop(first); // ...which is cancelled: `second` must get the permit
        let permit = block_on(poll_once(second.as_mut()));
        assert!(matches!(permit, Some(Ok(_))));
    }

    #[test]
    fn owned_permits_outlive_the_callers_arc() {
        let sem = Arc::new(Semaphore::new(1));
        let permit = sem.clone().try_acquire_owned().unwrap();
        let weak = Arc::downgrade(&sem);
        drop(sem);
        assert!(weak.upgrade().is_some());
        drop(permit);
        assert!(weak.upgrade().is_none());
    }
}
