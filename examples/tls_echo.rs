//! A TLS echo server (async face): writes back every byte it reads, over
//! TLS, on every connection, with one `SO_REUSEPORT` listener per core.
//!
//! ```text
//! cargo run --release --features tls --example tls_echo -- --port 7443 --cores 2
//! openssl s_client -connect 127.0.0.1:7443 -CAfile /tmp/tls_echo-cert.pem
//! ```
//!
//! Without `--cert`/`--key` (PEM files) it makes a self-signed certificate
//! for localhost at start. Each connection is served by
//! `TlsAcceptor::service` on `runtime::net::Server`: the handshake (at most
//! 10 s), then the echo; ctrl-c or SIGTERM stops it gracefully.

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use runtime::net::tls::{TlsAcceptor, TlsStream};
use runtime::net::Server;

#[path = "support/args.rs"]
mod args;
#[path = "support/tls.rs"]
mod tls;

const USAGE: &str = "tls_echo [--port 7443] [--cores N] [--cert PEM --key PEM]";

fn main() -> std::io::Result<()> {
    let args = args::Args::parse(USAGE);
    let port: u16 = args.get("port", 7443);
    let cores = args.cores();
    let acceptor = TlsAcceptor::new(tls::server_config(&args, "tls_echo", &[]));

    let rt = runtime::Runtime::builder().cores(cores).build()?;
    eprintln!("tls_echo: listening on 127.0.0.1:{port} with {cores} core(s)");
    let server = Server::new(([127, 0, 0, 1], port).into());
    server.run(&rt, move || acceptor.service(echo))?;
    eprintln!("tls_echo: stopped: {:?}", server.stats());
    Ok(())
}

async fn echo(mut stream: TlsStream) -> std::io::Result<()> {
    // Decrypted bytes are copied once, out of rustls into `buf`; `write_all`
    // encrypts them into the stream's outbound ring. 4 KiB in the task
    // itself: an idle connection holds no larger read buffer.
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            // The client closed without close_notify (Python's `ssl`,
            // `openssl s_client` at end of input do): for an echo, with no
            // message to be cut short, not worth counting as an error.
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(err) => return Err(err),
        };
        if n == 0 {
            // The client's close_notify: answer with ours.
            return stream.close().await;
        }
        stream.write_all(&buf[..n]).await?;
    }
}
