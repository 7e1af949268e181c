//! A closed connection's last stage, one loop for both faces: what it had
//! queued goes out as the peer makes room, until everything is sent, a
//! send fails, or the close deadline passes. The caller then drops the
//! socket, which closes it.
//!
//! The deadline counts from the close, not from the last room the peer
//! made: a peer that reads a byte now and then cannot hold the socket and
//! its buffered bytes past it.

use std::io;
use std::time::Instant;

use runtime_executor::AsyncFd;
use socket2::Socket;

/// Waits for room in `fd`'s send buffer and calls `send`, until `send`
/// reports everything sent (`Ok(true)`) or an error, or `deadline` passes.
/// `send` is called only after a writability edge: the caller has just
/// tried.
pub(crate) async fn linger(
    fd: &AsyncFd<Socket>,
    deadline: Instant,
    mut send: impl FnMut() -> io::Result<bool>,
) {
    loop {
        match runtime_executor::time::timeout_at(deadline, fd.writable()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return,
        }
        if !matches!(send(), Ok(false)) {
            return;
        }
    }
}
