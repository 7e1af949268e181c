//! The read and write halves of framing, shared by `Framed`, `FramedRead` and
//! `FramedWrite`.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use futures_io::{AsyncRead, AsyncWrite};

use crate::Decoder;

/// The capacity buffers start with, and the default backpressure boundary.
pub(crate) const INITIAL_CAPACITY: usize = 8 * 1024;

/// The most one read asks for. futures-io reads need initialised memory, so every
/// byte asked for is zeroed first: asking for a whole large buffer would cost a
/// memset of it per read.
const MAX_READ: usize = 64 * 1024;

/// Decoding state over a read buffer.
#[derive(Debug)]
pub(crate) struct ReadFrame {
    pub(crate) buffer: BytesMut,
    /// The buffer may hold a frame that was not decoded yet.
    readable: bool,
    /// The transport reached end of file.
    eof: bool,
    /// The stream ended (after end of file or an error); it yields nothing more.
    done: bool,
}

impl ReadFrame {
    pub(crate) fn new(buffer: BytesMut) -> Self {
        ReadFrame {
            readable: !buffer.is_empty(),
            buffer,
            eof: false,
            done: false,
        }
    }

    /// The next frame: decodes what is buffered, reads when it needs more. The
    /// first error (decoding or I/O) is yielded and ends the stream; at end of file
    /// the decoder's `decode_eof` decides whether leftover bytes are an error.
    pub(crate) fn poll_next<T, D>(
        &mut self,
        mut io: Pin<&mut T>,
        decoder: &mut D,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<D::Item, D::Error>>>
    where
        T: AsyncRead + ?Sized,
        D: Decoder,
    {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            if self.eof {
                return Poll::Ready(match decoder.decode_eof(&mut self.buffer) {
                    Ok(Some(frame)) => Some(Ok(frame)),
                    Ok(None) => {
                        self.done = true;
                        None
                    }
                    Err(e) => {
                        self.done = true;
                        Some(Err(e))
                    }
                });
            }
            if self.readable {
                match decoder.decode(&mut self.buffer) {
                    Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                    Ok(None) => self.readable = false,
                    Err(e) => {
                        self.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
            match ready!(self.poll_read(io.as_mut(), cx)) {
                Ok(0) => self.eof = true,
                Ok(_) => self.readable = true,
                Err(e) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
    }

    /// Reads once into the spare capacity of the buffer.
    fn poll_read<T>(&mut self, mut io: Pin<&mut T>, cx: &mut Context<'_>) -> Poll<io::Result<usize>>
    where
        T: AsyncRead + ?Sized,
    {
        let len = self.buffer.len();
        if self.buffer.capacity() - len < INITIAL_CAPACITY / 2 {
            self.buffer.reserve(INITIAL_CAPACITY);
        }
        let want = (self.buffer.capacity() - len).min(MAX_READ);
        self.buffer.resize(len + want, 0);
        let result = loop {
            match io.as_mut().poll_read(cx, &mut self.buffer[len..]) {
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => break result,
            }
        };
        let read = match &result {
            Poll::Ready(Ok(n)) => (*n).min(want),
            _ => 0,
        };
        self.buffer.truncate(len + read);
        result.map_ok(|n| n.min(want))
    }
}

/// Encoded bytes waiting to be written.
#[derive(Debug)]
pub(crate) struct WriteFrame {
    pub(crate) buffer: BytesMut,
    pub(crate) backpressure_boundary: usize,
}

impl WriteFrame {
    pub(crate) fn new(buffer: BytesMut) -> Self {
        WriteFrame {
            buffer,
            backpressure_boundary: INITIAL_CAPACITY,
        }
    }

    /// Ready to take another item: the buffer is under the backpressure boundary,
    /// flushing first if it is not.
    pub(crate) fn poll_ready<T>(
        &mut self,
        io: Pin<&mut T>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>>
    where
        T: AsyncWrite + ?Sized,
    {
        if self.buffer.len() >= self.backpressure_boundary {
            self.poll_flush(io, cx)
        } else {
            Poll::Ready(Ok(()))
        }
    }

    /// Writes the whole buffer, then flushes the transport.
    pub(crate) fn poll_flush<T>(
        &mut self,
        mut io: Pin<&mut T>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>>
    where
        T: AsyncWrite + ?Sized,
    {
        while !self.buffer.is_empty() {
            match ready!(io.as_mut().poll_write(cx, &self.buffer)) {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "transport wrote 0 bytes of a frame",
                    )))
                }
                Ok(n) => self.buffer.advance(n.min(self.buffer.len())),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        io.poll_flush(cx)
    }

    /// Flushes, then closes the transport.
    pub(crate) fn poll_close<T>(
        &mut self,
        mut io: Pin<&mut T>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>>
    where
        T: AsyncWrite + ?Sized,
    {
        ready!(self.poll_flush(io.as_mut(), cx))?;
        io.poll_close(cx)
    }
}
