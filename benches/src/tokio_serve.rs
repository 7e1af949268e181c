//! The runtime set-up that the tokio servers share (`tokio_echo`,
//! `tokio_http`, `tokio_http_floor`), chosen with `--flavor`:
//!
//! - `current_thread`: one `current_thread` runtime per core thread, each
//!   with its own `SO_REUSEPORT` listener, built with `enable_all()` (I/O and
//!   the time driver), as `#[tokio::main(flavor = "current_thread")]` does;
//! - `current_thread_io`: the same with `enable_io()` only, no time driver:
//!   the leanest tokio server (with `--buffer 16384`, the "lean" column);
//! - `multi_thread`: one work-stealing runtime with `--cores` workers and
//!   one listener, as `#[tokio::main]` builds it.
//!
//! `--buffer N`: the read buffer of each connection (default 64 KiB).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::{reuseport_listener, Args, READ_BUF};

/// The options every tokio server takes.
pub const OPTIONS: &[&str] = &["port", "cores", "flavor", "buffer"];

/// Serves `handler(stream, buffer size)` on every connection, per the
/// options in `args`; returns only on a start-up error.
pub fn main<F, Fut>(name: &str, args: &Args, default_port: u16, handler: F) -> std::io::Result<()>
where
    F: Fn(TcpStream, usize) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let port: u16 = args.get("port", default_port);
    let cores: usize = args.get("cores", 1);
    let flavor: String = args.get("flavor", "current_thread".to_owned());
    let buffer: usize = args.get("buffer", READ_BUF);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    match flavor.as_str() {
        "current_thread" | "current_thread_io" => {
            let time = flavor == "current_thread";
            // Bind every listener before saying we listen.
            let listeners = (0..cores)
                .map(|_| reuseport_listener(addr))
                .collect::<std::io::Result<Vec<_>>>()?;
            eprintln!(
                "{name}: listening on {addr} with {cores} {flavor} runtime(s), {buffer} B buffers"
            );
            let threads: Vec<_> = listeners
                .into_iter()
                .map(|listener| {
                    std::thread::spawn(move || {
                        let mut builder = tokio::runtime::Builder::new_current_thread();
                        if time {
                            builder.enable_all();
                        } else {
                            builder.enable_io();
                        }
                        let rt = builder.build().unwrap();
                        rt.block_on(async move {
                            let listener = TcpListener::from_std(listener).unwrap();
                            accept_loop(listener, handler, buffer, time).await
                        });
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        }
        "multi_thread" => {
            let listener = reuseport_listener(addr)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(cores)
                .enable_all()
                .build()?;
            eprintln!(
                "{name}: listening on {addr} with one multi_thread runtime, {cores} worker(s), \
                 {buffer} B buffers"
            );
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                // The accept loop on a worker, not on the main thread.
                tokio::spawn(accept_loop(listener, handler, buffer, true))
                    .await
                    .unwrap();
            });
        }
        other => {
            eprintln!(
                "{name}: unknown --flavor {other:?} (current_thread, current_thread_io or \
                 multi_thread)"
            );
            std::process::exit(2);
        }
    }
    Ok(())
}

async fn accept_loop<F, Fut>(listener: TcpListener, handler: F, buffer: usize, time: bool)
where
    F: Fn(TcpStream, usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(handler(stream, buffer));
            }
            // Out of file descriptors, or a connection reset before it
            // was accepted: go on (after a pause, where there is a timer).
            Err(e) => {
                eprintln!("accept: {e}");
                if time {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                } else {
                    tokio::task::yield_now().await;
                }
            }
        }
    }
}
