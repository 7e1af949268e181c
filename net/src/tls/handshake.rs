//! [`TlsAcceptor`] and [`TlsConnector`]: a stream in, a [`TlsStream`] out
//! once the handshake is done, or an error within the handshake timeout.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use futures_lite::io::{AsyncBufRead, AsyncWrite};
use runtime_executor::time;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};

use super::TlsStream;
use crate::io::tls::Session;
use crate::serve::Service;
use crate::TcpStream;

/// How long a handshake may take unless told otherwise: a peer that stops
/// half way holds its connection no longer than this.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server side of TLS: makes a [`TlsStream`] of an accepted stream.
///
/// Cheap to clone (the configuration is shared). What the server offers
/// is rustls's [`ServerConfig`]: certificates (or a resolver choosing one by
/// the name the client asks for, as rustls's `ResolvesServerCertUsingSni`
/// does), ALPN protocols, client certificates (a `WebPkiClientVerifier`),
/// session resumption (a ticketer, a session cache).
///
/// # Examples
///
/// A TLS echo server and a client on one core, with a self-signed
/// certificate:
///
/// ```
/// use std::sync::Arc;
///
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use runtime::net::tls::rustls::pki_types::{PrivateKeyDer, ServerName};
/// use runtime::net::tls::rustls::{ClientConfig, RootCertStore, ServerConfig};
/// use runtime::net::tls::{TlsAcceptor, TlsConnector};
/// use runtime::net::{TcpListener, TcpStream};
///
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let key = PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
/// let server = ServerConfig::builder()
///     .with_no_client_auth()
///     .with_single_cert(vec![cert.cert.der().clone()], key)
///     .unwrap();
/// let mut roots = RootCertStore::empty();
/// roots.add(cert.cert.der().clone()).unwrap();
/// let client = ClientConfig::builder()
///     .with_root_certificates(roots)
///     .with_no_client_auth();
///
/// let rt = runtime::Runtime::builder().cores(1).build().unwrap();
/// rt.block_on(async move {
///     let acceptor = TlsAcceptor::new(Arc::new(server));
///     let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     runtime::spawn(async move {
///         let (stream, _) = listener.accept().await.unwrap();
///         let mut tls = acceptor.accept(stream).await.unwrap();
///         let mut buf = [0u8; 5];
///         tls.read_exact(&mut buf).await.unwrap();
///         tls.write_all(&buf).await.unwrap();
///         tls.close().await.unwrap(); // close_notify
///     });
///
///     let connector = TlsConnector::new(Arc::new(client));
///     let stream = TcpStream::connect(addr).await.unwrap();
///     let name = ServerName::try_from("localhost").unwrap();
///     let mut tls = connector.connect(name, stream).await.unwrap();
///     tls.write_all(b"hello").await.unwrap();
///     let mut reply = Vec::new();
///     tls.read_to_end(&mut reply).await.unwrap(); // a clean end: close_notify came
///     assert_eq!(reply, b"hello");
/// });
/// ```
#[derive(Clone, Debug)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    handshake_timeout: Duration,
}

