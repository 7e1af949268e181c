//! Unix domain sockets: a listener and streams with the same ring buffers,
//! halves and traits as TCP, and datagram sockets.

mod datagram;
mod listener;
pub(crate) mod path;
mod stream;

pub use crate::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
pub use datagram::{Datagram, UnixDatagram};
pub use listener::UnixListener;
pub use std::os::unix::net::SocketAddr;
pub use stream::UnixStream;
