//! The runtime: its builder, its cores' threads, and the handle to stop them.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::panic::{resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use futures_lite::FutureExt;

use crate::context;
use crate::core::{Core, CoreShared};
use crate::stats::CoreStats;
use crate::sys;
use crate::task::{spawn_on_shared, JoinError, JoinHandle, Panic};

const DEFAULT_SPIN_BEFORE_PARK: Duration = Duration::from_micros(50);

/// Configures and builds a [`Runtime`].
///
/// # Examples
///
/// ```
/// let rt = runtime::Runtime::builder()
///     .cores(2)
///     .pin_cores(false)
///     .thread_name("my-server")
///     .build()
///     .unwrap();
/// assert_eq!(rt.cores(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    cores: Option<usize>,
    pin_cores: bool,
    thread_name: String,
    spin_before_park: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            cores: None,
            pin_cores: false,
            thread_name: "runtime-core".to_owned(),
            spin_before_park: DEFAULT_SPIN_BEFORE_PARK,
        }
    }
}

impl Builder {
    /// A builder with the defaults: one core per available CPU, no pinning.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of cores, each an OS thread (core 0 is the thread that
    /// calls [`Runtime::block_on`]). Defaults to the available parallelism.
    pub fn cores(mut self, cores: usize) -> Self {
        self.cores = Some(cores);
        self
    }

    /// Pins core `i` to the `i`-th CPU this process may run on (modulo their
    /// number), so its caches stay warm. Off by default. Linux only.
    pub fn pin_cores(mut self, pin: bool) -> Self {
        self.pin_cores = pin;
        self
    }

    /// The prefix of the core threads' names; core `i` is named
    /// `"{prefix}-{i}"`. Defaults to `runtime-core`.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name = prefix.into();
        self
    }

    /// How long an idle core watches its remote queue before it blocks in
    /// the reactor (default 50 µs). Waking a blocked thread costs tens of
    /// microseconds on a VM, so a short spin makes cross-core round trips
    /// several times faster, at the price of that much CPU each time a core
    /// runs out of work. `Duration::ZERO` turns it off. (glommio's
    /// `spin_before_park`; tokio's workers also search before they sleep.)
    ///
    /// Only a core with no I/O source registered spins: the spin watches
    /// the remote queue, not the sockets, so on a core with sockets it would
    /// delay every I/O event by up to its length, and it burns CPU a server
    /// needs for the load generator or its peers.
    pub fn spin_before_park(mut self, spin: Duration) -> Self {
        self.spin_before_park = spin;
        self
    }

    /// Starts the cores' threads (all but core 0, which runs on the thread
    /// that calls `block_on`).
    ///
    /// # Errors
    ///
    /// Fails if `cores` is 0, if a poller cannot be created, if pinning is
    /// asked for and not possible, or if a thread cannot be spawned.
    pub fn build(self) -> io::Result<Runtime> {
        let cores = match self.cores {
            Some(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a runtime needs at least one core",
                ))
            }
            Some(n) => n,
            None => thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let cpus = if self.pin_cores {
            let allowed = sys::allowed_cpus()?;
            if cfg!(not(target_os = "linux")) || allowed.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "pinning cores is not supported here",
                ));
            }
            Some(allowed)
        } else {
            None
        };
        let shared_cores = (0..cores)
            .map(|i| CoreShared::new(i).map(Arc::new))
            .collect::<io::Result<Vec<_>>>()?;
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let shared = Arc::new(RuntimeShared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            cores: shared_cores.into_boxed_slice(),
            stopping: AtomicBool::new(false),
            core_panics: Mutex::new(Vec::new()),
            spin_before_park: self.spin_before_park,
        });
        let core0 = Core::new(shared.cores[0].clone(), shared.clone());
        let mut runtime = Runtime {
            shared: shared.clone(),
            core0,
            workers: Vec::with_capacity(cores - 1),
            cpus: cpus.clone(),
        };
        for index in 1..cores {
            let core_shared = shared.cores[index].clone();
            let runtime_shared = shared.clone();
            let cpu = cpus.as_ref().map(|cpus| cpus[index % cpus.len()]);
            let worker = thread::Builder::new()
                .name(format!("{}-{index}", self.thread_name))
                .spawn(move || run_worker(core_shared, runtime_shared, cpu))?;
            // On error, dropping `runtime` stops and joins the workers so far.
            runtime.workers.push(worker);
        }
        Ok(runtime)
    }
}

