//! The TLS set-up of the TLS benchmarks (`tokio_tls_echo`, `tls_loadgen`,
//! `tls_cert`): rustls 0.23 with the `ring` provider, as the runtime's own
//! TLS uses.
//!
//! - Server: [`server_config`] is what `rustls::ServerConfig::builder()`
//!   gives with only `ring` built (TLS 1.3 and 1.2, the provider's default suites and groups), one
//!   certificate, session tickets on (`ring::Ticketer`, two tickets after
//!   each handshake, rustls's default) beside the default in-memory session
//!   cache, so a client can resume either way.
//! - Certificates: PEM files (`--cert`, `--key`), or a self-signed ECDSA
//!   P-256 certificate for `localhost` made with rcgen at start
//!   ([`self_signed`]), as the runtime's TLS examples do.
//! - Client: [`client_config`] trusts the certificate of a PEM file
//!   (`--ca`, full chain validation), or, without one, any certificate
//!   ([`BenchOnlyAnyServerCert`]: bench-only), still verifying the server's
//!   handshake signature. With `verify_every` above 1, those checks run on
//!   one full handshake in that many ([`SampledVerifier`]), so that a
//!   handshake benchmark measures the server rather than the client's
//!   signature checks.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

/// The name the certificate is for, and the client asks for.
pub const SERVER_NAME: &str = "localhost";

/// A self-signed ECDSA P-256 certificate for [`SERVER_NAME`] and its key,
/// both PEM: `(certificate, key)`.
///
/// # Errors
///
/// rcgen's, as `io::ErrorKind::Other`.
pub fn self_signed() -> io::Result<(String, String)> {
    let certified = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()])
        .map_err(io::Error::other)?;
    Ok((certified.cert.pem(), certified.signing_key.serialize_pem()))
}

/// The certificate chain and key of PEM files `cert` and `key`, or of a new
/// [`self_signed`] certificate when both are `None`.
///
/// # Errors
///
/// A file that cannot be read or holds no certificate (no key), or only one
/// of the two paths given: `InvalidInput`.
pub fn certificate(
    cert: Option<&Path>,
    key: Option<&Path>,
) -> io::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| invalid(format!("{}: {e}", cert.display())))?;
            if chain.is_empty() {
                return Err(invalid(format!("{}: no certificate", cert.display())));
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| invalid(format!("{}: {e}", key.display())))?;
            Ok((chain, key))
        }
        (None, None) => {
            let (cert, key) = self_signed()?;
            let cert = CertificateDer::from_pem_slice(cert.as_bytes()).map_err(io::Error::other)?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(io::Error::other)?;
            Ok((vec![cert], key))
        }
        _ => Err(invalid("--cert and --key go together".to_owned())),
    }
}

/// The server configuration of every TLS server in the benchmarks.
///
/// # Errors
///
/// A key that does not match the certificate or that `ring` cannot use.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> io::Result<Arc<ServerConfig>> {
    // The process's default provider: `ring`, the only one built.
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    config.ticketer = ring::Ticketer::new().map_err(io::Error::other)?;
    Ok(Arc::new(config))
}

