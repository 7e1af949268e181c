//! Unix signals as futures, delivered through the core's reactor.
//!
//! A signal handler (installed through `signal-hook`, async-signal-safe)
//! writes a byte into a socket pair whose read end is an [`AsyncFd`] on the
//! waiting core, so a signal wakes the core like any other I/O: no extra
//! reactor thread.
//!
//! Once a signal is listened for, its default action (for SIGINT and SIGTERM:
//! terminate) no longer happens while any listener exists, as with tokio.
//!
//! # Examples
//!
//! A server that stops on ctrl-c or SIGTERM:
//!
//! ```no_run
//! let rt = runtime::Runtime::builder().cores(1).build().unwrap();
//! rt.block_on(async {
//!     let serve = async { /* accept connections ... */ std::future::pending::<()>().await };
//!     futures_lite::future::or(serve, async {
//!         runtime::signal::shutdown().await.unwrap();
//!     })
//!     .await;
//! });
//! ```

use std::fmt;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;

use signal_hook::low_level::{pipe, unregister};
use signal_hook::SigId;

use crate::AsyncFd;

/// A Unix signal number, with names for the ones servers care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(libc::c_int);

impl SignalKind {
    /// SIGINT: ctrl-c in a terminal.
    pub fn interrupt() -> Self {
        SignalKind(libc::SIGINT)
    }

    /// SIGTERM: the polite request to stop (systemd, Kubernetes, `kill`).
    pub fn terminate() -> Self {
        SignalKind(libc::SIGTERM)
    }

    /// SIGHUP: often "reload configuration".
    pub fn hangup() -> Self {
        SignalKind(libc::SIGHUP)
    }

    /// SIGUSR1.
    pub fn user_defined1() -> Self {
        SignalKind(libc::SIGUSR1)
    }

    /// SIGUSR2.
    pub fn user_defined2() -> Self {
        SignalKind(libc::SIGUSR2)
    }

    /// Any signal number. Signals that cannot be caught (SIGKILL, SIGSTOP)
    /// and those whose handling would be unsound (SIGSEGV, SIGILL, SIGFPE)
    /// make [`Signal::new`] fail.
    pub fn from_raw(signum: libc::c_int) -> Self {
        SignalKind(signum)
    }

    /// The signal number.
    pub fn as_raw(self) -> libc::c_int {
        self.0
    }
}

/// A stream of deliveries of one signal to this process, received on the
/// current core.
///
/// Deliveries that arrive while nobody awaits [`recv`](Self::recv) are kept
/// (several coalesce into at least one).
pub struct Signal {
    kind: SignalKind,
    id: SigId,
    receiver: AsyncFd<UnixStream>,
}

impl Signal {
    /// Starts listening for `kind` on the current core.
    ///
    /// # Errors
    ///
    /// Fails outside a `runtime` core, for a signal that cannot be handled,
    /// or when the socket pair cannot be created.
    pub fn new(kind: SignalKind) -> io::Result<Self> {
        if signal_hook::consts::FORBIDDEN.contains(&kind.0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("signal {} cannot be handled", kind.0),
            ));
        }
        let (receiver, sender) = UnixStream::pair()?;
        receiver.set_nonblocking(true)?;
        sender.set_nonblocking(true)?;
        let receiver = AsyncFd::new(receiver)?;
        let id = pipe::register(kind.0, sender)?;
        Ok(Signal { kind, id, receiver })
    }

    /// Waits for the next delivery.
    ///
    /// # Errors
    ///
    /// Fails if the core shuts down meanwhile.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a delivery is consumed only when this returns.
    pub async fn recv(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 64];
        let n = self
            .receiver
            .read_with(|mut sock| sock.read(&mut buf))
            .await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "signal pipe closed",
            ));
        }
        Ok(())
    }

    /// The signal this listens for.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        // Also closes the write end that the handler owned.
        unregister(self.id);
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish()
    }
}

/// Completes on the next SIGINT (ctrl-c).
///
/// # Errors
///
/// As [`Signal::new`] and [`Signal::recv`].
pub async fn ctrl_c() -> io::Result<()> {
    Signal::new(SignalKind::interrupt())?.recv().await
}

/// Completes on the next SIGTERM.
///
/// # Errors
///
/// As [`Signal::new`] and [`Signal::recv`].
pub async fn terminate() -> io::Result<()> {
    Signal::new(SignalKind::terminate())?.recv().await
}

/// Completes on the next SIGINT or SIGTERM, whichever comes first: the usual
/// trigger for a graceful shutdown.
///
/// # Errors
///
/// As [`Signal::new`] and [`Signal::recv`].
pub async fn shutdown() -> io::Result<()> {
    let mut interrupt = Signal::new(SignalKind::interrupt())?;
    let mut terminate = Signal::new(SignalKind::terminate())?;
    futures_lite::future::or(interrupt.recv(), terminate.recv()).await
}
