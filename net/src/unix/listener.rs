//! `UnixListener`: a Unix domain listening socket on the current core.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{ready, Context, Poll};

use runtime_executor::AsyncFd;

use crate::accept::{self, Backoff};
use crate::unix::path::SocketFile;
use crate::unix::UnixStream;

/// A Unix domain listening socket.
///
/// Binding handles a socket file left behind by a process that died: if the
/// path is a socket nobody listens on, it is removed and bound again. A path
/// that is not a socket (a regular file, a directory) is never removed:
/// binding fails with `AlreadyExists`. The socket file is removed when the
/// listener is dropped.
///
/// # Examples
///
/// ```
/// use runtime::net::{UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("doc-unix-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("server.sock");
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async {
///     let listener = UnixListener::bind(&path).unwrap();
///     let client = UnixStream::connect(&path).await.unwrap();
///     let (server, _) = listener.accept().await.unwrap();
///     drop((client, server, listener));
/// });
/// assert!(!path.exists(), "removed on drop");
/// ```
pub struct UnixListener {
    fd: AsyncFd<std::os::unix::net::UnixListener>,
    file: Option<SocketFile>,
    backoff: RefCell<Backoff>,
}

impl UnixListener {
    /// Binds and listens at `path`, replacing a stale socket file.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if a live listener owns the path, `AlreadyExists` if the
    /// path is not a socket, or as `bind(2)`.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        crate::on_a_core("UnixListener::bind")?;
        let (listener, file) =
            SocketFile::bind(path.as_ref(), std::os::unix::net::UnixListener::bind)?;
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            fd: AsyncFd::new(listener)?,
            file: Some(file),
            backoff: Backoff::new(),
        })
    }

    /// Binds in Linux's abstract namespace (no file on disk).
    ///
    /// # Errors
    ///
    /// As `bind(2)`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn bind_abstract(name: &[u8]) -> io::Result<UnixListener> {
        crate::on_a_core("UnixListener::bind_abstract")?;
        use std::os::linux::net::SocketAddrExt;
        let addr = SocketAddr::from_abstract_name(name)?;
        let listener = std::os::unix::net::UnixListener::bind_addr(&addr)?;
        UnixListener::from_std(listener)
    }

    /// Binds a path or an abstract name without registering: the callback
    /// engine binds before its loops start, then calls [`from_parts`](Self::from_parts).
    pub(crate) fn bind_std(
        name: &crate::unix::path::UnixName,
    ) -> io::Result<(std::os::unix::net::UnixListener, Option<SocketFile>)> {
        match name {
            crate::unix::path::UnixName::Path(path) => {
                let (listener, file) =
                    SocketFile::bind(path, std::os::unix::net::UnixListener::bind)?;
                Ok((listener, Some(file)))
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            crate::unix::path::UnixName::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = SocketAddr::from_abstract_name(name)?;
                Ok((std::os::unix::net::UnixListener::bind_addr(&addr)?, None))
            }
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            crate::unix::path::UnixName::Abstract(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "abstract Unix socket names exist on Linux only",
            )),
        }
    }

    /// Registers a listener bound by [`bind_std`](Self::bind_std).
    pub(crate) fn from_parts(
        listener: std::os::unix::net::UnixListener,
        file: Option<SocketFile>,
    ) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            fd: AsyncFd::new(listener)?,
            file,
            backoff: Backoff::new(),
        })
    }

    /// Accepts a non-blocking socket without registering it (the engine may
    /// hand it to another core), with the retries and back-off of
    /// [`accept`](Self::accept).
    pub(crate) fn poll_accept_socket(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(socket2::Socket, socket2::SockAddr)>> {
        let (stream, _) = ready!(self.poll_accept_std(cx))?;
        stream.set_nonblocking(true)?;
        let socket = socket2::Socket::from(stream);
        let peer = socket.peer_addr()?;
        Poll::Ready(Ok((socket, peer)))
    }

    fn poll_accept_std(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(std::os::unix::net::UnixStream, SocketAddr)>> {
        accept::poll_accept(
            &self.fd,
            &self.backoff,
            cx,
            |l| l.accept(),
            || format!("{:?}", self.local_addr().ok()),
        )
    }

    /// Takes over a listening std socket, on the current core. Its file is
    /// not removed on drop.
    ///
    /// # Errors
    ///
    /// Fails outside a `runtime` core.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        crate::on_a_core("UnixListener::from_std")?;
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            fd: AsyncFd::new(listener)?,
            file: None,
            backoff: Backoff::new(),
        })
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.get_ref().local_addr()
    }

    /// Waits for a connection.
    ///
    /// # Errors
    ///
    /// As `accept(2)`, except the transient errors: as
    /// [`TcpListener::accept`](crate::TcpListener), a connection reset
    /// before it was accepted is skipped, and when file descriptors or
    /// memory run out (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) it logs once,
    /// waits (100 ms, doubling up to 1 s) and tries again.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection; see [`accept`](Self::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let (stream, addr) = ready!(self.poll_accept_std(cx))?;
        Poll::Ready(UnixStream::from_std(stream).map(|s| (s, addr)))
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &self.as_raw_fd())
            .field("path", &self.file.as_ref().map(SocketFile::path))
            .finish()
    }
}
