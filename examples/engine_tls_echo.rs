//! A TLS echo server on the callback engine: `engine_echo` with
//! `Options::tls`. It makes a self-signed certificate for `localhost` at
//! start, unless `--cert` and `--key` name PEM files.
//!
//! ```text
//! cargo run --release --features tls --example engine_tls_echo -- --port 7443 --cores 2
//! openssl s_client -connect 127.0.0.1:7443 -servername localhost
//! python3 -c 'import socket, ssl
//! ctx = ssl.create_default_context(); ctx.check_hostname = False
//! ctx.verify_mode = ssl.CERT_NONE
//! s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", 7443)))
//! s.sendall(b"hello\n"); print(s.recv(100))'
//! ```
//!
//! The handler is the plain echo's: `on_traffic` sees plaintext and what
//! it writes is encrypted; the handshake, `close_notify` and the records'
//! framing are the engine's (`on_open` comes after the handshake, and
//! `Conn::tls()` says what was negotiated). Ctrl-c or SIGTERM stops it
//! gracefully.

use std::sync::Arc;

use runtime::net::engine::{self, Action, Conn, EventHandler, Options};
use runtime::net::tls::rustls;
use rustls::ServerConfig;

#[path = "support/args.rs"]
mod args;
#[path = "support/tls.rs"]
mod tls;

#[cfg(test)]
#[path = "support/engine_testing.rs"]
mod engine_testing;

const USAGE: &str = "engine_tls_echo [--port 7443] [--cores N] [--cert cert.pem --key key.pem]";

#[derive(Clone)]
struct Echo;

impl EventHandler for Echo {
    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        let (inbound, outbound) = conn.split();
        // Never refused here: the loop stops calling `on_traffic` while
        // the outbound buffer (ciphertext) is above its high watermark.
        match outbound.write(inbound.next(usize::MAX)) {
            Ok(_) => Action::None,
            Err(_) => Action::Close,
        }
    }
}

fn options(cores: usize, config: Arc<ServerConfig>) -> Options {
    Options::new().loops(cores).tls(config)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args::Args::parse(USAGE);
    let port: u16 = args.get("port", 7443);
    let cores = args.cores();
    let config = tls::server_config(&args, "engine_tls_echo", &[]);
    eprintln!("engine_tls_echo: listening on 127.0.0.1:{port} (TLS) with {cores} loop(s)");
    engine::run(
        Echo,
        &format!("tcp://127.0.0.1:{port}"),
        options(cores, config).handle_signals(true),
    )?;
    eprintln!("engine_tls_echo: stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

    use super::*;
    use crate::engine_testing::with_engine;

    #[test]
    fn a_rustls_client_gets_its_echo_and_a_clean_end() {
        let (cert, key) = tls::self_signed();
        let mut roots = RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let config = tls::config(vec![cert.der().clone()], key, &[]);
        let client = Arc::new(
            ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        with_engine(Echo, options(1, config), |addr| {
            let sock = TcpStream::connect(addr).unwrap();
            sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            let conn = ClientConnection::new(client, name).unwrap();
            let mut tls = StreamOwned::new(conn, sock);
            let message = vec![b'x'; 100_000];
            tls.write_all(&message).unwrap();
            let mut echo = vec![0; message.len()];
            tls.read_exact(&mut echo).unwrap();
            assert_eq!(echo, message);
            tls.conn.send_close_notify();
            tls.flush().unwrap();
        });
    }
}
