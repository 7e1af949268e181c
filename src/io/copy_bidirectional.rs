//! [`copy_bidirectional`]: a proxy's inner loop.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};

/// Bytes one direction holds between a read and its write, as tokio's.
const BUFFER_SIZE: usize = 8 * 1024;

/// Reads one direction copies before it lets other tasks run.
const READS_PER_POLL: usize = 32;

/// Copies `a` to `b` and `b` to `a` at the same time, until both have
/// reached end of file; returns the bytes copied `(a to b, b to a)`.
///
/// When one side's reads end, that direction flushes and closes (for a
/// socket: half-closes) the other side's write half, and the other
/// direction goes on until its own end of file, as tokio's does. Each
/// direction holds at most 8 KiB in flight.
///
/// # Errors
///
/// The first error from either side ends both directions and is returned. A
/// write that accepts no bytes gives [`io::ErrorKind::WriteZero`].
///
/// # Cancel safety
///
/// Not cancel safe: bytes read but not yet written are lost when the future
/// is dropped.
///
/// # Examples
///
/// A proxy between a client and an upstream server:
///
/// ```
/// use runtime::io::{copy_bidirectional, AsyncReadExt, AsyncWriteExt};
/// use runtime::net::{TcpListener, TcpStream};
///
/// # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
/// // The upstream: echoes, upper-cased.
/// let upstream = TcpListener::bind("127.0.0.1:0").await?;
/// let upstream_addr = upstream.local_addr()?;
/// runtime::spawn(async move {
///     let (mut s, _) = upstream.accept().await.unwrap();
///     let mut buf = Vec::new();
///     s.read_to_end(&mut buf).await.unwrap();
///     s.write_all(&buf.to_ascii_uppercase()).await.unwrap();
/// });
///
/// let proxy = TcpListener::bind("127.0.0.1:0").await?;
/// let proxy_addr = proxy.local_addr()?;
/// let relay = runtime::spawn(async move {
///     let (mut client, _) = proxy.accept().await.unwrap();
///     let mut server = TcpStream::connect(upstream_addr).await.unwrap();
///     copy_bidirectional(&mut client, &mut server).await.unwrap()
/// });
///
/// let mut client = TcpStream::connect(proxy_addr).await?;
/// client.write_all(b"hello").await?;
/// client.close().await?; // half-close: the proxy passes it on
/// let mut reply = Vec::new();
/// client.read_to_end(&mut reply).await?;
/// assert_eq!(reply, b"HELLO");
/// assert_eq!(relay.await.unwrap(), (5, 5));
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub async fn copy_bidirectional<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut a_to_b = Direction::new();
    let mut b_to_a = Direction::new();
    poll_fn(|cx| {
        let a_to_b = a_to_b.poll_copy(cx, Pin::new(&mut *a), Pin::new(&mut *b))?;
        let b_to_a = b_to_a.poll_copy(cx, Pin::new(&mut *b), Pin::new(&mut *a))?;
        match (a_to_b, b_to_a) {
            (Poll::Ready(a_to_b), Poll::Ready(b_to_a)) => Poll::Ready(Ok((a_to_b, b_to_a))),
            _ => Poll::Pending,
        }
    })
    .await
}

/// One direction: read into `buf`, write it out, close the writer at the
/// reader's end.
struct Direction {
    buf: Box<[u8]>,
    /// `buf[pos..filled]` is read and not yet written.
    pos: usize,
    filled: usize,
    copied: u64,
    read_done: bool,
    needs_flush: bool,
    closed: bool,
}

impl Direction {
    fn new() -> Self {
        Direction {
            buf: vec![0; BUFFER_SIZE].into_boxed_slice(),
            pos: 0,
            filled: 0,
            copied: 0,
            read_done: false,
            needs_flush: false,
            closed: false,
        }
    }

    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut reader: Pin<&mut R>,
        mut writer: Pin<&mut W>,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        if self.closed {
            return Poll::Ready(Ok(self.copied));
        }
        for _ in 0..READS_PER_POLL {
            if self.pos == self.filled && !self.read_done {
                match reader.as_mut().poll_read(cx, &mut self.buf) {
                    Poll::Ready(Ok(0)) => self.read_done = true,
                    Poll::Ready(Ok(n)) => {
                        self.pos = 0;
                        self.filled = n;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        // Nothing more to read for now: push out what was
                        // written, so a buffered writer does not sit on it.
                        if self.needs_flush {
                            ready!(writer.as_mut().poll_flush(cx))?;
                            self.needs_flush = false;
                        }
                        return Poll::Pending;
                    }
                }
            }
            while self.pos < self.filled {
                let n = ready!(writer
                    .as_mut()
                    .poll_write(cx, &self.buf[self.pos..self.filled]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "copy_bidirectional: the writer accepted no bytes",
                    )));
                }
                self.pos += n;
                self.copied += n as u64;
                self.needs_flush = true;
            }
            if self.read_done {
                // `close` flushes first, then half-closes a socket.
                ready!(writer.as_mut().poll_close(cx))?;
                self.closed = true;
                return Poll::Ready(Ok(self.copied));
            }
        }
        // A source that always has data: let the core's other tasks run.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future::block_on;
    use futures_lite::io::{AsyncReadExt, AsyncWriteExt, Cursor};

    use super::*;

    /// A duplex over two in-memory buffers: reads `input`, collects writes.
    struct Duplex {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
        closed: bool,
    }

    impl AsyncRead for Duplex {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.input).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Duplex {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            assert!(!self.closed, "written after close");
            // One byte at a time: the copy must loop on short writes.
            self.output.push(buf[0]);
            Poll::Ready(Ok(1))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.closed = true;
            Poll::Ready(Ok(()))
        }
    }

    fn duplex(input: &[u8]) -> Duplex {
        Duplex {
            input: Cursor::new(input.to_vec()),
            output: Vec::new(),
            closed: false,
        }
    }

    #[test]
    fn copies_both_ways_and_closes_both_writers() {
        let mut a = duplex(&[1; 20_000]);
        let mut b = duplex(b"pong");
        let counts = block_on(copy_bidirectional(&mut a, &mut b)).unwrap();
        assert_eq!(counts, (20_000, 4));
        assert_eq!(b.output, vec![1; 20_000]);
        assert_eq!(a.output, b"pong");
        assert!(a.closed && b.closed);
    }

    #[test]
    fn a_write_of_zero_bytes_is_an_error() {
        struct Zero;
        impl AsyncRead for Zero {
            fn poll_read(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                buf[0] = 9;
                Poll::Ready(Ok(1))
            }
        }
        impl AsyncWrite for Zero {
            fn poll_write(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                _: &[u8],
            ) -> Poll<io::Result<usize>> {
                Poll::Ready(Ok(0))
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }
        let err = block_on(copy_bidirectional(&mut Zero, &mut Zero)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
    }

    #[test]
    fn the_traits_are_the_ones_streams_implement() {
        // `runtime::io`'s extension traits work on any futures-io type.
        block_on(async {
            let mut d = duplex(b"abc");
            let mut s = String::new();
            d.read_to_string(&mut s).await.unwrap();
            d.write_all(b"x").await.unwrap();
            assert_eq!((s.as_str(), d.output.as_slice()), ("abc", &b"x"[..]));
        });
    }
}