fn run_worker(core_shared: Arc<CoreShared>, runtime: Arc<RuntimeShared>, cpu: Option<usize>) {
    let index = core_shared.index();
    if let Some(cpu) = cpu {
        if let Err(err) = sys::pin_current_thread(cpu) {
            log::warn!("could not pin core {index} to CPU {cpu}: {err}");
        }
    }
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let core = Core::new(core_shared, runtime.clone());
        core.block_on(std::future::pending::<()>());
        // `core` drops here, running its tasks' destructors on this thread.
    }));
    if let Err(panic) = result {
        runtime
            .core_panics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((index, panic));
        runtime.stop();
    }
}

/// What every core and every [`Handle`] share.
pub(crate) struct RuntimeShared {
    /// Process-unique, never 0.
    id: u64,
    cores: Box<[Arc<CoreShared>]>,
    stopping: AtomicBool,
    /// Panics that escaped a core's event loop (not a task's: those are
    /// contained in their `JoinHandle`).
    core_panics: Mutex<Vec<(usize, Panic)>>,
    spin_before_park: Duration,
}

impl RuntimeShared {
    pub(crate) fn spin_before_park(&self) -> Duration {
        self.spin_before_park
    }

    pub(crate) fn core(&self, index: usize) -> &Arc<CoreShared> {
        let count = self.cores.len();
        self.cores
            .get(index)
            .unwrap_or_else(|| panic!("core {index} does not exist: the runtime has {count}"))
    }

    #[inline]
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for core in self.cores.iter() {
            core.notify();
        }
    }

    fn take_core_panic(&self) -> Option<(usize, Panic)> {
        self.core_panics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }
}

/// A thread-per-core runtime.
///
/// Core 0 runs on the thread that calls [`block_on`](Self::block_on) or
/// [`run_on_all_cores`](Self::run_on_all_cores); the other cores run on
/// threads of their own, started by [`Builder::build`]. A `Runtime` stays on
/// the thread that built it (it is `!Send`); use a [`Handle`] elsewhere.
///
/// Dropping the runtime stops every core: pending tasks are dropped (their
/// destructors run on their own core) and I/O objects fail from then on:
/// every read, write, flush, accept or readiness wait on a socket of this
/// runtime returns an error of kind `Other` saying "the runtime core owning
/// this I/O object has shut down" (see [`AsyncFd::check_core`]), also when
/// data waits in the kernel. (A `runtime::net` stream still hands out bytes
/// it had already read into its own buffer.)
///
/// A panic that escaped a core's event loop and that no call has reported
/// yet is resumed by the drop; [`shutdown`](Runtime::shutdown) returns it
/// instead.
///
/// [`AsyncFd::check_core`]: crate::AsyncFd::check_core
///
/// # Examples
///
/// ```
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// let answer = rt.block_on(async { 42 });
/// assert_eq!(answer, 42);
/// ```
pub struct Runtime {
    shared: Arc<RuntimeShared>,
    core0: Core,
    workers: Vec<thread::JoinHandle<()>>,
    cpus: Option<Vec<usize>>,
}

impl Runtime {
    /// A [`Builder`] with the defaults.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The number of cores.
    pub fn cores(&self) -> usize {
        self.shared.cores.len()
    }

