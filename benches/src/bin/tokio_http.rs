//! The tokio plaintext HTTP/1.1 server the benchmarks compare against: the
//! contract of the root example `http_plaintext` (`GET /plaintext` answers
//! `HTTP/1.1 200 OK` with `Server`, `Date`, `Content-Type: text/plain`,
//! `Content-Length: 13` and `Hello, World!`), on tokio's `TcpStream`,
//! parsed with `httparse` (`runtime_benches::http`). Every complete request of one read is answered and the
//! responses are written together, so pipelined requests cost one write.
//!
//! `--flavor` and `--buffer` as in `tokio_echo`.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin tokio_http -- --port 8081
//! curl -v http://127.0.0.1:8081/plaintext
//! ```

use runtime_benches::http::{Conn, Date, Next};
use runtime_benches::{tokio_serve, Args};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const USAGE: &str = "tokio_http [--port 8081] [--cores 1] \
[--flavor current_thread|current_thread_io|multi_thread] [--buffer 65536]";

fn main() -> std::io::Result<()> {
    tokio_serve::main(
        "tokio_http",
        &Args::parse(USAGE).only(tokio_serve::OPTIONS, &[]),
        8081,
        serve,
    )
}

async fn serve(mut stream: TcpStream, buffer: usize) {
    // No buffers until the first byte: an idle connection holds none.
    // (`readable()` is no use here: tokio reports a new stream readable
    // at once, so it would not wait.)
    if !matches!(stream.peek(&mut [0u8; 1]).await, Ok(1)) {
        return;
    }
    let mut buf = vec![0u8; buffer];
    let mut filled = 0;
    let mut out = Vec::with_capacity(4096);
    let mut conn = Conn::default();
    let mut date = Date::new();
    loop {
        match stream.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
        let (used, next) = conn.feed(&buf[..filled], b"tokio", date.get(), &mut out);
        buf.copy_within(used..filled, 0);
        filled -= used;
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
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
