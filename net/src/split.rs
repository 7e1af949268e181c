//! Read and write halves of a buffered stream (`TcpStream`, `UnixStream`).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncBufRead, AsyncRead, AsyncWrite};

use crate::io_future::{impl_fill_buf, impl_write_all};
use crate::stream::{self as buffered, ReadBuf, Shared, WriteHandle};

/// The read half of a stream's `split` ([`TcpStream::split`](crate::TcpStream::split),
/// [`UnixStream::split`](crate::unix::UnixStream::split)).
#[derive(Debug)]
pub struct ReadHalf<'a> {
    read: &'a mut ReadBuf,
    shared: &'a Rc<Shared>,
}

/// The write half of a stream's `split`.
#[derive(Debug)]
pub struct WriteHalf<'a> {
    shared: &'a Rc<Shared>,
}

/// The read half of a stream's `into_split`.
#[derive(Debug)]
pub struct OwnedReadHalf {
    read: ReadBuf,
    shared: Rc<Shared>,
}

/// The write half of a stream's `into_split`.
/// Dropping it delivers what is still queued, without shutting the write
/// side down; call [`shutdown`](Self::shutdown) for that.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    write: WriteHandle,
}

impl<'a> ReadHalf<'a> {
    pub(crate) fn new(read: &'a mut ReadBuf, shared: &'a Rc<Shared>) -> Self {
        ReadHalf { read, shared }
    }
}

impl_fill_buf!(ReadHalf<'_>, |this| this.read, this.shared);
impl_fill_buf!(OwnedReadHalf, |this| &mut this.read, &this.shared);

impl<'a> WriteHalf<'a> {
    pub(crate) fn new(shared: &'a Rc<Shared>) -> Self {
        WriteHalf { shared }
    }
}

impl OwnedReadHalf {
    pub(crate) fn new(read: ReadBuf, shared: Rc<Shared>) -> Self {
        OwnedReadHalf { read, shared }
    }
}

impl OwnedWriteHalf {
    pub(crate) fn new(write: WriteHandle) -> Self {
        OwnedWriteHalf { write }
    }

    /// Sends what is queued, then shuts the write side down.
    ///
    /// # Errors
    ///
    /// A write error of the flush.
    pub async fn shutdown(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| buffered::poll_shutdown(&self.write.0, cx)).await
    }

    /// Bytes written and not yet sent.
    pub fn outbound_buffered(&self) -> usize {
        self.write.0.outbound_len()
    }
}

macro_rules! impl_read {
    ($ty:ty) => {
        impl AsyncRead for $ty {
            #[inline]
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let this = self.get_mut();
                this.read.poll_read(&this.shared, cx, buf)
            }
        }

        impl AsyncBufRead for $ty {
            #[inline]
            fn poll_fill_buf(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<&[u8]>> {
                let this = self.get_mut();
                this.read.poll_fill_buf(&this.shared, cx)
            }

            #[inline]

            fn consume(self: Pin<&mut Self>, amt: usize) {
                let this = self.get_mut();
                this.read.consume(&this.shared, amt);
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncRead for $ty {
            #[inline]
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let this = self.get_mut();
                let n = std::task::ready!(this.read.poll_read(
                    &this.shared,
                    cx,
                    buf.initialize_unfilled()
                ))?;
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncBufRead for $ty {
            #[inline]
            fn poll_fill_buf(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<&[u8]>> {
                let this = self.get_mut();
                this.read.poll_fill_buf(&this.shared, cx)
            }

            #[inline]
            fn consume(self: Pin<&mut Self>, amt: usize) {
                let this = self.get_mut();
                this.read.consume(&this.shared, amt);
            }
        }
    };
}

impl_read!(ReadHalf<'_>);
impl_read!(OwnedReadHalf);

impl_write_all!(WriteHalf<'_>, |this| this.shared);
impl_write_all!(OwnedWriteHalf, |this| &this.write.0);

macro_rules! impl_write {
    ($ty:ty, |$this:ident| $shared:expr) => {
        impl AsyncWrite for $ty {
            #[inline]
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                buffered::poll_write($shared, cx, buf)
            }

            #[inline]

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                buffered::poll_write_vectored($shared, cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $this = self.get_mut();
                buffered::poll_flush($shared, cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $this = self.get_mut();
                buffered::poll_shutdown($shared, cx)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncWrite for $ty {
            #[inline]
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                buffered::poll_write($shared, cx, buf)
            }

            #[inline]
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                buffered::poll_write_vectored($shared, cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $this = self.get_mut();
                buffered::poll_flush($shared, cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $this = self.get_mut();
                buffered::poll_shutdown($shared, cx)
            }
        }
    };
}

impl_write!(WriteHalf<'_>, |this| this.shared);
impl_write!(OwnedWriteHalf, |this| &this.write.0);
