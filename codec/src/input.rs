//! The one place where codecs meet their input: a `BytesMut` (async `Framed`) or any
//! `Buf` (the callback engine). Each codec's decoding logic is written once, generic
//! over [`Input`], and runs unchanged on both.

use std::mem;

use bytes::{Buf, Bytes, BytesMut};

/// Buffered bytes a decoder reads from the front of.
pub(crate) trait Input {
    /// All readable bytes, contiguous.
    fn bytes(&self) -> &[u8];
    /// Drops the first `n` bytes.
    fn advance(&mut self, n: usize);
    /// Removes the first `n` bytes and returns them as a frame.
    fn take_frame(&mut self, n: usize) -> Bytes;
}

impl Input for BytesMut {
    #[inline]
    fn bytes(&self) -> &[u8] {
        self
    }

    #[inline]
    fn advance(&mut self, n: usize) {
        Buf::advance(self, n);
    }

    #[inline]
    fn take_frame(&mut self, n: usize) -> Bytes {
        self.split_to(n).freeze()
    }
}

/// A contiguous `Buf`: its first chunk holds every readable byte.
struct ContiguousBuf<'a, B>(&'a mut B);

impl<B: Buf> Input for ContiguousBuf<'_, B> {
    #[inline]
    fn bytes(&self) -> &[u8] {
        self.0.chunk()
    }

    #[inline]
    fn advance(&mut self, n: usize) {
        self.0.advance(n);
    }

    #[inline]
    fn take_frame(&mut self, n: usize) -> Bytes {
        self.0.copy_to_bytes(n)
    }
}

/// A codec whose decoding is written over [`Input`]; [`decode_buf`] turns it into a
/// [`BufDecoder`](crate::BufDecoder).
pub(crate) trait DecodeInput {
    type Item;
    type Error;

    fn decode_input<I: Input>(&mut self, src: &mut I) -> Result<Option<Self::Item>, Self::Error>;

    fn decode_input_eof<I: Input>(
        &mut self,
        src: &mut I,
    ) -> Result<Option<Self::Item>, Self::Error>;

    /// Bytes moved out of a non-contiguous `Buf`, decoded before any new input.
    fn staging(&mut self) -> &mut BytesMut;
}

/// Decodes from `src` in place when it is contiguous and nothing is staged; otherwise
/// appends `src` to the codec's staging buffer and decodes from that. The codec's
/// scanning state stays valid either way: it is an offset into the logical input
/// (staged bytes, then `src`), whose front only ever moves by consumed bytes.
pub(crate) fn decode_buf<D: DecodeInput, B: Buf>(
    codec: &mut D,
    src: &mut B,
    eof: bool,
) -> Result<Option<D::Item>, D::Error> {
    if codec.staging().is_empty() && src.chunk().len() == src.remaining() {
        let mut input = ContiguousBuf(src);
        return if eof {
            codec.decode_input_eof(&mut input)
        } else {
            codec.decode_input(&mut input)
        };
    }
    let mut staged = mem::take(codec.staging());
    staged.reserve(src.remaining());
    while src.has_remaining() {
        let chunk = src.chunk();
        let n = chunk.len();
        if n == 0 {
            break; // a `Buf` that breaks its contract; never spin on it
        }
        staged.extend_from_slice(chunk);
        src.advance(n);
    }
    let result = if eof {
        codec.decode_input_eof(&mut staged)
    } else {
        codec.decode_input(&mut staged)
    };
    // An empty staging buffer is dropped so that an idle connection holds no memory.
    if !staged.is_empty() {
        *codec.staging() = staged;
    }
    result
}

#[cfg(test)]
mod tests {
    use bytes::{Buf, BufMut};

    use super::DecodeInput;
    use crate::{BufDecoder, LengthFieldCodec};

    #[test]
    fn non_contiguous_buf_is_staged_and_decoded_the_same() {
        let mut wire = Vec::new();
        wire.put_u32(3);
        wire.put_slice(b"abc");
        wire.put_u32(2);
        wire.put_slice(b"d");
        // The first frame straddles the two pieces.
        let (head, tail) = wire.split_at(5);
        let mut src = head.chain(tail);
        let mut codec = LengthFieldCodec::new();
        assert_eq!(
            codec.decode_buf(&mut src).unwrap().as_deref(),
            Some(&b"abc"[..])
        );
        assert!(
            !src.has_remaining(),
            "a non-contiguous buffer is moved to staging"
        );
        assert_eq!(
            codec.staging().len(),
            5,
            "the partial frame waits in staging"
        );
        assert_eq!(codec.decode_buf(&mut src).unwrap(), None);
        let mut more: &[u8] = b"e";
        assert_eq!(
            codec.decode_buf(&mut more).unwrap().as_deref(),
            Some(&b"de"[..])
        );
        assert!(codec.staging().is_empty());
        assert_eq!(
            codec.staging().capacity(),
            0,
            "an empty staging buffer is freed"
        );
    }
}
