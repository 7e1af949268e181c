//! The monoio plaintext HTTP/1.1 server the benchmarks compare against: the
//! contract of `tokio_http`, parsed with `httparse`
//! (`runtime_benches::http`), on monoio's owned buffers: each read appends
//! to the unanswered bytes (`slice_mut`), and the responses of one read go
//! out in one `write_all`. `--driver uring|epoll` and start-up:
//! `runtime_benches::monoio_serve`.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin monoio_http -- --port 8084 --driver epoll
//! ```

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use runtime_benches::http::{Conn, Date, Next};
use runtime_benches::{monoio_serve, Args, READ_BUF};

const USAGE: &str = "monoio_http [--port 8084] [--cores 1] [--driver uring|epoll]";

fn main() {
    let args = Args::parse(USAGE).only(monoio_serve::OPTIONS, &[]);
    monoio_serve::main("monoio_http", &args, 8084, serve);
}

async fn serve(mut stream: TcpStream) {
    // No buffers until the first byte: an idle connection holds none.
    if stream.readable(false).await.is_err() {
        return;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(READ_BUF);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    let mut conn = Conn::default();
    let mut date = Date::new();
    loop {
        // Reads after the bytes kept from the last read.
        let filled = buf.len();
        let (res, slice) = stream.read(buf.slice_mut(filled..)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (used, next) = conn.feed(&buf, b"monoio", date.get(), &mut out);
        buf.drain(..used);
        if !out.is_empty() {
            let (res, o) = stream.write_all(out).await;
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
