//! TCP: listeners, streams and their halves.

mod group;
mod listener;
mod socket;
mod stream;

pub use crate::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
pub use listener::{Incoming, TcpListener, TcpListenerBuilder};
pub use socket::TcpSocket;
pub use stream::{IntoStdError, TcpStream};
