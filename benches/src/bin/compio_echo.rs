//! The compio echo server the benchmarks compare against, with the contract
//! of `tokio_echo` (`--port`, `--cores`, 127.0.0.1; each read takes up to
//! 64 KiB and all of it is written back before the next read), written as
//! compio's own examples write I/O: an owned buffer passed to `read` and
//! `write_all` and handed back in a `BufResult`. `--driver uring|poll` and
//! start-up: `runtime_benches::compio_serve`.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin compio_echo -- --port 7005 --driver poll
//! ```

use compio::io::{AsyncRead, AsyncWriteExt};
use compio::net::TcpStream;
use compio::BufResult;
use runtime_benches::{compio_serve, Args, READ_BUF};

const USAGE: &str = "compio_echo [--port 7005] [--cores 1] [--driver uring|poll]";

fn main() {
    let args = Args::parse(USAGE).only(compio_serve::OPTIONS, &[]);
    compio_serve::main("compio_echo", &args, 7005, echo);
}

async fn echo(mut stream: TcpStream) {
    // No buffer until the first byte: an idle connection holds none.
    match stream.to_poll_fd() {
        Ok(fd) if fd.read_ready().await.is_ok() => {}
        _ => return,
    }
    let mut buf: Vec<u8> = Vec::with_capacity(READ_BUF);
    loop {
        // Reads into the vector's capacity; it comes back holding the
        // bytes read.
        buf.clear();
        let BufResult(res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let BufResult(res, b) = stream.write_all(buf).await;
        buf = b;
        if res.is_err() {
            return;
        }
    }
}
