//! A TCP echo server: writes back every byte it reads, on every connection,
//! with one `SO_REUSEPORT` listener per core.
//!
//! ```text
//! cargo run --release --example echo -- --port 7000 --cores 2
//! cargo run --release --example echo_client -- --port 7000 --connections 100
//! ```
//!
//! It runs on `runtime::net::Server`: each connection is a task on the core
//! that accepted it. Bytes move from the inbound ring straight into the
//! outbound ring (`fill_buf` + `write_all`), and the core sends everything a
//! tick produced in one `writev`. Ctrl-c or SIGTERM stops it gracefully.

use futures_lite::AsyncBufReadExt;
use runtime::net::{Server, TcpStream};

#[path = "support/args.rs"]
mod args;

const USAGE: &str = "echo [--port 7000] [--cores N] [--pin true|false]";

fn main() -> std::io::Result<()> {
    let args = args::Args::parse(USAGE);
    let port: u16 = args.get("port", 7000);
    let cores = args.cores();
    let pin: bool = args.get("pin", false);

    let rt = runtime::Runtime::builder()
        .cores(cores)
        .pin_cores(pin)
        .build()?;
    eprintln!("echo: listening on 127.0.0.1:{port} with {cores} core(s)");
    // One `SO_REUSEPORT` listener per core; ctrl-c or SIGTERM stops
    // accepting and gives open connections 5 s to finish.
    let server = Server::new(([127, 0, 0, 1], port).into());
    server.run(&rt, || echo)?;
    eprintln!("echo: stopped: {:?}", server.stats());
    Ok(())
}

async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    // `TcpStream::split`, not `AsyncBufReadExt::split` (a by-value method).
    let (mut reader, mut writer) = TcpStream::split(&mut stream);
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(()); // the peer closed
        }
        let n = chunk.len();
        writer.write_all(chunk).await?;
        reader.consume(n);
    }
}
