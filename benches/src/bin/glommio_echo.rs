//! The glommio echo server the benchmarks compare against, with the contract
//! of `tokio_echo` (`--port`, `--cores`, 127.0.0.1; each read takes up to
//! 64 KiB and all of it is written back before the next read). One glommio
//! `LocalExecutor` per core (`LocalExecutorPoolBuilder`, threads not pinned:
//! pin the process with taskset), each with its own listener:
//! `glommio::net::TcpListener::bind` sets `SO_REUSEPORT`.
//!
//! glommio drives everything through io_uring. Where that is unavailable the
//! server prints `glommio_echo: unavailable: <reason>` and exits with 3.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin glommio_echo -- --port 7002 --cores 1
//! ```

use std::net::SocketAddr;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorPoolBuilder, PoolPlacement};
use runtime_benches::{Args, READ_BUF};

const USAGE: &str = "glommio_echo [--port 7002] [--cores 1]";

fn main() {
    let args = Args::parse(USAGE).only(&["port", "cores"], &[]);
    let port: u16 = args.get("port", 7002);
    let cores: usize = args.get("cores", 1);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let handles = LocalExecutorPoolBuilder::new(PoolPlacement::Unbound(cores))
        .on_all_shards(move || async move { serve(addr).await })
        .unwrap_or_else(|e| unavailable(&e.to_string()));
    for result in handles.join_all() {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => unavailable(&e.to_string()),
            Err(e) => unavailable(&e.to_string()),
        }
    }
}

fn unavailable(reason: &str) -> ! {
    eprintln!("glommio_echo: unavailable: {reason}");
    std::process::exit(3);
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    eprintln!(
        "glommio_echo: listening on {addr} (executor {})",
        glommio::executor().id()
    );
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                glommio::spawn_local(echo(stream)).detach();
            }
            Err(e) => {
                eprintln!("accept: {e}");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
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