/// The load generator's client configuration: trusting the certificates
/// of PEM file `ca` (validated as a chain, for [`SERVER_NAME`]), or any
/// certificate without one ([`BenchOnlyAnyServerCert`]). With `resume`,
/// rustls's default in-memory session store (TLS 1.3 tickets); without,
/// no resumption: every handshake is a full one.
///
/// `kx_first`: the key-exchange group the client offers first, and so the
/// one its key share is for and the handshake uses (`X25519`, `secp256r1`,
/// `secp384r1`, any case); `None` keeps the provider's order (with rustls
/// 0.23.48 and `ring`: secp384r1, X25519, secp256r1).
///
/// `verify_every`: the server's certificate and handshake signature are
/// checked on the first full handshake and then on one in `verify_every`
/// ([`SampledVerifier`]); 1 (or 0) checks every one.
///
/// # Errors
///
/// `ca` cannot be read or holds no usable certificate; `kx_first` is not
/// a group of the provider.
pub fn client_config(
    ca: Option<&Path>,
    resume: bool,
    kx_first: Option<&str>,
    verify_every: u64,
) -> io::Result<Arc<ClientConfig>> {
    let mut provider = ClientConfig::builder().crypto_provider().as_ref().clone();
    if let Some(name) = kx_first {
        let Some(i) = provider
            .kx_groups
            .iter()
            .position(|g| format!("{:?}", g.name()).eq_ignore_ascii_case(name))
        else {
            let known: Vec<String> = provider
                .kx_groups
                .iter()
                .map(|g| format!("{:?}", g.name()))
                .collect();
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no key-exchange group {name:?} (the provider has {known:?})"),
            ));
        };
        let group = provider.kx_groups.remove(i);
        provider.kx_groups.insert(0, group);
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?;
    let provider = builder.crypto_provider().clone();
    let verifier: Arc<dyn ServerCertVerifier> = match ca {
        Some(ca) => {
            let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca)
                .map_err(|e| invalid(format!("{}: {e}", ca.display())))?
            {
                let cert = cert.map_err(|e| invalid(format!("{}: {e}", ca.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| invalid(format!("{}: {e}", ca.display())))?;
            }
            if roots.is_empty() {
                return Err(invalid(format!("{}: no certificate", ca.display())));
            }
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(io::Error::other)?
        }
        None => Arc::new(BenchOnlyAnyServerCert {
            provider: provider.clone(),
        }),
    };
    let verifier = if verify_every > 1 {
        Arc::new(SampledVerifier::new(verifier, verify_every))
    } else {
        verifier
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    if !resume {
        config.resumption = Resumption::disabled();
    }
    Ok(Arc::new(config))
}

/// BENCH ONLY, never for real traffic: accepts any server certificate
/// without looking at it (no chain, name or date check), so that the load
/// generator trusts whatever certificate a server made for itself. The
/// server's handshake signature is still verified against the certificate's
/// key, so the server does all its handshake work and the client proves it.
#[derive(Debug)]
pub struct BenchOnlyAnyServerCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for BenchOnlyAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// BENCH ONLY: a verifier that asks `inner` about the first full
/// handshake and then one in `every`, and takes every other on trust.
///
/// The server cannot tell which handshakes are checked, so it does all
/// its work on every one; the client saves the signature checks (an ECDSA
/// P-256 verification costs the client about twice what signing costs
/// the server), so that a handshake benchmark on two cores is bound by the
/// server. A server that signs wrongly still fails the run: the first
/// handshake is always checked.
#[derive(Debug)]
pub struct SampledVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    every: u64,
    certificates: AtomicU64,
    signatures: AtomicU64,
}

impl SampledVerifier {
    /// Checks one full handshake in `every` (at least 1) through `inner`.
    pub fn new(inner: Arc<dyn ServerCertVerifier>, every: u64) -> Self {
        SampledVerifier {
            inner,
            every: every.max(1),
            certificates: AtomicU64::new(0),
            signatures: AtomicU64::new(0),
        }
    }

    fn sampled(&self, count: &AtomicU64) -> bool {
        count
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(self.every)
    }
}

