//! Errors a connection reports to its user.

/// Why a connection operation failed, or how a connection ended abnormally.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum Error {
    /// The operation would block: no data to read yet, or no room to write.
    #[error("operation would block")]
    WouldBlock,
    /// The connection is not (or no longer) open for this operation.
    #[error("not connected")]
    NotConnected,
    /// The user already closed the sending side; no more data can be sent.
    #[error("connection closing: the sending side was shut down")]
    Closing,
    /// The peer refused the connection (RST in reply to our SYN).
    #[error("connection refused by the peer")]
    Refused,
    /// The peer reset an open connection.
    #[error("connection reset by the peer")]
    Reset,
    /// Retransmissions went unacknowledged for the configured number of tries.
    #[error("connection timed out")]
    TimedOut,
    /// The local user aborted the connection.
    #[error("connection aborted locally")]
    Aborted,
    /// ICMP said the peer cannot be reached: while connecting (a hard error), or earlier
    /// on a connection that then timed out (a soft one).
    #[error("peer unreachable (ICMP)")]
    Unreachable,
}

#[cfg(feature = "std")]
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        use std::io::ErrorKind;
        let kind = match e {
            Error::WouldBlock => ErrorKind::WouldBlock,
            Error::NotConnected => ErrorKind::NotConnected,
            Error::Closing => ErrorKind::BrokenPipe,
            Error::Refused => ErrorKind::ConnectionRefused,
            Error::Reset => ErrorKind::ConnectionReset,
            Error::TimedOut => ErrorKind::TimedOut,
            Error::Aborted => ErrorKind::ConnectionAborted,
            Error::Unreachable => ErrorKind::HostUnreachable,
        };
        std::io::Error::new(kind, e)
    }
}
