//! Asynchronous I/O: the read, write and buffered-read traits, their
//! extension methods, and the helpers a tokio program reaches for in
//! `tokio::io`.
//!
//! Everything here comes from [`futures-lite`](https://docs.rs/futures-lite)
//! (the [`futures-io`](https://docs.rs/futures-io) traits), except
//! [`copy_bidirectional`], so a program needs no dependency besides
//! `runtime` to call `read`, `write_all` or `read_line` on a
//! [`TcpStream`](crate::net::TcpStream).
//!
//! # Coming from `tokio::io`
//!
//! - The traits are the `futures-io` ones. [`AsyncRead::poll_read`] fills a
//!   plain `&mut [u8]` and returns how many bytes it read, where tokio's takes
//!   a `ReadBuf`. Code that only calls the extension methods (`read`,
//!   `read_exact`, `write_all`, `read_line`...) does not notice.
//! - [`AsyncBufReadExt::read_line`] takes an **empty** `String` and fills
//!   it (tokio's appends to it): clear the line before each call, as tokio
//!   code usually does anyway. A non-empty one fails a debug assertion, and
//!   is overwritten in release builds. `read_until` appends, as tokio's.
//!   In a [`select!`](crate::select) loop prefer `read_until`: it appends
//!   what it has read to your buffer as it goes, so a lost branch loses
//!   nothing, where `read_line` keeps a partial line inside its future.
//! - `AsyncWriteExt::shutdown` is [`AsyncWriteExt::close`]: it flushes, then
//!   half-closes a socket's write side.
//! - [`split`] works on any `AsyncRead + AsyncWrite` and shares it behind a
//!   lock, as tokio's does. For a `TcpStream`, its own `split`/`into_split`
//!   halves are cheaper.
//! - `AsyncBufReadExt` has a `split(byte)` method (split a stream at a
//!   delimiter). With that trait in scope, call a stream's own halves as
//!   `TcpStream::split(&mut stream)`: method syntax picks the trait's.
//! - With the `tokio-io` feature, the streams implement tokio's traits too,
//!   for crates written against them.
//!
//! # Examples
//!
//! ```
//! use runtime::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
//!
//! # runtime::Runtime::builder().cores(1).build().unwrap().block_on(async {
//! let mut input = BufReader::new(&b"hello\nworld\n"[..]);
//! let mut line = String::new();
//! input.read_line(&mut line).await?;
//! assert_eq!(line, "hello\n");
//!
//! let mut rest = Vec::new();
//! input.read_to_end(&mut rest).await?;
//! let mut out = Vec::new();
//! out.write_all(&rest).await?;
//! assert_eq!(out, b"world\n");
//! # std::io::Result::Ok(())
//! # }).unwrap();
//! ```

mod copy_bidirectional;

pub use copy_bidirectional::copy_bidirectional;
pub use futures_lite::io::{
    copy, empty, repeat, sink, split, AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt,
    AsyncSeek, AsyncSeekExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter, Cursor, Empty, Error,
    ErrorKind, ReadHalf, Repeat, Result, SeekFrom, Sink, WriteHalf,
};
