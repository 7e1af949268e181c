//! The errors a connection keeps: the first send error, reported again by
//! every later write, and the error of a write after `shutdown`.

use std::io;

/// A socket error kept to be reported again by every later write.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StoredError {
    Os(i32),
    Kind(io::ErrorKind),
}

impl StoredError {
    pub(crate) fn from_io(err: &io::Error) -> Self {
        match err.raw_os_error() {
            Some(code) => StoredError::Os(code),
            None => StoredError::Kind(err.kind()),
        }
    }

    pub(crate) fn to_io(self) -> io::Error {
        match self {
            StoredError::Os(code) => io::Error::from_raw_os_error(code),
            StoredError::Kind(io::ErrorKind::WriteZero) => io::Error::new(
                io::ErrorKind::WriteZero,
                "the socket accepted no bytes (write returned 0)",
            ),
            StoredError::Kind(kind) => io::Error::from(kind),
        }
    }
}

/// The error of a write after `shutdown` (async streams and engine
/// connections alike).
#[cold]
pub(crate) fn write_shut_down() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the write side was shut down")
}
