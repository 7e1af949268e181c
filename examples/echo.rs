//! A TCP echo server: writes back every byte it reads, on every connection,
//! with one `SO_REUSEPORT` listener per core.
//!
//! ```text
//! cargo run --release --example echo -- --port 7000 --cores 2
//! cargo run --release --example echo_client -- --port 7000 --connections 100
//! ```
//!
//! Each connection is a task on the core that accepted it. Bytes move from
//! the inbound ring straight into the outbound ring (`fill_buf` + `write_all`),
//! and the core sends everything a tick produced in one `writev`.

use futures_lite::{AsyncBufReadExt, AsyncWriteExt};
use runtime::net::{TcpListener, TcpStream};

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
    let results = rt.run_on_all_cores(move || serve(port));
    results.into_iter().collect::<std::io::Result<Vec<()>>>()?;
    Ok(())
}

/// One core's accept loop.
async fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        runtime::spawn(async move {
            if let Err(err) = echo(stream).await {
                eprintln!("echo: connection error: {err}");
            }
        });
    }
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
