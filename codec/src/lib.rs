//! Frame codecs for `runtime`: turn a stream of bytes into frames and back.
//!
//! - [`Decoder`] and [`Encoder`], the same shape as tokio-util's, over
//!   [`bytes::BytesMut`]; [`BufDecoder`] decodes straight from any [`bytes::Buf`],
//!   such as a connection's inbound buffer in the callback engine.
//! - The codecs gnet v1 had and netty defines: [`LinesCodec`] (and
//!   [`LinesBytesCodec`]), [`DelimiterCodec`], [`FixedLengthCodec`],
//!   [`LengthFieldCodec`] (the full netty configuration) and [`BytesCodec`]. Each has
//!   an error type named after it that says what went wrong.
//! - [`Framed`], [`FramedRead`] and [`FramedWrite`] run a codec over any futures-io
//!   `AsyncRead` / `AsyncWrite`, as a [`futures_core::Stream`] of frames and a
//!   [`futures_sink::Sink`] (or the inherent `send`).
//!
//! Every decoder keeps its memory bounded whatever the input: lines and chunks have
//! a maximum length (an over-long one gives one error, then decoding resumes after
//! it), and a length field is checked against the maximum frame length before any
//! payload is buffered. Bad input is an error, never a panic; end of file in the
//! middle of a frame is an error, never a silent drop.
//!
//! # Examples
//!
//! A line-based exchange over an in-memory transport:
//!
//! ```
//! use futures_lite::{future, io::Cursor, StreamExt};
//! use runtime::codec::{Framed, LinesCodec, LinesCodecError};
//!
//! future::block_on(async {
//!     let io = Cursor::new(b"PING\r\nECHO hello\n".to_vec());
//!     let mut framed = Framed::new(io, LinesCodec::new());
//!
//!     let mut replies = Vec::new();
//!     while let Some(line) = framed.next().await {
//!         let line = line?;
//!         replies.push(match line.split_once(' ') {
//!             Some(("ECHO", text)) => text.to_string(),
//!             _ => "PONG".to_string(),
//!         });
//!     }
//!     assert_eq!(replies, ["PONG", "hello"]);
//!
//!     for reply in &replies {
//!         framed.send(reply).await?;
//!     }
//!     assert!(framed.get_ref().get_ref().ends_with(b"PONG\nhello\n"));
//!     Ok::<(), LinesCodecError>(())
//! })?;
//! # Ok::<(), LinesCodecError>(())
//! ```

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod bytes_codec;
mod decoder;
mod delimiter;
mod encoder;
mod fixed_length;
mod framed;
mod framed_impl;
mod framed_read;
mod framed_write;
mod input;
mod length_field;
mod lines;

pub use bytes_codec::{BytesCodec, BytesCodecError};
pub use decoder::{BufDecoder, Decoder};
pub use delimiter::{DelimiterCodec, DelimiterCodecError, DEFAULT_MAX_CHUNK_LENGTH};
pub use encoder::Encoder;
pub use fixed_length::{FixedLengthCodec, FixedLengthCodecError};
pub use framed::{Framed, FramedParts};
pub use framed_read::FramedRead;
pub use framed_write::FramedWrite;
pub use length_field::{
    LengthFieldCodec, LengthFieldCodecBuilder, LengthFieldCodecError, DEFAULT_MAX_FRAME_LENGTH,
};
pub use lines::{LinesBytesCodec, LinesCodec, LinesCodecError, DEFAULT_MAX_LINE_LENGTH};