impl TlsAcceptor {
    /// An acceptor offering `config`, with the default handshake timeout
    /// ([`DEFAULT_HANDSHAKE_TIMEOUT`]).
    pub fn new(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor {
            config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// How long a handshake may take before the connection is given up
    /// with `TimedOut`.
    pub fn handshake_timeout(mut self, timeout: Duration) -> TlsAcceptor {
        self.handshake_timeout = timeout;
        self
    }

    /// The configuration offered.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Runs the server side of the handshake over `stream` (a
    /// [`TcpStream`], a [`UnixStream`](crate::unix::UnixStream)).
    ///
    /// # Errors
    ///
    /// `InvalidData` with rustls's error inside when the handshake fails
    /// (what the client sent is not TLS, no protocol or certificate in
    /// common, its certificate refused): the alert telling the client why
    /// is sent. `UnexpectedEof` when the client closes first, `TimedOut`
    /// past the handshake timeout, or the stream's own error.
    pub fn accept<IO>(&self, stream: IO) -> impl Future<Output = io::Result<TlsStream<IO>>>
    where
        IO: AsyncBufRead + AsyncWrite + Unpin,
    {
        let session = Session::server(self.config.clone());
        handshake(stream, session, self.handshake_timeout)
    }

    /// A [`Service`] that serves `service` over TLS: each accepted
    /// connection is handshaken, then handed to `service` as a
    /// [`TlsStream`]. A failed handshake ends that connection only and
    /// counts in [`ServerStats::errors`](crate::ServerStats::errors). The
    /// handshake's own flights are no reply for
    /// [`Server::first_read_timeout`](crate::Server::first_read_timeout):
    /// its deadline waits for the service's first write.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    ///
    /// use futures_lite::io::{copy, AsyncWriteExt};
    /// use runtime::net::tls::rustls::ServerConfig;
    /// use runtime::net::tls::{TlsAcceptor, TlsStream};
    /// use runtime::net::Server;
    ///
    /// async fn serve(config: Arc<ServerConfig>) -> std::io::Result<()> {
    ///     let acceptor = TlsAcceptor::new(config);
    ///     Server::new("0.0.0.0:8443".parse().unwrap())
    ///         .serve(acceptor.service(|stream: TlsStream| async move {
    ///             let (reader, mut writer) = stream.into_split();
    ///             copy(reader, &mut writer).await?;
    ///             writer.close().await
    ///         }))
    ///         .await
    /// }
    /// ```
    pub fn service<F, Fut>(&self, service: F) -> TlsService<F>
    where
        F: Fn(TlsStream) -> Fut,
        Fut: Future<Output = io::Result<()>>,
    {
        TlsService {
            acceptor: self.clone(),
            service,
        }
    }
}

impl From<Arc<ServerConfig>> for TlsAcceptor {
    fn from(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor::new(config)
    }
}

/// A [`Service`] over TLS: see [`TlsAcceptor::service`].
#[derive(Debug)]
pub struct TlsService<F> {
    acceptor: TlsAcceptor,
    service: F,
}

impl<F, Fut> Service for TlsService<F>
where
    F: Fn(TlsStream) -> Fut,
    Fut: Future<Output = io::Result<()>>,
{
    async fn call(&self, stream: TcpStream) -> io::Result<()> {
        // The handshake's flights are no reply: `Server::first_read_timeout`
        // waits for the service's first write, so a client that completes
        // the handshake and then trickles (or sends nothing) is still cut
        // off at the deadline.
        let probe = stream.write_probe();
        let mut accept = std::pin::pin!(self.acceptor.accept(stream));
        let stream = future::poll_fn(|cx| {
            let polled = accept.as_mut().poll(cx);
            probe.forget();
            polled
        })
        .await?;
        (self.service)(stream).await
    }
}

/// The client side of TLS: makes a [`TlsStream`] of a connected stream.
///
/// Cheap to clone. What the client trusts and offers is rustls's
/// [`ClientConfig`]: root certificates, ALPN protocols, a client
/// certificate, the session cache that lets a later handshake to the same
/// server resume.
///
/// # Examples
///
/// See [`TlsAcceptor`].
#[derive(Clone, Debug)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    handshake_timeout: Duration,
}

impl TlsConnector {
    /// A connector with `config`, and the default handshake timeout
    /// ([`DEFAULT_HANDSHAKE_TIMEOUT`]).
    pub fn new(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector {
            config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// How long a handshake may take before it is given up with
    /// `TimedOut`.
    pub fn handshake_timeout(mut self, timeout: Duration) -> TlsConnector {
        self.handshake_timeout = timeout;
        self
    }

    /// The configuration used.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Runs the client side of the handshake over `stream`, for the server
    /// named `domain` (sent as SNI, and checked against its certificate).
    ///
    /// # Errors
    ///
    /// `InvalidData` with rustls's error inside when the handshake fails
    /// (the server's certificate is not trusted or not for `domain`, no
    /// protocol in common), `UnexpectedEof` when the server closes first,
    /// `TimedOut` past the handshake timeout, or the stream's own error.
    pub fn connect<IO>(
        &self,
        domain: ServerName<'static>,
        stream: IO,
    ) -> impl Future<Output = io::Result<TlsStream<IO>>>
    where
        IO: AsyncBufRead + AsyncWrite + Unpin,
    {
        let session = Session::client(self.config.clone(), domain);
        handshake(stream, session, self.handshake_timeout)
    }
}

impl From<Arc<ClientConfig>> for TlsConnector {
    fn from(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector::new(config)
    }
}

/// Both sides' handshake: until it is done, fails, or `timeout` passes.
async fn handshake<IO>(
    stream: IO,
    session: io::Result<Session>,
    timeout: Duration,
) -> io::Result<TlsStream<IO>>
where
    IO: AsyncBufRead + AsyncWrite + Unpin,
{
    let mut tls = TlsStream::new(stream, session?);
    match time::timeout(timeout, future::poll_fn(|cx| tls.poll_handshake(cx))).await {
        Ok(Ok(())) => Ok(tls),
        Ok(Err(err)) => {
            log::debug!("TLS handshake failed: {err}");
            Err(err)
        }
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS: the handshake did not finish within its timeout",
        )),
    }
}
