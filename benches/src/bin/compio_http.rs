//! The compio plaintext HTTP/1.1 server the benchmarks compare against: the
//! contract of `tokio_http`, parsed with `httparse`
//! (`runtime_benches::http`), on compio's owned buffers: each read appends
//! to the unanswered bytes (`AsyncReadExt::append`), and the responses of
//! one read go out in one `write_all`. `--driver uring|poll` and start-up:
//! `runtime_benches::compio_serve`.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin compio_http -- --port 8085 --driver poll
//! ```

use compio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use compio::net::TcpStream;
use compio::BufResult;
use runtime_benches::http::{Conn, Date, Next};
use runtime_benches::{compio_serve, Args, READ_BUF};

const USAGE: &str = "compio_http [--port 8085] [--cores 1] [--driver uring|poll]";

fn main() {
    let args = Args::parse(USAGE).only(compio_serve::OPTIONS, &[]);
    compio_serve::main("compio_http", &args, 8085, serve);
}

async fn serve(mut stream: TcpStream) {
    // No buffers until the first byte: an idle connection holds none.
    match stream.to_poll_fd() {
        Ok(fd) if fd.read_ready().await.is_ok() => {}
        _ => return,
    }
    let mut buf: Vec<u8> = Vec::with_capacity(READ_BUF);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    let mut conn = Conn::default();
    let mut date = Date::new();
    loop {
        // Appends after the bytes kept from the last read.
        let BufResult(res, b) = stream.append(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (used, next) = conn.feed(&buf, b"compio", date.get(), &mut out);
        buf.drain(..used);
        if !out.is_empty() {
            let BufResult(res, o) = stream.write_all(out).await;
            out = o;
            if res.is_err() {
                return;
            }
            out.clear();
        }
        if next == Next::Close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}
