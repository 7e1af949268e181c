//! The futures of the streams' inherent `fill_buf` and `write_all`
//! (`TcpStream`, `UnixStream` and their halves). They do what
//! futures-lite's `AsyncBufReadExt::fill_buf` and `AsyncWriteExt::write_all`
//! do, with an `#[inline]` `poll` that the caller's future takes in whole:
//! an echo loop's read and write paths become one function, with fewer
//! instructions per echoed message (`benches/instructions.sh`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use crate::stream::{poll_write, ReadBuf, Shared};

/// The future of the streams' inherent `fill_buf`: one poll of the stream
/// per wait (`AsyncBufReadExt::fill_buf` makes two), and a `poll` the
/// caller's future can inline (an `async fn` around `poll_fn` kept the read
/// path in a function of its own).
pub(crate) struct FillBuf<'a> {
    read: Option<&'a mut ReadBuf>,
    shared: &'a Rc<Shared>,
}

impl<'a> FillBuf<'a> {
    #[inline]
    pub(crate) fn new(read: &'a mut ReadBuf, shared: &'a Rc<Shared>) -> Self {
        FillBuf {
            read: Some(read),
            shared,
        }
    }
}

impl<'a> Future for FillBuf<'a> {
    type Output = io::Result<&'a [u8]>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let read = this
            .read
            .as_deref_mut()
            .expect("`FillBuf` polled after completion");
        ready!(read.poll_fill_buf(this.shared, cx))?;
        let read: &'a ReadBuf = this.read.take().expect("checked above");
        Poll::Ready(Ok(read.filled()))
    }
}

/// The future of the streams' inherent `write_all`: `AsyncWriteExt::write_all`
/// with a `poll` the caller's future can inline.
pub(crate) struct WriteAll<'a> {
    shared: &'a Rc<Shared>,
    buf: &'a [u8],
}

impl<'a> WriteAll<'a> {
    #[inline]
    pub(crate) fn new(shared: &'a Rc<Shared>, buf: &'a [u8]) -> Self {
        WriteAll { shared, buf }
    }
}

impl Future for WriteAll<'_> {
    type Output = io::Result<()>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        while !this.buf.is_empty() {
            let n = ready!(poll_write(this.shared, cx, this.buf))?;
            // `poll_write` takes at least one byte of a non-empty buffer
            // (or waits, or fails), so this loop ends.
            this.buf = &this.buf[n.min(this.buf.len())..];
        }
        Poll::Ready(Ok(()))
    }
}
