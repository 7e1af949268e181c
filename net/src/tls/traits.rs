//! tokio's I/O traits (feature `tokio-io`) and hyper's (feature `hyper`)
//! for [`TlsStream`] and its halves, as the plain streams have them.

#[cfg(any(feature = "tokio-io", feature = "hyper"))]
use std::io::{self, IoSlice};
#[cfg(any(feature = "tokio-io", feature = "hyper"))]
use std::pin::Pin;
#[cfg(any(feature = "tokio-io", feature = "hyper"))]
use std::task::{ready, Context, Poll};

#[cfg(any(feature = "tokio-io", feature = "hyper"))]
use futures_lite::io::{AsyncBufRead, AsyncWrite};

#[cfg(any(feature = "tokio-io", feature = "hyper"))]
use super::{TlsReadHalf, TlsStream, TlsWriteHalf};

/// Copies decrypted bytes into `put` (at most `room`), straight out of
/// rustls: no zeroing of the caller's buffer.
#[cfg(any(feature = "tokio-io", feature = "hyper"))]
fn poll_read_into<IO: AsyncBufRead + AsyncWrite + Unpin>(
    stream: &mut TlsStream<IO>,
    cx: &mut Context<'_>,
    room: usize,
    put: impl FnOnce(&[u8]),
) -> Poll<io::Result<()>> {
    if room == 0 {
        return Poll::Ready(Ok(()));
    }
    let available = ready!(stream.poll_fill_buf_with(cx, None))?;
    let n = available.len().min(room);
    put(&available[..n]);
    stream.consume_plaintext(n);
    Poll::Ready(Ok(()))
}

#[cfg(feature = "tokio-io")]
impl<IO: AsyncBufRead + AsyncWrite + Unpin> tokio::io::AsyncRead for TlsStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let room = buf.remaining();
        poll_read_into(self.get_mut(), cx, room, |bytes| buf.put_slice(bytes))
    }
}

#[cfg(feature = "tokio-io")]
impl<IO: AsyncBufRead + AsyncWrite + Unpin> tokio::io::AsyncBufRead for TlsStream<IO> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        AsyncBufRead::poll_fill_buf(self, cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        AsyncBufRead::consume(self, amt);
    }
}

#[cfg(feature = "tokio-io")]
impl<IO: AsyncBufRead + AsyncWrite + Unpin> tokio::io::AsyncRead for TlsReadHalf<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = ready!(futures_lite::io::AsyncRead::poll_read(
            self,
            cx,
            buf.initialize_unfilled()
        ))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio-io")]
/// tokio's and hyper's `AsyncWrite` are futures-io's under other names;
/// `shutdown` is `close`.
impl<IO: AsyncBufRead + AsyncWrite + Unpin> tokio::io::AsyncWrite for TlsStream<IO> {
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

    /// `close_notify`, then the half-close.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_close(self, cx)
    }
}

#[cfg(feature = "tokio-io")]
impl<IO: AsyncBufRead + AsyncWrite + Unpin> tokio::io::AsyncWrite for TlsWriteHalf<IO> {
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

    /// `close_notify`, then the half-close.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_close(self, cx)
    }
}

#[cfg(feature = "hyper")]
impl<IO: AsyncBufRead + AsyncWrite + Unpin> hyper::rt::Write for TlsStream<IO> {
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

    /// `close_notify`, then the half-close.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_close(self, cx)
    }
}

#[cfg(feature = "hyper")]
impl<IO: AsyncBufRead + AsyncWrite + Unpin> hyper::rt::Write for TlsWriteHalf<IO> {
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

    /// `close_notify`, then the half-close.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_close(self, cx)
    }
}

#[cfg(feature = "hyper")]
impl<IO: AsyncBufRead + AsyncWrite + Unpin> hyper::rt::Read for TlsStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let room = buf.remaining();
        poll_read_into(self.get_mut(), cx, room, |bytes| buf.put_slice(bytes))
    }
}

#[cfg(feature = "hyper")]
impl<IO: AsyncBufRead + AsyncWrite + Unpin> hyper::rt::Read for TlsReadHalf<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut chunk = [0u8; 4096];
        let room = buf.remaining().min(chunk.len());
        let n = ready!(futures_lite::io::AsyncRead::poll_read(
            self,
            cx,
            &mut chunk[..room]
        ))?;
        buf.put_slice(&chunk[..n]);
        Poll::Ready(Ok(()))
    }
}
