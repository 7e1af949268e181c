//! The TLS examples' server configuration: the certificate and key from
//! `--cert`/`--key` (PEM files), or a self-signed certificate for
//! `localhost` and 127.0.0.1 made at start with rcgen, whose PEM is written
//! to a file a client can trust (`curl --cacert`, `openssl s_client
//! -CAfile`).

// Each example uses the part it needs.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use runtime::net::tls::rustls::pki_types::pem::PemObject;
use runtime::net::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use runtime::net::tls::rustls::{self, ServerConfig};

use super::args::Args;

/// A new self-signed certificate for `localhost` and 127.0.0.1, and its
/// key.
pub fn self_signed() -> (rcgen::Certificate, PrivateKeyDer<'static>) {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap_or_else(|err| fail(&format!("rcgen: {err}")));
    let key = PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    (made.cert, key)
}

/// The server's certificate chain and key: from `--cert` and `--key`, or
/// self-signed (and its PEM written to a temporary file, named on stderr).
pub fn certificate(
    args: &Args,
    name: &str,
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let cert: String = args.get("cert", String::new());
    let key: String = args.get("key", String::new());
    if !cert.is_empty() && !key.is_empty() {
        let chain = CertificateDer::pem_file_iter(&cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .unwrap_or_else(|err| fail(&format!("--cert {cert}: {err}")));
        let key = PrivateKeyDer::from_pem_file(&key)
            .unwrap_or_else(|err| fail(&format!("--key {key}: {err}")));
        return (chain, key);
    }
    if !cert.is_empty() || !key.is_empty() {
        fail("--cert and --key go together");
    }
    let (cert, key) = self_signed();
    let path: PathBuf = std::env::temp_dir().join(format!("{name}-cert.pem"));
    match std::fs::write(&path, cert.pem()) {
        Ok(()) => eprintln!(
            "{name}: self-signed certificate for localhost in {}",
            path.display()
        ),
        Err(err) => eprintln!("{name}: self-signed certificate (not saved: {err})"),
    }
    (vec![cert.der().clone()], key)
}

/// A server configuration with `chain` and `key`, session resumption on
/// (tickets and the in-memory cache), and `alpn` offered.
pub fn config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap_or_else(|err| fail(&format!("certificate and key: {err}")));
    config.ticketer = rustls::crypto::ring::Ticketer::new()
        .unwrap_or_else(|err| fail(&format!("ticketer: {err}")));
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// [`config`] with the certificate of [`certificate`].
pub fn server_config(args: &Args, name: &str, alpn: &[&[u8]]) -> Arc<ServerConfig> {
    let (chain, key) = certificate(args, name);
    config(chain, key, alpn)
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2);
}
