//! Accepting that never spins and never gives up, shared by the TCP and
//! Unix listeners: out of file descriptors (`EMFILE`, `ENFILE`) or memory
//! (`ENOBUFS`, `ENOMEM`), it logs once, waits (100 ms, doubling up to 1 s)
//! and tries again; a connection reset before it was accepted
//! (`ECONNABORTED`, and `EPROTO`/`EPERM`, which Linux may report for it),
//! an interrupted call (`EINTR`), and the pending network errors that
//! accept(2) says to retry like `EAGAIN` (`ENETDOWN`, `ENOPROTOOPT`,
//! `EHOSTDOWN`, `ENONET`, `EHOSTUNREACH`, `EOPNOTSUPP`, `ENETUNREACH`) are
//! skipped at once, without a log line.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use runtime_executor::time::Sleep;
use runtime_executor::AsyncFd;

pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(100);
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Connections an accept loop takes in a row before it yields, so a burst
/// of connects cannot keep established connections waiting (HAProxy's
/// `tune.maxaccept`).
pub(crate) const ACCEPT_BATCH: usize = 64;

/// A stand-in for accept(2) on a listening socket; see
/// [`Server::accept_with`](crate::Server::accept_with).
pub(crate) type AcceptFn = std::sync::Arc<
    dyn Fn(&socket2::Socket) -> io::Result<(socket2::Socket, socket2::SockAddr)> + Send + Sync,
>;

/// A listener's back-off state.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    sleep: Option<Sleep>,
}

impl Backoff {
    pub(crate) fn new() -> RefCell<Backoff> {
        RefCell::new(Backoff {
            next: FIRST_BACKOFF,
            sleep: None,
        })
    }
}

/// Polls `accept` on the listening `fd` until it returns a connection or an
/// error that is neither transient nor exhaustion. `name` says which
/// listener, for the one log line of a back-off.
pub(crate) fn poll_accept<T: AsFd, R>(
    fd: &AsyncFd<T>,
    backoff: &RefCell<Backoff>,
    cx: &mut Context<'_>,
    mut accept: impl FnMut(&T) -> io::Result<R>,
    name: impl Fn() -> String,
) -> Poll<io::Result<R>> {
    loop {
        {
            let mut backoff = backoff.borrow_mut();
            if let Some(sleep) = backoff.sleep.as_mut() {
                ready!(Pin::new(sleep).poll(cx));
                backoff.sleep = None;
            }
        }
        match ready!(fd.poll_read_with(cx, &mut accept)) {
            Ok(accepted) => {
                backoff.borrow_mut().next = FIRST_BACKOFF;
                return Poll::Ready(Ok(accepted));
            }
            Err(err) if is_transient(&err) => {}
            Err(err) if is_exhausted(&err) => {
                let mut backoff = backoff.borrow_mut();
                if backoff.next == FIRST_BACKOFF {
                    log::error!(
                        "accept on {} failed ({err}); backing off and retrying",
                        name()
                    );
                }
                let delay = backoff.next;
                backoff.next = (delay * 2).min(MAX_BACKOFF);
                backoff.sleep = Some(runtime_executor::time::sleep(delay));
            }
            Err(err) => return Poll::Ready(Err(err)),
        }
    }
}

/// An error of one pending connection, not of the listener: retried at
/// once.
pub(crate) fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EPROTO
                | libc::EPERM
                | libc::EINTR
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
        )
    )
}

pub(crate) fn is_exhausted(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
