//! A hyper 1.x HTTP/1 "hello world" server on this runtime: one
//! `SO_REUSEPORT` listener per core, each connection a task of the core that
//! accepted it, keep-alive on, hyper's timeouts on our timer wheel.
//!
//! ```text
//! cargo run --release --features hyper --example hyper_server -- --port 8080 --cores 2
//! curl http://127.0.0.1:8080/
//! ```
//!
//! The streams implement `hyper::rt::{Read, Write}` and `HyperTimer` is
//! hyper's `Timer` (feature `hyper` of `runtime-net`): no tokio runtime, and
//! the service need not be `Send`.

use std::convert::Infallible;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use runtime::net::hyper::HyperTimer;
use runtime::net::TcpListener;

#[path = "support/args.rs"]
mod args;

const USAGE: &str = "hyper_server [--port 8080] [--cores N]";

fn main() -> std::io::Result<()> {
    let args = args::Args::parse(USAGE);
    let port: u16 = args.get("port", 8080);
    let cores = args.cores();

    let rt = runtime::Runtime::builder().cores(cores).build()?;
    eprintln!("hyper_server: listening on http://127.0.0.1:{port}/ with {cores} core(s)");
    let results = rt.run_on_all_cores(move || serve(port));
    results.into_iter().collect::<std::io::Result<Vec<()>>>()?;
    Ok(())
}

/// One core's accept loop.
async fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        // A response leaves in one write: Nagle would only delay it.
        stream.set_nodelay(true)?;
        runtime::spawn(async move {
            let connection = http1::Builder::new()
                .timer(HyperTimer)
                .keep_alive(true)
                // Closes a connection that sends no request head for this
                // long, idle keep-alive connections included.
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(stream, service_fn(hello));
            match connection.await {
                // An idle or slow client, closed by `header_read_timeout`.
                Err(err) if err.is_timeout() => {}
                Err(err) => eprintln!("hyper_server: connection error: {err}"),
                Ok(()) => {}
            }
        });
    }
}

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, world!\n",
    ))))
}
