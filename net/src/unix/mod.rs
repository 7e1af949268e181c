//! Unix domain stream sockets: a listener and streams with the same ring
//! buffers, halves and traits as TCP.

mod listener;
mod stream;

pub use crate::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
pub use listener::UnixListener;
pub use std::os::unix::net::SocketAddr;
pub use stream::UnixStream;
