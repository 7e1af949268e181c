//! The tokio echo server the benchmarks compare against: the same contract as
//! `examples/echo.rs` (`--port`, `--cores`), one `current_thread` runtime per
//! core, each with its own `SO_REUSEPORT` listener, and a 4 KiB read/write
//! loop per connection.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin tokio_echo -- --port 7001 --cores 1
//! ```

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("invalid value for {name}"))
        })
        .unwrap_or(default)
}

fn main() {
    let port: u16 = arg("--port", 7001);
    let cores: usize = arg("--cores", 1);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                    .unwrap();
                rt.block_on(serve(addr));
            })
        })
        .collect();
    eprintln!("tokio_echo: listening on {addr} with {cores} core(s)");
    for t in threads {
        t.join().unwrap();
    }
}

async fn serve(addr: SocketAddr) {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .unwrap();
    socket.set_reuse_address(true).unwrap();
    socket.set_reuse_port(true).unwrap();
    socket.set_nonblocking(true).unwrap();
    socket.bind(&addr.into()).unwrap();
    socket.listen(1024).unwrap();
    let listener = TcpListener::from_std(socket.into()).unwrap();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        tokio::spawn(echo(stream));
    }
}

async fn echo(mut stream: TcpStream) {
    let mut buf = vec![0u8; 4096];
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
