//! The owned halves of a [`TlsStream`]: both drive one TLS session, so they
//! share it (on one core: the halves are not `Send`).

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_lite::io::{AsyncBufRead, AsyncRead, AsyncWrite};

use super::TlsStream;

struct Shared<IO: AsyncWrite + Unpin> {
    stream: RefCell<TlsStream<IO>>,
    /// The write half's waker while it waits for room in the stream. The
    /// read half's own sends (alerts, key updates) go under it, so the
    /// stream's write side keeps waking the writer.
    writer: RefCell<Option<Waker>>,
}

/// The read half of [`TlsStream::into_split`].
pub struct TlsReadHalf<IO: AsyncWrite + Unpin = crate::TcpStream> {
    shared: Rc<Shared<IO>>,
}

/// The write half of [`TlsStream::into_split`]. Closing it sends
/// `close_notify` and half-closes the stream; dropping it does neither.
pub struct TlsWriteHalf<IO: AsyncWrite + Unpin = crate::TcpStream> {
    shared: Rc<Shared<IO>>,
}

impl<IO: AsyncWrite + Unpin> std::fmt::Debug for TlsReadHalf<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsReadHalf").finish_non_exhaustive()
    }
}

impl<IO: AsyncWrite + Unpin> std::fmt::Debug for TlsWriteHalf<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsWriteHalf").finish_non_exhaustive()
    }
}

impl<IO: AsyncBufRead + AsyncWrite + Unpin> TlsStream<IO> {
    /// Splits the stream into a read half and a write half, which separate
    /// tasks of this core may own.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futures_lite::io::{copy, AsyncWriteExt};
    /// # async fn echo(stream: runtime::net::tls::TlsStream) -> std::io::Result<()> {
    /// let (reader, mut writer) = stream.into_split();
    /// copy(reader, &mut writer).await?;
    /// writer.close().await // close_notify, then half-close
    /// # }
    /// ```
    pub fn into_split(self) -> (TlsReadHalf<IO>, TlsWriteHalf<IO>) {
        let shared = Rc::new(Shared {
            stream: RefCell::new(self),
            writer: RefCell::new(None),
        });
        (
            TlsReadHalf {
                shared: shared.clone(),
            },
            TlsWriteHalf { shared },
        )
    }
}

impl<IO: AsyncWrite + Unpin> TlsReadHalf<IO> {
    /// Puts the halves of one stream back together.
    ///
    /// # Errors
    ///
    /// The halves came from different streams: both are given back.
    #[allow(clippy::result_large_err)]
    pub fn unsplit(
        self,
        write: TlsWriteHalf<IO>,
    ) -> Result<TlsStream<IO>, (TlsReadHalf<IO>, TlsWriteHalf<IO>)> {
        if !Rc::ptr_eq(&self.shared, &write.shared) {
            return Err((self, write));
        }
        drop(write);
        match Rc::try_unwrap(self.shared) {
            Ok(shared) => Ok(shared.stream.into_inner()),
            Err(_) => unreachable!("a stream has two halves"),
        }
    }

    /// The TLS stream both halves share, to ask it about the session.
    pub fn with_stream<R>(&self, f: impl FnOnce(&TlsStream<IO>) -> R) -> R {
        f(&self.shared.stream.borrow())
    }
}

impl<IO: AsyncBufRead + AsyncWrite + Unpin> AsyncRead for TlsReadHalf<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let writer = self.shared.writer.borrow();
        self.shared
            .stream
            .borrow_mut()
            .poll_read_with(cx, buf, writer.as_ref())
    }
}

impl<IO: AsyncBufRead + AsyncWrite + Unpin> TlsWriteHalf<IO> {
    /// Runs `poll` on the stream, and keeps this half's waker while it
    /// waits for room (see [`Shared::writer`]).
    fn poll_writer<R>(
        &self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut TlsStream<IO>, &mut Context<'_>) -> Poll<R>,
    ) -> Poll<R> {
        let result = poll(&mut self.shared.stream.borrow_mut(), cx);
        let mut writer = self.shared.writer.borrow_mut();
        if result.is_pending() {
            match &*writer {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => *writer = Some(cx.waker().clone()),
            }
        } else {
            *writer = None;
        }
        result
    }
}

impl<IO: AsyncBufRead + AsyncWrite + Unpin> AsyncWrite for TlsWriteHalf<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_writer(cx, |stream, cx| {
            stream.poll_write_with(cx, |session| session.encrypt(buf))
        })
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_writer(cx, |stream, cx| {
            stream.poll_write_with(cx, |session| session.encrypt_vectored(bufs))
        })
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_writer(cx, TlsStream::poll_flush_tls)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_writer(cx, TlsStream::poll_close_tls)
    }
}