impl ServerCertVerifier for SampledVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.sampled(&self.certificates) {
            return Ok(ServerCertVerified::assertion());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if !self.sampled(&self.signatures) {
            return Ok(HandshakeSignatureValid::assertion());
        }
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if !self.sampled(&self.signatures) {
            return Ok(HandshakeSignatureValid::assertion());
        }
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The server name the client connects to.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).expect("a valid DNS name")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{ClientConnection, HandshakeKind, ServerConnection};

    /// Drives a client and a server connection in memory until neither has
    /// anything to send (the server's tickets included).
    fn handshake(client: &mut ClientConnection, server: &mut ServerConnection) {
        for _ in 0..10 {
            let mut progress = false;
            while client.wants_write() {
                let mut buf = Vec::new();
                client.write_tls(&mut buf).unwrap();
                server.read_tls(&mut &buf[..]).unwrap();
                server.process_new_packets().unwrap();
                progress = true;
            }
            while server.wants_write() {
                let mut buf = Vec::new();
                server.write_tls(&mut buf).unwrap();
                client.read_tls(&mut &buf[..]).unwrap();
                client.process_new_packets().unwrap();
                progress = true;
            }
            if !progress {
                return;
            }
        }
    }

    fn files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let (cert, key) = self_signed().unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        (c, k)
    }

    #[test]
    fn resumes_with_tickets_and_only_when_asked() {
        let dir = std::env::temp_dir().join(format!("tls-bench-test-{}", std::process::id()));
        let (cert, key) = files(&dir);
        let (chain, key) = certificate(Some(&cert), Some(&key)).unwrap();
        let server = server_config(chain, key).unwrap();
        assert!(server.ticketer.enabled());
        for (ca, resume) in [(Some(cert.as_path()), true), (None, true), (None, false)] {
            let client = client_config(ca, resume, None, 1).unwrap();
            let mut kinds = Vec::new();
            for _ in 0..3 {
                let mut c = ClientConnection::new(client.clone(), server_name()).unwrap();
                let mut s = ServerConnection::new(server.clone()).unwrap();
                handshake(&mut c, &mut s);
                assert!(!c.is_handshaking() && !s.is_handshaking());
                assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
                kinds.push(c.handshake_kind().unwrap());
            }
            let later = if resume {
                HandshakeKind::Resumed
            } else {
                HandshakeKind::Full
            };
            assert_eq!(kinds, [HandshakeKind::Full, later, later], "ca {ca:?}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_first_key_exchange_group_is_the_clients_choice() {
        let (chain, key) = certificate(None, None).unwrap();
        let server = server_config(chain, key).unwrap();
        for name in ["X25519", "secp256r1", "SECP384R1"] {
            let client = client_config(None, false, Some(name), 1).unwrap();
            let mut c = ClientConnection::new(client, server_name()).unwrap();
            let mut s = ServerConnection::new(server.clone()).unwrap();
            handshake(&mut c, &mut s);
            let group = c.negotiated_key_exchange_group().unwrap().name();
            assert!(
                format!("{group:?}").eq_ignore_ascii_case(name),
                "{name}: {group:?}"
            );
        }
        assert!(client_config(None, false, Some("x448"), 1).is_err());
    }

    #[test]
    fn a_ca_that_is_not_the_servers_is_refused() {
        let dir = std::env::temp_dir().join(format!("tls-bench-test-ca-{}", std::process::id()));
        let (other, _) = files(&dir);
        // The server has its own, new certificate.
        let (chain, key) = certificate(None, None).unwrap();
        let server = server_config(chain, key).unwrap();
        // A sampled verifier checks the first handshake all the same.
        for verify_every in [1, 16] {
            let client = client_config(Some(&other), false, None, verify_every).unwrap();
            let mut c = ClientConnection::new(client, server_name()).unwrap();
            let mut s = ServerConnection::new(server.clone()).unwrap();
            let mut buf = Vec::new();
            c.write_tls(&mut buf).unwrap();
            s.read_tls(&mut &buf[..]).unwrap();
            s.process_new_packets().unwrap();
            let mut buf = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut buf).unwrap();
            }
            c.read_tls(&mut &buf[..]).unwrap();
            assert!(
                c.process_new_packets().is_err(),
                "verify_every {verify_every}"
            );
        }
        assert!(certificate(Some(&other), None).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Counts what it is asked.
    #[derive(Debug)]
    struct Counting {
        inner: BenchOnlyAnyServerCert,
        asked: AtomicU64,
    }

    impl ServerCertVerifier for Counting {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            self.asked.fetch_add(1, Ordering::Relaxed);
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.asked.fetch_add(1, Ordering::Relaxed);
            self.inner.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.inner.supported_verify_schemes()
        }
    }

    #[test]
    fn a_sampled_verifier_checks_the_first_handshake_and_one_in_every() {
        let (chain, key) = certificate(None, None).unwrap();
        let server = server_config(chain, key).unwrap();
        let provider = ClientConfig::builder().crypto_provider().clone();
        let counting = Arc::new(Counting {
            inner: BenchOnlyAnyServerCert {
                provider: provider.clone(),
            },
            asked: AtomicU64::new(0),
        });
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SampledVerifier::new(counting.clone(), 4)))
            .with_no_client_auth();
        let mut client = client;
        client.resumption = Resumption::disabled();
        let client = Arc::new(client);
        for _ in 0..9 {
            let mut c = ClientConnection::new(client.clone(), server_name()).unwrap();
            let mut s = ServerConnection::new(server.clone()).unwrap();
            handshake(&mut c, &mut s);
            assert!(!c.is_handshaking());
        }
        // Handshakes 1, 5 and 9: the certificate and the signature each.
        assert_eq!(counting.asked.load(Ordering::Relaxed), 6);
    }
}
