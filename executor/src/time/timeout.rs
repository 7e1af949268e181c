//! [`Timeout`]: a future with a deadline.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{sleep_until, Sleep};

/// Runs `future` for at most `duration`.
///
/// Resolves to `Ok` with the future's output if it completes first, or to
/// `Err(Elapsed)` once `duration` has elapsed, dropping nothing: the future is
/// dropped with the `Timeout`. The future is polled before the deadline is
/// checked, so a future that is ready wins over an elapsed deadline, and
/// `Duration::ZERO` still gives it one poll. A duration too long to add to the
/// current instant is clamped to about 30 years.
///
/// # Panics
///
/// The returned future panics if polled, while neither the future nor the
/// deadline is ready, outside of a `runtime` core.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use runtime::time::{sleep, timeout};
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     assert_eq!(timeout(Duration::from_secs(60), async { 7 }).await, Ok(7));
///
///     let slow = sleep(Duration::from_secs(60));
///     let err = timeout(Duration::from_millis(1), slow).await.unwrap_err();
///     assert_eq!(err.to_string(), "deadline has elapsed");
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    timeout_at(super::deadline_after(super::now(), duration), future)
}

/// Runs `future` until `deadline` at the latest; see [`timeout`].
///
/// # Panics
///
/// The returned future panics if polled, while neither the future nor the
/// deadline is ready, outside of a `runtime` core.
///
/// # Examples
///
/// ```
/// use std::future;
/// use std::time::Duration;
/// use runtime::time::{timeout_at, Instant};
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(1);
///     let never = future::pending::<()>();
///     assert!(timeout_at(deadline, never).await.is_err());
///     assert!(Instant::now() >= deadline);
/// });
/// ```
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        delay: sleep_until(deadline),
    }
}

pin_project_lite::pin_project! {
    /// A future with a deadline; made by [`timeout`] and [`timeout_at`].
    ///
    /// Its output is `Ok` with the inner future's output, or `Err(Elapsed)` if
    /// the deadline passed first. It is `Send` when the inner future is, and
    /// `Sync` when the inner future is.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime::time::timeout;
    ///
    /// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
    /// let out = rt.block_on(timeout(Duration::from_secs(1), async { "done" }));
    /// assert_eq!(out, Ok("done"));
    /// ```
    #[derive(Debug)]
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        delay: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The inner future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future;
    /// use std::time::Duration;
    /// use runtime::time::timeout;
    ///
    /// let limited = timeout(Duration::from_secs(1), future::ready(5));
    /// assert!(matches!(limited.get_ref(), future::Ready { .. }));
    /// ```
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The inner future, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime::time::{sleep, timeout, Instant};
    ///
    /// let mut limited = timeout(Duration::from_secs(1), sleep(Duration::from_secs(60)));
    /// let sooner = Instant::now() + Duration::from_secs(2);
    /// std::pin::Pin::new(limited.get_mut()).reset(sooner);
    /// assert_eq!(limited.get_ref().deadline(), sooner);
    /// ```
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.future
    }

    /// Gives the inner future back, dropping the deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use runtime::time::timeout;
    ///
    /// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
    /// let limited = timeout(Duration::ZERO, async { 3 });
    /// assert_eq!(rt.block_on(limited.into_inner()), 3);
    /// ```
    pub fn into_inner(self) -> F {
        self.future
    }

    /// The instant at which this timeout elapses.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future;
    /// use std::time::Duration;
    /// use runtime::time::{timeout_at, Instant};
    ///
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(timeout_at(deadline, future::ready(())).deadline(), deadline);
    /// ```
    pub fn deadline(&self) -> Instant {
        self.delay.deadline()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(this.delay).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The error of a [`Timeout`] whose deadline passed before its future
/// completed.
///
/// It converts into an [`io::Error`] of kind [`io::ErrorKind::TimedOut`].
///
/// # Examples
///
/// ```
/// use std::{future, io};
/// use std::time::Duration;
/// use runtime::time::timeout;
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// let err = rt
///     .block_on(timeout(Duration::ZERO, future::pending::<()>()))
///     .unwrap_err();
/// assert_eq!(io::Error::from(err).kind(), io::ErrorKind::TimedOut);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(elapsed: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn timeout_is_send_sync_when_its_future_is() {
        assert_send_sync::<Timeout<future::Ready<()>>>();
        assert_send_sync::<Elapsed>();
    }

    #[test]
    fn ready_future_wins_over_elapsed_deadline() {
        let past = Instant::now();
        let out = futures_lite::future::block_on(timeout_at(past, future::ready(3)));
        assert_eq!(out, Ok(3));
    }

    #[test]
    fn elapsed_deadline_errors_without_a_core() {
        let out = futures_lite::future::block_on(timeout(Duration::ZERO, future::pending::<()>()));
        assert_eq!(out, Err(Elapsed(())));
    }
}
