//! The tokio + tokio-rustls echo server the TLS benchmarks compare against
//! (`benches/compare.sh`, column `tokio-rustls`): the same contract as
//! `examples/tls_echo.rs` (`--port`, `--cores`, 127.0.0.1; `--cert` and
//! `--key` PEM files, or a self-signed certificate for `localhost` made at
//! start), with rustls 0.23 and the `ring` provider, configured as
//! `runtime_benches::tls::server_config` says (rustls's defaults, session
//! tickets on).
//!
//! The leanest honest tokio server, as `tokio_echo`'s lean column
//! (`--flavor current_thread_io --buffer 16384`): one current-thread
//! runtime per core, one task per connection, the handshake, then a read
//! buffer of `--buffer` bytes, each read written back with `write_all` and
//! flushed (tokio-rustls may keep encrypted bytes that the socket did not
//! take until the next write or flush); at the client's close_notify it
//! sends its own (`shutdown`).
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin tokio_tls_echo -- \
//!     --port 7002 --flavor current_thread_io --buffer 16384
//! ```

use std::path::PathBuf;
use std::sync::OnceLock;

use runtime_benches::{tls, tokio_serve, Args};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

const USAGE: &str = "tokio_tls_echo [--port 7002] [--cores 1] \
[--flavor current_thread|current_thread_io|multi_thread] [--buffer 65536] \
[--cert PEM --key PEM]";

/// Set once before the first connection (`tokio_serve` wants a `Copy`
/// handler).
static ACCEPTOR: OnceLock<TlsAcceptor> = OnceLock::new();

fn main() -> std::io::Result<()> {
    let mut options = tokio_serve::OPTIONS.to_vec();
    options.extend(["cert", "key"]);
    let args = Args::parse(USAGE).only(&options, &[]);
    let cert: Option<PathBuf> = args.opt("cert");
    let key: Option<PathBuf> = args.opt("key");
    let (chain, key) = tls::certificate(cert.as_deref(), key.as_deref())?;
    let config = tls::server_config(chain, key)?;
    let _ = ACCEPTOR.set(TlsAcceptor::from(config));
    tokio_serve::main("tokio_tls_echo", &args, 7002, echo)
}

async fn echo(stream: TcpStream, buffer: usize) {
    let acceptor = ACCEPTOR.get().expect("set in main");
    let Ok(mut stream) = acceptor.accept(stream).await else {
        return;
    };
    let mut buf = vec![0u8; buffer];
    loop {
        match stream.read(&mut buf).await {
            // The client's close_notify: answer with ours, as a TLS server
            // must (RFC 8446, 6.1) and as the runtime's examples do.
            Ok(0) => {
                let _ = stream.shutdown().await;
                return;
            }
            Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}
