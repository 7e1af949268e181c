//! The runtime set-up of the glommio servers (`glommio_echo`,
//! `glommio_http`): one glommio `LocalExecutor` per core
//! (`LocalExecutorPoolBuilder`, threads not pinned: pin the process with
//! taskset), each with its own listener (`glommio::net::TcpListener::bind`
//! sets `SO_REUSEPORT`), as glommio's own examples start a sharded server.
//!
//! glommio drives everything through io_uring. Where that is unavailable the
//! server prints `<name>: unavailable: <reason>` and exits with 3.

use std::future::Future;
use std::net::SocketAddr;

use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorPoolBuilder, PoolPlacement};

use crate::Args;

/// Serves `handler` on every connection, per `--port` and `--cores` in
/// `args`; returns only if a core fails to start.
pub fn main<F, Fut>(name: &'static str, args: &Args, default_port: u16, handler: F)
where
    F: Fn(TcpStream) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let port: u16 = args.get("port", default_port);
    let cores: usize = args.get("cores", 1);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let handles = LocalExecutorPoolBuilder::new(PoolPlacement::Unbound(cores))
        .on_all_shards(move || async move { serve(name, addr, handler).await })
        .unwrap_or_else(|e| unavailable(name, &e.to_string()));
    for result in handles.join_all() {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => unavailable(name, &e.to_string()),
            Err(e) => unavailable(name, &e.to_string()),
        }
    }
}

fn unavailable(name: &str, reason: &str) -> ! {
    eprintln!("{name}: unavailable: {reason}");
    std::process::exit(3);
}

async fn serve<F, Fut>(name: &str, addr: SocketAddr, handler: F) -> std::io::Result<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let listener = TcpListener::bind(addr)?;
    eprintln!(
        "{name}: listening on {addr} (executor {})",
        glommio::executor().id()
    );
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                glommio::spawn_local(handler(stream)).detach();
            }
            Err(e) => {
                eprintln!("accept: {e}");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
