//! Certificates made in the test (rcgen): a CA, server and client leaves
//! it signs, and rustls configurations over them.

#![allow(dead_code)]

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use runtime_net::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use runtime_net::tls::rustls::server::WebPkiClientVerifier;
use runtime_net::tls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

/// A certificate authority of the test's own.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key.
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Leaf {
    fn clone(&self) -> Leaf {
        Leaf {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl Ca {
    pub fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    pub fn cert(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A leaf certificate for `names`, signed by this CA.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = CertificateParams::new(names).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        }
    }

    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert()).unwrap();
        roots
    }

    /// A server configuration with `leaf`, session tickets on.
    pub fn server(&self, leaf: &Leaf) -> ServerConfig {
        let mut config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(leaf.chain.clone(), leaf.key.clone_key())
            .unwrap();
        config.ticketer = rustls::crypto::ring::Ticketer::new().unwrap();
        config
    }

    /// A server configuration that asks for a client certificate signed by
    /// this CA.
    pub fn server_mutual(&self, leaf: &Leaf) -> ServerConfig {
        let verifier = WebPkiClientVerifier::builder(Arc::new(self.roots()))
            .build()
            .unwrap();
        ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(leaf.chain.clone(), leaf.key.clone_key())
            .unwrap()
    }

    /// A client configuration trusting this CA.
    pub fn client(&self) -> ClientConfig {
        ClientConfig::builder()
            .with_root_certificates(self.roots())
            .with_no_client_auth()
    }

    /// A client configuration trusting this CA and presenting `leaf`.
    pub fn client_with_cert(&self, leaf: &Leaf) -> ClientConfig {
        ClientConfig::builder()
            .with_root_certificates(self.roots())
            .with_client_auth_cert(leaf.chain.clone(), leaf.key.clone_key())
            .unwrap()
    }
}

pub fn name(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_string()).unwrap()
}

/// The usual pair: a server certificate for "localhost", its server
/// configuration and a client configuration trusting it.
pub fn localhost() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let ca = Ca::new();
    let leaf = ca.leaf(&["localhost"]);
    (Arc::new(ca.server(&leaf)), Arc::new(ca.client()))
}
