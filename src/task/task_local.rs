//! [`task_local!`](crate::task_local): values scoped to a task, as tokio's.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Declares task-local keys ([`LocalKey`]), as tokio's `task_local!` does.
///
/// A value is set for the duration of a future with
/// [`LocalKey::scope`] and read inside it with [`LocalKey::with`],
/// [`LocalKey::try_with`] or [`LocalKey::get`]. The value belongs to the
/// scoped future: tasks spawned from inside it do not see it.
///
/// # Examples
///
/// ```
/// runtime::task_local! {
///     static REQUEST_ID: u64;
/// }
///
/// async fn log_line(msg: &str) -> String {
///     format!("[{}] {msg}", REQUEST_ID.get())
/// }
///
/// #[runtime::main]
/// async fn main() {
///     let line = REQUEST_ID.scope(42, async {
///         runtime::task::yield_now().await;
///         log_line("hello").await
///     })
///     .await;
///     assert_eq!(line, "[42] hello");
///     assert!(REQUEST_ID.try_with(|_| ()).is_err()); // out of scope
/// }
/// ```
#[macro_export]
macro_rules! task_local {
    () => {};

    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty; $($rest:tt)*) => {
        $crate::__task_local_key!($(#[$attr])* $vis $name, $t);
        $crate::task_local!($($rest)*);
    };

    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty) => {
        $crate::__task_local_key!($(#[$attr])* $vis $name, $t);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __task_local_key {
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty) => {
        $(#[$attr])*
        $vis static $name: $crate::task::LocalKey<$t> = {
            ::std::thread_local! {
                static __RUNTIME_TASK_LOCAL: ::std::cell::RefCell<::std::option::Option<$t>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            $crate::task::LocalKey {
                inner: __RUNTIME_TASK_LOCAL,
            }
        };
    };
}

/// A key for task-local values, declared with
/// [`task_local!`](crate::task_local).
///
/// Tasks never move between cores, so the value lives in the core's
/// thread-local storage while the scoped future is being polled, and in the
/// future between polls.
pub struct LocalKey<T: 'static> {
    #[doc(hidden)]
    pub inner: std::thread::LocalKey<RefCell<Option<T>>>,
}

impl<T: 'static> LocalKey<T> {
    /// Runs `future` with this key set to `value`; the value is dropped
    /// with the returned future.
    ///
    /// # Examples
    ///
    /// ```
    /// runtime::task_local! { static NAME: String; }
    ///
    /// # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
    /// let len = NAME
    ///     .scope("core".to_string(), async { NAME.with(|n| n.len()) })
    ///     .await;
    /// assert_eq!(len, 4);
    /// # });
    /// ```
    pub fn scope<F: Future>(&'static self, value: T, future: F) -> TaskLocalFuture<T, F> {
        TaskLocalFuture {
            key: self,
            slot: Some(value),
            future: Some(future),
        }
    }

    /// Runs `f` with this key set to `value`, outside of any future.
    ///
    /// # Panics
    ///
    /// Panics when called inside [`with`](Self::with) of the same key.
    ///
    /// # Examples
    ///
    /// ```
    /// runtime::task_local! { static DEPTH: u32; }
    ///
    /// assert_eq!(DEPTH.sync_scope(3, || DEPTH.get() + 1), 4);
    /// ```
    pub fn sync_scope<R>(&'static self, value: T, f: impl FnOnce() -> R) -> R {
        let mut slot = Some(value);
        self.enter(&mut slot, f)
    }

    /// Swaps `slot` into the thread-local for the duration of `f`, and back
    /// afterwards, also when `f` panics.
    fn enter<R>(&'static self, slot: &mut Option<T>, f: impl FnOnce() -> R) -> R {
        struct Restore<'a, T: 'static> {
            key: &'static LocalKey<T>,
            slot: &'a mut Option<T>,
        }
        impl<T: 'static> Drop for Restore<'_, T> {
            fn drop(&mut self) {
                self.key
                    .inner
                    .with(|cell| std::mem::swap(self.slot, &mut *cell.borrow_mut()));
            }
        }

        self.inner.with(|cell| {
            let mut current = cell
                .try_borrow_mut()
                .expect("a task-local scope entered while its value is borrowed by `with`");
            std::mem::swap(slot, &mut *current);
        });
        let _restore = Restore { key: self, slot };
        f()
    }

    /// Calls `f` with a reference to the value.
    ///
    /// # Panics
    ///
    /// Panics outside a [`scope`](Self::scope) of this key.
    ///
    /// # Examples
    ///
    /// ```
    /// runtime::task_local! { static USER: &'static str; }
    ///
    /// USER.sync_scope("ana", || USER.with(|u| assert_eq!(*u, "ana")));
    /// ```
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        match self.try_with(f) {
            Ok(out) => out,
            Err(err) => panic!("{err}"),
        }
    }

    /// Calls `f` with a reference to the value, or returns [`AccessError`]
    /// outside a [`scope`](Self::scope) of this key.
    ///
    /// # Examples
    ///
    /// ```
    /// runtime::task_local! { static USER: &'static str; }
    ///
    /// assert!(USER.try_with(|u| u.len()).is_err());
    /// assert_eq!(USER.sync_scope("ana", || USER.try_with(|u| u.len())), Ok(3));
    /// ```
    pub fn try_with<R>(&'static self, f: impl FnOnce(&T) -> R) -> Result<R, AccessError> {
        let f = |cell: &RefCell<Option<T>>| {
            // A borrow fails only while a scope of this key is being entered
            // or left, which never runs user code.
            let value = cell.try_borrow().ok()?;
            value.as_ref().map(f)
        };
        match self.inner.try_with(f) {
            Ok(Some(out)) => Ok(out),
            _ => Err(AccessError { _private: () }),
        }
    }
}

impl<T: Clone + 'static> LocalKey<T> {
    /// A clone of the value.
    ///
    /// # Panics
    ///
    /// Panics outside a [`scope`](Self::scope) of this key.
    ///
    /// # Examples
    ///
    /// ```
    /// runtime::task_local! { static ID: u64; }
    ///
    /// assert_eq!(ID.sync_scope(9, || ID.get()), 9);
    /// ```
    pub fn get(&'static self) -> T {
        self.with(T::clone)
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("LocalKey { .. }")
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`LocalKey::scope`]: runs the inner future with
    /// the value set, and drops it with the value still set.
    pub struct TaskLocalFuture<T: 'static, F> {
        key: &'static LocalKey<T>,
        slot: Option<T>,
        #[pin]
        future: Option<F>,
    }

    impl<T: 'static, F> PinnedDrop for TaskLocalFuture<T, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let key = *this.key;
            let mut future = this.future;
            // Drop the inner future inside the scope, so that its destructors
            // can still read the value, as tokio's do; not while the thread
            // is being torn down.
            if future.is_some() && this.slot.is_some() && key.inner.try_with(|_| ()).is_ok() {
                key.enter(this.slot, || future.set(None));
            }
        }
    }
}

impl<T: 'static, F> TaskLocalFuture<T, F> {
    /// Takes the value out, while the inner future has not completed: the
    /// rest of the future then runs without it.
    pub fn take_value(self: Pin<&mut Self>) -> Option<T> {
        self.project().slot.take()
    }
}

impl<T: 'static, F: Future> Future for TaskLocalFuture<T, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let key = *this.key;
        let mut future = this.future;
        key.enter(this.slot, || {
            let out = future
                .as_mut()
                .as_pin_mut()
                .expect("`TaskLocalFuture` polled after completion")
                .poll(cx);
            if out.is_ready() {
                // Dropped in place, with the value still set.
                future.set(None);
            }
            out
        })
    }
}

impl<T: 'static + fmt::Debug, F> fmt::Debug for TaskLocalFuture<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskLocalFuture")
            .field("value", &self.slot)
            .finish_non_exhaustive()
    }
}

/// The error from [`LocalKey::try_with`] outside a scope of its key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AccessError {
    _private: (),
}

impl fmt::Debug for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessError")
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task-local value not set: used outside `LocalKey::scope`")
    }
}

impl std::error::Error for AccessError {}
