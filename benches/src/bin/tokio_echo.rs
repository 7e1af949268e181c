//! The tokio echo server the benchmarks compare against: the same contract as
//! `examples/echo.rs` (`--port`, `--cores`, 127.0.0.1): each read takes up to
//! 64 KiB and all of it is written back before the next read.
//!
//! `--flavor current_thread` (the default): one `current_thread` runtime per
//! core thread, each with its own `SO_REUSEPORT` listener. `--flavor
//! multi_thread`: one work-stealing runtime with `--cores` workers and one
//! listener.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin tokio_echo -- --port 7001 --cores 1
//! ```

use runtime_benches::{tokio_serve, Args, READ_BUF};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const USAGE: &str = "tokio_echo [--port 7001] [--cores 1] [--flavor current_thread|multi_thread]";

fn main() -> std::io::Result<()> {
    tokio_serve::main(
        "tokio_echo",
        &Args::parse(USAGE).only(&["port", "cores", "flavor"], &[]),
        7001,
        echo,
    )
}

async fn echo(mut stream: TcpStream) {
    // No buffer until the first byte: an idle connection holds none.
    // (`readable()` is no use here: tokio reports a new stream readable
    // at once, so it would not wait.)
    if !matches!(stream.peek(&mut [0u8; 1]).await, Ok(1)) {
        return;
    }
    let mut buf = vec![0u8; READ_BUF];
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
