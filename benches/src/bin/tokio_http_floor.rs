//! The lean floor of the HTTP tables, labelled as such: a tokio server that
//! does not parse HTTP. It counts the blank lines (`\r\n\r\n`) in what it
//! reads and answers each with the plaintext response, so it is correct only
//! for bodiless requests: what a server costs with no parser at all, below
//! which no real HTTP server goes. Never a TechEmpower entry.
//!
//! `--flavor` and `--buffer` as in `tokio_echo`.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin tokio_http_floor -- --port 8082
//! ```

use runtime_benches::http::{count_requests, floor_response, Date};
use runtime_benches::{tokio_serve, Args};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const USAGE: &str = "tokio_http_floor [--port 8082] [--cores 1] \
[--flavor current_thread|current_thread_io|multi_thread] [--buffer 65536]";

fn main() -> std::io::Result<()> {
    tokio_serve::main(
        "tokio_http_floor",
        &Args::parse(USAGE).only(tokio_serve::OPTIONS, &[]),
        8082,
        serve,
    )
}

async fn serve(mut stream: TcpStream, buffer: usize) {
    // No buffers until the first byte, as in the other tokio servers.
    if !matches!(stream.peek(&mut [0u8; 1]).await, Ok(1)) {
        return;
    }
    let mut buf = vec![0u8; buffer];
    let mut filled = 0;
    let mut out = Vec::with_capacity(4096);
    let mut date = Date::new();
    loop {
        match stream.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
        let (requests, end) = count_requests(&buf[..filled]);
        if requests > 0 {
            let date = date.get();
            for _ in 0..requests {
                floor_response(date, &mut out);
            }
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        buf.copy_within(end..filled, 0);
        filled -= end;
        if filled == buf.len() {
            return; // no blank line in a full buffer
        }
    }
}
