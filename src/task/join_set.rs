//! [`JoinSet`]: many tasks, awaited in the order they finish.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_lite::Stream;
use futures_util::stream::FuturesUnordered;
use runtime_executor::{AbortHandle, JoinError, JoinHandle};

/// A set of tasks, awaited in the order they finish.
///
/// Tasks spawned through the set run like any other; the set keeps their
/// [`JoinHandle`]s. [`join_next`](Self::join_next) waits for the next one to
/// finish. **Dropping the set aborts every task still in it**, as tokio's
/// does; [`detach_all`](Self::detach_all) lets them run on instead.
///
/// Waiting costs no scan of the set: only tasks that woke are looked at
/// (the set is a [`FuturesUnordered`] of handles).
///
/// # Examples
///
/// Fan out, take the first answer, abort the rest:
///
/// ```
/// use std::time::Duration;
/// use runtime::task::JoinSet;
///
/// #[runtime::main]
/// async fn main() {
///     let mut set = JoinSet::new();
///     for ms in [50u64, 1, 30] {
///         set.spawn(async move {
///             runtime::time::sleep(Duration::from_millis(ms)).await;
///             ms
///         });
///     }
///     let first = set.join_next().await.unwrap().unwrap();
///     assert_eq!(first, 1);
///     set.abort_all();
///     while let Some(res) = set.join_next().await {
///         assert!(res.unwrap_err().is_cancelled());
///     }
/// }
/// ```
pub struct JoinSet<T> {
    tasks: FuturesUnordered<JoinHandle<T>>,
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        JoinSet {
            tasks: FuturesUnordered::new(),
        }
    }

    /// The number of tasks in the set: running, or finished and not yet
    /// joined.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Adds a handle the caller spawned in some other way (for example with
    /// [`runtime::spawn_on`](crate::spawn_on)) to the set.
    pub fn push(&mut self, handle: JoinHandle<T>) {
        self.tasks.push(handle);
    }

    /// Waits for the next task to finish and returns its output, or `None`
    /// when the set is empty.
    ///
    /// A task that panicked or was aborted gives a [`JoinError`]; the set
    /// goes on with the others.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: when the future is dropped before it completes, no task
    /// output is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::task::JoinSet;
    ///
    /// # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
    /// let mut set = JoinSet::new();
    /// set.spawn(async { 1 });
    /// set.spawn(async { panic!("oops") });
    /// let (mut ok, mut failed) = (0, 0);
    /// while let Some(res) = set.join_next().await {
    ///     match res {
    ///         Ok(v) => ok += v,
    ///         Err(e) => failed += e.is_panic() as u32,
    ///     }
    /// }
    /// assert_eq!((ok, failed), (1, 1));
    /// # });
    /// ```
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        std::future::poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// The output of a task that has already finished, if any: `None` when
    /// no task has finished yet (or the set is empty). Never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::task::JoinSet;
    ///
    /// # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
    /// let mut set = JoinSet::new();
    /// set.spawn(async { 5 });
    /// assert!(set.try_join_next().is_none()); // not run yet
    /// runtime::task::yield_now().await;
    /// assert_eq!(set.try_join_next().unwrap().unwrap(), 5);
    /// # });
    /// ```
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_join_next(&mut cx) {
            Poll::Ready(out) => out,
            Poll::Pending => None,
        }
    }

    /// The polling form of [`join_next`](Self::join_next), for hand-written
    /// futures.
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        Pin::new(&mut self.tasks).poll_next(cx)
    }

    /// Waits for every task and returns their outputs in the order they
    /// finished.
    ///
    /// # Panics
    ///
    /// Resumes the panic of a task that panicked, and panics if a task was
    /// aborted, as tokio's does. Use [`join_next`](Self::join_next) to handle
    /// those.
    pub async fn join_all(mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len());
        while let Some(res) = self.join_next().await {
            match res {
                Ok(value) => out.push(value),
                Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                Err(err) => panic!("{err}"),
            }
        }
        out
    }

    /// Aborts every task in the set. They stay in the set: joining them gives
    /// [`JoinError::is_cancelled`] (or their output, for tasks that had
    /// already finished).
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::task::JoinSet;
    ///
    /// # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
    /// let mut set = JoinSet::new();
    /// set.spawn(std::future::pending::<()>());
    /// set.abort_all();
    /// assert!(set.join_next().await.unwrap().unwrap_err().is_cancelled());
    /// # });
    /// ```
    pub fn abort_all(&mut self) {
        for task in self.tasks.iter() {
            task.abort();
        }
    }

    /// Aborts every task and waits until the set is empty.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Removes every task from the set without aborting it: they run on,
    /// detached.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime::task::JoinSet;
    ///
    /// # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
    /// let (tx, rx) = runtime::sync::oneshot::channel();
    /// let mut set = JoinSet::new();
    /// set.spawn(async move { tx.send("ran anyway").unwrap() });
    /// set.detach_all();
    /// drop(set); // nothing left to abort
    /// assert_eq!(rx.await.unwrap(), "ran anyway");
    /// # });
    /// ```
    pub fn detach_all(&mut self) {
        self.tasks.clear();
    }
}

