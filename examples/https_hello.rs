//! HTTPS "hello world": hyper 1.x over TLS (ALPN `http/1.1`) on this
//! runtime, one `SO_REUSEPORT` listener per core.
//!
//! ```text
//! cargo run --release --features tls,hyper --example https_hello -- --port 8443 --cores 2
//! curl --cacert /tmp/https_hello-cert.pem https://localhost:8443/   # or curl -k
//! ```
//!
//! Without `--cert`/`--key` (PEM files) it makes a self-signed certificate
//! for localhost at start. `TlsAcceptor::service` runs the handshake (at
//! most 10 s), then hyper serves the `TlsStream`, keep-alive on, hyper's
//! timeouts on our timer wheel; ctrl-c or SIGTERM stops it gracefully.

use std::convert::Infallible;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use runtime::net::hyper::HyperTimer;
use runtime::net::tls::{TlsAcceptor, TlsStream};
use runtime::net::Server;

#[path = "support/args.rs"]
mod args;
#[path = "support/tls.rs"]
mod tls;

const USAGE: &str = "https_hello [--port 8443] [--cores N] [--cert PEM --key PEM]";

fn main() -> std::io::Result<()> {
    let args = args::Args::parse(USAGE);
    let port: u16 = args.get("port", 8443);
    let cores = args.cores();
    let config = tls::server_config(&args, "https_hello", &[b"http/1.1"]);
    let acceptor = TlsAcceptor::new(config);

    let rt = runtime::Runtime::builder().cores(cores).build()?;
    eprintln!("https_hello: listening on https://127.0.0.1:{port}/ with {cores} core(s)");
    let server = Server::new(([127, 0, 0, 1], port).into());
    server.run(&rt, move || acceptor.service(serve))?;
    eprintln!("https_hello: stopped: {:?}", server.stats());
    Ok(())
}

async fn serve(stream: TlsStream) -> std::io::Result<()> {
    // A response leaves in one write: Nagle would only delay it.
    stream.get_ref().set_nodelay(true)?;
    let connection = http1::Builder::new()
        .timer(HyperTimer)
        .keep_alive(true)
        // Closes a connection that sends no request head for this long,
        // idle keep-alive connections included.
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(stream, service_fn(hello));
    match connection.await {
        Ok(()) => Ok(()),
        // An idle or slow client, closed by `header_read_timeout`.
        Err(err) if err.is_timeout() => Ok(()),
        Err(err) => Err(std::io::Error::other(err)),
    }
}

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, world!\n",
    ))))
}
