use std::io;

use bytes::BytesMut;

/// Encodes frames into a buffer of bytes.
///
/// The shape is tokio-util's. [`FramedWrite`](crate::FramedWrite) and
/// [`Framed`](crate::Framed) encode into their write buffer and flush it to the
/// transport.
///
/// # Examples
///
/// ```
/// use bytes::{BufMut, BytesMut};
/// use runtime::codec::Encoder;
///
/// struct ShortFrames;
///
/// impl Encoder<&[u8]> for ShortFrames {
///     type Error = std::io::Error;
///
///     fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), std::io::Error> {
///         let len = u8::try_from(item.len())
///             .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "too long"))?;
///         dst.put_u8(len);
///         dst.put_slice(item);
///         Ok(())
///     }
/// }
///
/// let mut dst = BytesMut::new();
/// ShortFrames.encode(&b"hi"[..], &mut dst)?;
/// assert_eq!(&dst[..], b"\x02hi");
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Encoder<Item> {
    /// The error an encoder reports. I/O errors of the transport are converted into
    /// it, so a sink of frames carries one error type.
    type Error: From<io::Error>;

    /// Appends the encoding of `item` to `dst`.
    ///
    /// # Errors
    ///
    /// Returns the encoder's error when `item` cannot be encoded (each codec says
    /// when). Nothing is written to `dst` in that case.
    fn encode(&mut self, item: Item, dst: &mut BytesMut) -> Result<(), Self::Error>;
}