    /// A handle to this runtime, usable from any thread.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// Runs `future` to completion on the current thread as core 0, driving
    /// core 0's other tasks, timers and I/O meanwhile.
    ///
    /// The future may borrow from the caller: it is polled in place, not
    /// spawned.
    ///
    /// # Panics
    ///
    /// Resumes the panic if `future` panics, or if a core's event loop
    /// panicked. Panics if the runtime is stopped (by [`Handle::stop`])
    /// before `future` completes, or if called from within a `runtime` core.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.enter_check();
        let _pinned = self.pin_core0();
        match self.core0.block_on(future) {
            Some(out) => {
                // A core that panicked while `future` ran is not hidden by
                // its success.
                if let Some((_, panic)) = self.shared.take_core_panic() {
                    resume_unwind(panic);
                }
                out
            }
            None => {
                self.core0.shutdown();
                if let Some((_, panic)) = self.shared.take_core_panic() {
                    resume_unwind(panic);
                }
                panic!("the runtime was stopped before the future passed to `block_on` completed");
            }
        }
    }

    /// Runs the future made by `entry` on every core (core 0 on this thread)
    /// and returns each core's output, in core order.
    ///
    /// # Panics
    ///
    /// If a core's entry panics, the runtime is stopped (so no core waits
    /// forever) and that panic is resumed here. Also panics if the runtime is
    /// stopped before every entry completes; see
    /// [`try_run_on_all_cores`](Self::try_run_on_all_cores) for a version that
    /// reports instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = runtime::Runtime::builder().cores(2).build().unwrap();
    /// let cores = rt.run_on_all_cores(|| async { runtime::current_core() });
    /// assert_eq!(cores, vec![0, 1]);
    /// ```
    pub fn run_on_all_cores<F, Fut>(&self, entry: F) -> Vec<Fut::Output>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let results = self.try_run_on_all_cores(entry);
        let mut outputs = Vec::with_capacity(results.len());
        for (core, result) in results.into_iter().enumerate() {
            match result {
                Ok(out) => outputs.push(out),
                Err(err) => match err.try_into_panic() {
                    Ok(panic) => resume_unwind(panic),
                    Err(_) => panic!(
                        "the runtime was stopped before the entry future of core {core} completed"
                    ),
                },
            }
        }
        outputs
    }

    /// Like [`run_on_all_cores`](Self::run_on_all_cores), but reports each
    /// core's outcome: `Err` with [`JoinError::is_panic`] for a core whose
    /// entry (or event loop) panicked, [`JoinError::is_cancelled`] for one
    /// cut short because the runtime stopped.
    ///
    /// # Panics
    ///
    /// Panics if called from within a `runtime` core.
    pub fn try_run_on_all_cores<F, Fut>(&self, entry: F) -> Vec<Result<Fut::Output, JoinError>>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        self.enter_check();
        let _pinned = self.pin_core0();
        let n = self.cores();
        let entry = Arc::new(entry);
        let gather = Arc::new(Gather::new(n));
        for index in 1..n {
            let entry = entry.clone();
            let gather = gather.clone();
            let shared = self.shared.clone();
            drop(spawn_on_shared(
                self.shared.core(index),
                move || async move {
                    let out = AssertUnwindSafe(entry()).catch_unwind().await;
                    gather.complete(index, out, &shared);
                },
            ));
        }
        let shared = self.shared.clone();
        let local_gather = gather.clone();
        let finished = self.core0.block_on(async move {
            let out = AssertUnwindSafe(entry()).catch_unwind().await;
            local_gather.complete(0, out, &shared);
            poll_fn(|cx| local_gather.poll_done(cx.waker())).await;
        });
        if finished.is_none() {
            self.core0.shutdown();
        }
        let mut slots = gather.take();
        while let Some((core, panic)) = self.shared.take_core_panic() {
            slots[core] = Some(Err(JoinError::panicked(panic)));
        }
        slots
            .into_iter()
            .map(|slot| slot.unwrap_or_else(|| Err(JoinError::cancelled())))
            .collect()
    }

    fn enter_check(&self) {
        assert!(
            context::try_current_core().is_none(),
            "cannot start a runtime from within a `runtime` core (nested `block_on`)"
        );
    }

    fn pin_core0(&self) -> Option<RestoreAffinity> {
        let cpus = self.cpus.as_ref()?;
        let before = sys::allowed_cpus().ok()?;
        match sys::pin_current_thread(cpus[0]) {
            Ok(()) => Some(RestoreAffinity(before)),
            Err(err) => {
                log::warn!("could not pin core 0 to CPU {}: {err}", cpus[0]);
                None
            }
        }
    }
}

impl Runtime {
    /// Stops every core, drops their tasks, waits for their threads, and
    /// reports a panic that escaped a core's event loop (not a task's: those
    /// go to its [`JoinHandle`]) and was not yet resumed by
    /// [`block_on`](Self::block_on) or
    /// [`run_on_all_cores`](Self::run_on_all_cores). Dropping the runtime
    /// does the same, and resumes such a panic.
    ///
    /// # Errors
    ///
    /// The panic payload of a core whose event loop panicked.
    pub fn shutdown(mut self) -> std::thread::Result<()> {
        self.stop_and_join();
        match self.shared.take_core_panic() {
            Some((_, panic)) => Err(panic),
            None => Ok(()),
        }
    }

