//! TCP: listeners, streams and their halves.

mod listener;
mod split;
mod stream;

pub use listener::{Incoming, TcpListener, TcpListenerBuilder};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
pub use stream::TcpStream;
