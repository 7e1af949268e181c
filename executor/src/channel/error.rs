//! Errors shared by every channel in [`crate::channel`].
//!
//! The `Debug` impls never print the carried value, so they do not require
//! `T: Debug` (a channel of closures or sockets can still be `unwrap`ped).

use std::error::Error;
use std::fmt;

/// The receiving half was dropped or closed, so the value could not be sent.
///
/// The value is handed back in the public field.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// Returns the value that could not be sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed")
    }
}

impl<T> Error for SendError<T> {}

/// Why a `try_send` did not send its value; the value is handed back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// The channel is at capacity; the same send may succeed later.
    Full(T),
    /// The receiving half was dropped or closed; no send will ever succeed.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// Returns the value that could not be sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(value) | TrySendError::Closed(value) => value,
        }
    }

    /// Returns `true` if the send failed because the channel was full.
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }

    /// Returns `true` if the send failed because the channel was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, TrySendError::Closed(_))
    }
}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(err: SendError<T>) -> Self {
        TrySendError::Closed(err.0)
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("no available capacity"),
            TrySendError::Closed(_) => f.write_str("channel closed"),
        }
    }
}

impl<T> Error for TrySendError<T> {}

/// Why a `try_recv` returned no value.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing is buffered right now, but a sender may still send.
    Empty,
    /// Nothing is buffered and nothing ever will be: every sender is gone or
    /// the channel was closed.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvError::Disconnected => f.write_str("receiving on a closed channel"),
        }
    }
}

impl Error for TryRecvError {}

/// A oneshot sender was dropped (or the receiver closed) without a value
/// being sent.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct RecvError(pub(crate) ());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed")
    }
}

impl Error for RecvError {}

#[cfg(test)]
mod tests {
    use super::*;

    struct NotDebug;

    #[test]
    fn debug_does_not_need_debug_values() {
        assert_eq!(format!("{:?}", SendError(NotDebug)), "SendError { .. }");
        assert_eq!(format!("{:?}", TrySendError::Full(NotDebug)), "Full(..)");
        assert_eq!(
            format!("{:?}", TrySendError::Closed(NotDebug)),
            "Closed(..)"
        );
    }

    #[test]
    fn display_says_what_happened() {
        assert_eq!(SendError(1).to_string(), "channel closed");
        assert_eq!(TrySendError::Full(1).to_string(), "no available capacity");
        assert_eq!(TrySendError::Closed(1).to_string(), "channel closed");
        assert_eq!(
            TryRecvError::Empty.to_string(),
            "receiving on an empty channel"
        );
        assert_eq!(
            TryRecvError::Disconnected.to_string(),
            "receiving on a closed channel"
        );
        assert_eq!(RecvError(()).to_string(), "channel closed");
    }

    #[test]
    fn values_come_back() {
        assert_eq!(SendError(7).into_inner(), 7);
        let full = TrySendError::Full(8);
        assert!(full.is_full() && !full.is_closed());
        assert_eq!(full.into_inner(), 8);
        let closed: TrySendError<i32> = SendError(9).into();
        assert!(closed.is_closed() && !closed.is_full());
        assert_eq!(closed.into_inner(), 9);
    }

    #[test]
    fn errors_are_std_errors() {
        fn boxed<E: Error + Send + Sync + 'static>(e: E) -> Box<dyn Error + Send + Sync> {
            Box::new(e)
        }
        assert_eq!(boxed(SendError(NotDebug)).to_string(), "channel closed");
        assert_eq!(
            boxed(TryRecvError::Empty).to_string(),
            "receiving on an empty channel"
        );
    }
}
