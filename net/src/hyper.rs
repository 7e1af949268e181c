//! hyper 1.x on this runtime (feature `hyper`): [`hyper::rt::Read`] and
//! [`hyper::rt::Write`] for [`TcpStream`], [`UnixStream`] and their owned
//! halves, [`HyperTimer`] for hyper's timeouts and [`HyperExecutor`] for the
//! tasks it spawns. No tokio runtime is involved.
//!
//! A connection is a task of the core that accepted it, like any other: the
//! streams, the timer and the executor all work on the current core, so the
//! service and its futures need not be `Send`.
//!
//! # Examples
//!
//! An HTTP/1 server and a client on one core, over a real socket:
//!
//! ```
//! use std::convert::Infallible;
//!
//! use http_body_util::{BodyExt, Full};
//! use hyper::body::Bytes;
//! use hyper::service::service_fn;
//! use hyper::{Request, Response};
//! use runtime::net::hyper::HyperTimer;
//! use runtime::net::{TcpListener, TcpStream};
//!
//! let rt = runtime::Runtime::builder().cores(1).build().unwrap();
//! rt.block_on(async {
//!     let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     runtime::spawn(async move {
//!         let (stream, _) = listener.accept().await.unwrap();
//!         let hello = service_fn(|_req: Request<hyper::body::Incoming>| async {
//!             Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
//!         });
//!         hyper::server::conn::http1::Builder::new()
//!             .timer(HyperTimer)
//!             .serve_connection(stream, hello)
//!             .await
//!             .unwrap();
//!     });
//!
//!     let stream = TcpStream::connect(addr).await.unwrap();
//!     let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
//!     runtime::spawn(conn);
//!     let req = Request::get("/").body(Full::new(Bytes::new())).unwrap();
//!     let body = sender.send_request(req).await.unwrap().collect().await.unwrap();
//!     assert_eq!(body.to_bytes(), "hello");
//! });
//! ```

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use ::hyper::rt::{self, ReadBufCursor};
use futures_lite::io::{AsyncBufRead, AsyncRead, AsyncWrite};
use runtime_executor::time;

use crate::io::DIRECT_READ;
use crate::tcp;
use crate::{TcpStream, UnixStream};

/// Runs the futures hyper hands off (HTTP/2's connection and stream tasks)
/// as tasks of the current core, with [`runtime::spawn`](runtime_executor::spawn). They need
/// not be `Send`; each is detached, so it runs to completion or until its
/// core stops.
///
/// HTTP/1 connections (`hyper::server::conn::http1`,
/// `hyper::client::conn::http1`) spawn nothing and need no executor.
///
/// # Panics
///
/// [`execute`](rt::Executor::execute) panics when called outside a `runtime`
/// core.
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperExecutor;

impl<F> rt::Executor<F> for HyperExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        drop(runtime_executor::spawn(future));
    }
}

/// hyper's timeouts (`header_read_timeout`, keep-alive timers) on the timer
/// wheel of the core that polls them, through [`time::sleep`] and
/// [`time::sleep_until`].
///
/// hyper asks for `Send + Sync` sleeps. [`time::Sleep`] is both, soundly and
/// without a wrapper that checks the core: it holds no reference to its core,
/// only the deadline and the key of its last registration tagged with that
/// core's id. Polled or dropped on another core, it registers there anew and
/// leaves the old timer to fire harmlessly; it never touches another core's
/// wheel. So this module has no `unsafe impl Send`.
///
/// [`reset`](rt::Timer::reset) moves the deadline of a sleep this timer made
/// in place, without a new allocation.
///
/// # Panics
///
/// A sleep made by this timer panics if polled before its deadline outside a
/// `runtime` core (hyper polls it from the connection's task, which runs on
/// one).
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperTimer;

