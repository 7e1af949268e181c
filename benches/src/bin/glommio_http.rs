//! The glommio plaintext HTTP/1.1 server the benchmarks compare against: the
//! contract of `tokio_http`, parsed with `httparse`
//! (`runtime_benches::http`). Every complete request of one read is answered
//! and the responses are written together. Start-up and the io_uring check:
//! `runtime_benches::glommio_serve`.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin glommio_http -- --port 8083
//! ```

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use runtime_benches::http::{Conn, Date, Next};
use runtime_benches::{glommio_serve, Args, READ_BUF};

const USAGE: &str = "glommio_http [--port 8083] [--cores 1]";

fn main() {
    let args = Args::parse(USAGE).only(&["port", "cores"], &[]);
    glommio_serve::main("glommio_http", &args, 8083, serve);
}

async fn serve(mut stream: TcpStream) {
    // No buffers until the first byte: an idle connection holds none.
    let mut probe = [0u8; 1];
    if !matches!(stream.peek(&mut probe).await, Ok(n) if n > 0) {
        return;
    }
    let mut buf = vec![0u8; READ_BUF];
    let mut filled = 0;
    let mut out = Vec::with_capacity(4096);
    let mut conn = Conn::default();
    let mut date = Date::new();
    loop {
        match stream.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
        let (used, next) = conn.feed(&buf[..filled], b"glommio", date.get(), &mut out);
        buf.copy_within(used..filled, 0);
        filled -= used;
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if next == Next::Close {
            let _ = stream.shutdown(std::net::Shutdown::Write).await;
            return;
        }
    }
}
