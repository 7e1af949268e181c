//! TLS with rustls (feature `tls`), for the async streams: a
//! [`TlsAcceptor`] (server) or [`TlsConnector`] (client) turns a
//! [`TcpStream`](crate::TcpStream) or [`UnixStream`](crate::unix::UnixStream)
//! into a [`TlsStream`] once the handshake is done. The engine has TLS too:
//! [`Options::tls`](crate::engine::Options::tls).
//!
//! Configuration is rustls's own ([`rustls::ServerConfig`],
//! [`rustls::ClientConfig`]), re-exported here so the version matches; the
//! crypto provider is `ring`.
//!
//! Both faces share one TLS core: ciphertext comes from a connection's
//! inbound ring into rustls, which decrypts it in place and keeps the
//! plaintext until it is read; what is written is encrypted by rustls and
//! its records go into the connection's outbound ring. A byte read is
//! copied once out of rustls (into the caller's buffer, or none with
//! `fill_buf`); a byte written is copied once, by rustls, as it encrypts.
//!
//! # Examples
//!
//! See [`TlsAcceptor`].

mod handshake;
mod split;
mod stream;
mod traits;

pub use handshake::{TlsAcceptor, TlsConnector, TlsService, DEFAULT_HANDSHAKE_TIMEOUT};
pub use rustls;
pub use split::{TlsReadHalf, TlsWriteHalf};
pub use stream::TlsStream;