impl rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(HyperSleep(time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(HyperSleep(time::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(ours) => Pin::new(&mut ours.get_mut().0).reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// [`time::Sleep`] under hyper's [`rt::Sleep`] (a foreign trait on a foreign
/// type needs a local type between them).
#[derive(Debug)]
struct HyperSleep(time::Sleep);

impl Future for HyperSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

impl rt::Sleep for HyperSleep {}

/// The most of hyper's buffer zeroed for one direct read: as much as the
/// inbound ring would hold.
const DIRECT_READ_MAX: usize = crate::io::DEFAULT_READ_BUFFER;

/// hyper's `Read` for a stream. A cursor of 16 KiB or more over an empty
/// inbound ring gets one `read` straight into hyper's buffer; anything else
/// is copied from the ring ([`poll_read_buffered`]).
///
/// hyper lends uninitialized memory, so the direct read first zeroes up to
/// 64 KiB of it (`initialize_unfilled_to`), and only the final `advance` is
/// `unsafe`. Large uploads are faster this way than through the ring
/// (16 KiB `read`s plus a copy), zeroing included (`benches/RESULTS.md`).
fn poll_read_stream<S>(
    stream: &mut S,
    inbound_buffered: usize,
    cx: &mut Context<'_>,
    mut buf: ReadBufCursor<'_>,
) -> Poll<io::Result<()>>
where
    S: AsyncRead + AsyncBufRead + Unpin,
{
    if inbound_buffered > 0 || buf.remaining() < DIRECT_READ {
        return poll_read_buffered(Pin::new(stream), cx, buf);
    }
    let len = buf.remaining().min(DIRECT_READ_MAX);
    let dst = buf.initialize_unfilled_to(len);
    let n = ready!(AsyncRead::poll_read(Pin::new(stream), cx, dst))?;
    assert!(n <= len, "`poll_read` reported {n} bytes read into {len}");
    // SAFETY: `initialize_unfilled_to(len)` initialized the first `len`
    // bytes of the unfilled region, and `n <= len`.
    unsafe { buf.advance(n) };
    Poll::Ready(Ok(()))
}

/// Copies what the inbound ring holds into hyper's buffer: `fill_buf` +
/// `put_slice`, no `unsafe`. One copy, the same one `AsyncRead::poll_read`
/// makes for every read under 16 KiB.
fn poll_read_buffered<R>(
    mut reader: Pin<&mut R>,
    cx: &mut Context<'_>,
    mut buf: ReadBufCursor<'_>,
) -> Poll<io::Result<()>>
where
    R: AsyncBufRead + ?Sized,
{
    if buf.remaining() == 0 {
        return Poll::Ready(Ok(()));
    }
    let available = ready!(reader.as_mut().poll_fill_buf(cx))?;
    let n = available.len().min(buf.remaining());
    buf.put_slice(&available[..n]);
    reader.consume(n);
    Poll::Ready(Ok(()))
}

impl rt::Read for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let buffered = this.inbound_buffered();
        poll_read_stream(this, buffered, cx, buf)
    }
}

impl rt::Read for UnixStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let buffered = this.inbound_buffered();
        poll_read_stream(this, buffered, cx, buf)
    }
}

/// A read half cannot see its ring's fill level: always through the ring.
/// `tcp::OwnedReadHalf` and `unix::OwnedReadHalf` are one type (and so are
/// the write halves): one impl covers both.
impl rt::Read for tcp::OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_buffered(self, cx, buf)
    }
}

/// Writes go into the outbound ring, as with `futures_lite::AsyncWrite`:
/// the core sends what a tick wrote in one `writev`. Vectored writes copy
/// every slice into the ring, so hyper's queued (vectored) strategy is the
/// cheap one.
impl rt::Write for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(self, cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write_vectored(self, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(self, cx)
    }

    /// Flushes, then shuts the write side down.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_close(self, cx)
    }
}

impl rt::Write for UnixStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(self, cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write_vectored(self, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(self, cx)
    }

    /// Flushes, then shuts the write side down.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_close(self, cx)
    }
}

impl rt::Write for tcp::OwnedWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(self, cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write_vectored(self, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(self, cx)
    }

    /// Flushes, then shuts the write side down.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_close(self, cx)
    }
}
