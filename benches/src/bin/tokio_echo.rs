//! The tokio echo server the benchmarks compare against: the same contract as
//! `examples/echo.rs` (`--port`, `--cores`, 127.0.0.1): each read takes up to
//! `--buffer` bytes (64 KiB) and all of it is written back before the next
//! read, as tokio's own `examples/echo.rs` does (there with 1 KiB).
//!
//! `--flavor current_thread|current_thread_io|multi_thread`: see
//! `runtime_benches::tokio_serve`. The lean tokio server of the tables is
//! `--flavor current_thread_io --buffer 16384`.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin tokio_echo -- --port 7001 --cores 1
//! ```

use runtime_benches::{tokio_serve, Args};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const USAGE: &str = "tokio_echo [--port 7001] [--cores 1] \
[--flavor current_thread|current_thread_io|multi_thread] [--buffer 65536]";

fn main() -> std::io::Result<()> {
    tokio_serve::main(
        "tokio_echo",
        &Args::parse(USAGE).only(tokio_serve::OPTIONS, &[]),
        7001,
        echo,
    )
}

async fn echo(mut stream: TcpStream, buffer: usize) {
    // No buffer until the first byte, so an idle connection holds none (the
    // one departure from tokio's example, for the idle-memory table).
    // (`readable()` is no use here: tokio reports a new stream readable
    // at once, so it would not wait.)
    if !matches!(stream.peek(&mut [0u8; 1]).await, Ok(1)) {
        return;
    }
    let mut buf = vec![0u8; buffer];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