    fn stop_and_join(&mut self) {
        self.shared.stop();
        for worker in self.workers.drain(..) {
            // Worker panics were caught and recorded in `run_worker`.
            let _ = worker.join();
        }
        self.core0.shutdown();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_and_join();
        // A core's panic no caller has seen yet: reported here, unless this
        // thread is already unwinding (a second panic would abort).
        if let Some((core, panic)) = self.shared.take_core_panic() {
            if std::thread::panicking() {
                log::error!("core {core} panicked while the runtime was dropped in a panic");
            } else {
                resume_unwind(panic);
            }
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("cores", &self.cores())
            .field("pinned", &self.cpus.is_some())
            .finish_non_exhaustive()
    }
}

/// Gives the caller's thread its CPUs back after `block_on` pinned it.
struct RestoreAffinity(Vec<usize>);

impl Drop for RestoreAffinity {
    fn drop(&mut self) {
        let _ = sys::set_current_thread_cpus(&self.0);
    }
}

/// Collects each core's entry result for `try_run_on_all_cores`.
struct Gather<T> {
    slots: Mutex<Vec<Option<Result<T, JoinError>>>>,
    remaining: AtomicUsize,
    waker: Mutex<Option<Waker>>,
}

impl<T> Gather<T> {
    fn new(n: usize) -> Self {
        Gather {
            slots: Mutex::new((0..n).map(|_| None).collect()),
            remaining: AtomicUsize::new(n),
            waker: Mutex::new(None),
        }
    }

    fn complete(&self, core: usize, out: Result<T, Panic>, runtime: &RuntimeShared) {
        let panicked = out.is_err();
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)[core] =
            Some(out.map_err(JoinError::panicked));
        if panicked {
            // No core may wait forever on an entry that will never finish.
            runtime.stop();
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let waker = self
                .waker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    fn poll_done(&self, waker: &Waker) -> Poll<()> {
        if self.remaining.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        *self.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(waker.clone());
        if self.remaining.load(Ordering::Acquire) == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn take(&self) -> Vec<Option<Result<T, JoinError>>> {
        std::mem::take(&mut *self.slots.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A handle to a [`Runtime`], usable from any thread: spawn on a core, read
/// a core's counters, stop every core.
///
/// # Examples
///
/// ```
/// let rt = runtime::Runtime::builder().cores(2).build().unwrap();
/// let handle = rt.handle();
/// let on_core_1 = handle.spawn_on(1, || async { runtime::current_core() });
/// assert_eq!(rt.block_on(on_core_1).unwrap(), 1);
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: Arc<RuntimeShared>,
}

impl Handle {
    /// The handle of the runtime running the current task.
    ///
    /// # Panics
    ///
    /// Panics outside a `runtime` core; see [`try_current`](Self::try_current).
    pub fn current() -> Handle {
        Self::try_current().expect("`Handle::current` called outside of a `runtime` core")
    }

    /// The handle of the runtime running the current task, if any.
    pub fn try_current() -> Option<Handle> {
        context::with_core(|core| Handle {
            shared: core.runtime().clone(),
        })
    }

    /// The number of cores.
    pub fn cores(&self) -> usize {
        self.shared.cores.len()
    }

    /// A process-unique id of this runtime (never 0), the same for every
    /// handle to it: per-runtime state, such as the per-core listeners of
    /// one bind, is keyed by it.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Spawns a task on core `core`; see [`spawn_on`](crate::spawn_on).
    ///
    /// If the runtime has stopped, the task never runs and its handle reports
    /// it as cancelled.
    ///
    /// # Panics
    ///
    /// Panics if `core` is not below [`cores`](Self::cores).
    pub fn spawn_on<F, Fut>(&self, core: usize, f: F) -> JoinHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        spawn_on_shared(self.shared.core(core), f)
    }

    /// The counters of core `core`.
    ///
    /// # Panics
    ///
    /// Panics if `core` is not below [`cores`](Self::cores).
    pub fn stats(&self, core: usize) -> CoreStats {
        self.shared.core(core).stats.snapshot(core)
    }

    /// Stops every core: each finishes the task it is polling, then drops all
    /// of its tasks. Permanent: a stopped runtime runs nothing more.
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// Whether [`stop`](Self::stop) was called (or a core's entry panicked).
    pub fn is_stopped(&self) -> bool {
        self.shared.is_stopping()
    }

    /// Whether core `core` has shut down its tasks.
    ///
    /// # Panics
    ///
    /// Panics if `core` is not below [`cores`](Self::cores).
    pub fn is_core_closed(&self, core: usize) -> bool {
        self.shared.core(core).is_closed()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("cores", &self.cores())
            .field("stopped", &self.is_stopped())
            .finish()
    }
}