impl<T: 'static> JoinSet<T> {
    /// Spawns a task on the current core (its future need not be `Send`)
    /// and adds it to the set.
    ///
    /// The returned [`AbortHandle`] costs the task one small extra
    /// allocation (see [`JoinHandle::abort_handle`]);
    /// [`spawn_local`](Self::spawn_local) skips it, and is the one to use
    /// when the output is `!Send`. [`abort_all`](Self::abort_all) reaches
    /// both.
    ///
    /// # Panics
    ///
    /// Panics when called outside a `runtime` core.
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
        T: Send,
    {
        let handle = runtime_executor::spawn(future);
        let abort = handle.abort_handle();
        self.tasks.push(handle);
        abort
    }

    /// Spawns a task on the current core and adds it to the set; its output
    /// may be `!Send`, so no [`AbortHandle`] is returned
    /// ([`abort_all`](Self::abort_all) still reaches it).
    ///
    /// # Panics
    ///
    /// Panics when called outside a `runtime` core.
    pub fn spawn_local<F>(&mut self, future: F)
    where
        F: Future<Output = T> + 'static,
    {
        self.tasks.push(runtime_executor::spawn(future));
    }

    /// Spawns a task on core `core` (see [`spawn_on`](crate::spawn_on)) and
    /// adds it to the set.
    ///
    /// # Panics
    ///
    /// Panics when called outside a `runtime` core, or if `core` is not below
    /// the runtime's number of cores.
    ///
    /// # Examples
    ///
    /// ```
    /// use runtime::task::JoinSet;
    ///
    /// let rt = runtime::Runtime::builder().cores(2).build().unwrap();
    /// rt.block_on(async {
    ///     let mut set = JoinSet::new();
    ///     for core in 0..2 {
    ///         set.spawn_on(core, || async { runtime::current_core() });
    ///     }
    ///     let mut cores = set.join_all().await;
    ///     cores.sort();
    ///     assert_eq!(cores, [0, 1]);
    /// });
    /// ```
    pub fn spawn_on<F, Fut>(&mut self, core: usize, f: F) -> AbortHandle
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send,
    {
        let handle = runtime_executor::spawn_on(core, f);
        let abort = handle.abort_handle();
        self.tasks.push(handle);
        abort
    }

    /// Runs `f` on the blocking pool (see
    /// [`spawn_blocking`](crate::spawn_blocking)) and adds it to the set.
    /// Aborting only keeps it from starting.
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send,
    {
        let handle = runtime_executor::spawn_blocking(f);
        let abort = handle.abort_handle();
        self.tasks.push(handle);
        abort
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len()).finish()
    }
}

impl<T: 'static> Extend<JoinHandle<T>> for JoinSet<T> {
    fn extend<I: IntoIterator<Item = JoinHandle<T>>>(&mut self, iter: I) {
        for handle in iter {
            self.push(handle);
        }
    }
}
