//! The glommio echo server the benchmarks compare against, with the contract
//! of `tokio_echo` (`--port`, `--cores`, 127.0.0.1; each read takes up to
//! 64 KiB and all of it is written back before the next read), written as
//! glommio's own examples write one: a task per connection,
//! `futures_lite`'s `read` and `write_all`. Start-up and the io_uring check:
//! `runtime_benches::glommio_serve`.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin glommio_echo -- --port 7002 --cores 1
//! ```

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use runtime_benches::{glommio_serve, Args, READ_BUF};

const USAGE: &str = "glommio_echo [--port 7002] [--cores 1]";

fn main() {
    let args = Args::parse(USAGE).only(&["port", "cores"], &[]);
    glommio_serve::main("glommio_echo", &args, 7002, echo);
}

async fn echo(mut stream: TcpStream) {
    // No buffer until the first byte: an idle connection holds none.
    let mut probe = [0u8; 1];
    if !matches!(stream.peek(&mut probe).await, Ok(n) if n > 0) {
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
