//! The monoio echo server the benchmarks compare against, with the contract
//! of `tokio_echo` (`--port`, `--cores`, 127.0.0.1; each read takes up to
//! 64 KiB and all of it is written back before the next read), written as
//! monoio's own echo example writes it: an owned buffer passed to `read` and
//! `write_all` and handed back. `--driver uring|epoll` and start-up:
//! `runtime_benches::monoio_serve`.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin monoio_echo -- --port 7003 --driver epoll
//! ```

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use runtime_benches::{monoio_serve, Args, READ_BUF};

const USAGE: &str = "monoio_echo [--port 7003] [--cores 1] [--driver uring|epoll]";

fn main() {
    let args = Args::parse(USAGE).only(monoio_serve::OPTIONS, &[]);
    monoio_serve::main("monoio_echo", &args, 7003, echo);
}

async fn echo(mut stream: TcpStream) {
    // No buffer until the first byte: an idle connection holds none.
    if stream.readable(false).await.is_err() {
        return;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(READ_BUF);
    loop {
        // Reads into the vector's capacity; `buf` comes back with the
        // bytes read as its contents.
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (res, b) = stream.write_all(buf).await;
        buf = b;
        if res.is_err() {
            return;
        }
        buf.clear();
    }
}
