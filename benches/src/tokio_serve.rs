//! The runtime set-up that `tokio_echo` and `tokio_http` share: `--flavor
//! current_thread` (one `current_thread` runtime per core thread, each with
//! its own `SO_REUSEPORT` listener) or `--flavor multi_thread` (one runtime
//! with `--cores` workers and one listener).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::{reuseport_listener, Args};

/// Serves `handler` on every connection, per the options in `args`; returns
/// only on a start-up error.
pub fn main<F, Fut>(name: &str, args: &Args, default_port: u16, handler: F) -> std::io::Result<()>
where
    F: Fn(TcpStream) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let port: u16 = args.get("port", default_port);
    let cores: usize = args.get("cores", 1);
    let flavor: String = args.get("flavor", "current_thread".to_owned());
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    match flavor.as_str() {
        "current_thread" => {
            // Bind every listener before saying we listen.
            let listeners = (0..cores)
                .map(|_| reuseport_listener(addr))
                .collect::<std::io::Result<Vec<_>>>()?;
            eprintln!("{name}: listening on {addr} with {cores} current_thread runtime(s)");
            let threads: Vec<_> = listeners
                .into_iter()
                .map(|listener| {
                    std::thread::spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .unwrap();
                        rt.block_on(async move {
                            let listener = TcpListener::from_std(listener).unwrap();
                            accept_loop(listener, handler).await
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
                "{name}: listening on {addr} with one multi_thread runtime, {cores} worker(s)"
            );
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                // The accept loop on a worker, not on the main thread.
                tokio::spawn(accept_loop(listener, handler)).await.unwrap();
            });
        }
        other => {
            eprintln!("{name}: unknown --flavor {other:?} (current_thread or multi_thread)");
            std::process::exit(2);
        }
    }
    Ok(())
}

async fn accept_loop<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(handler(stream));
            }
            // Out of file descriptors, or a connection reset before it
            // was accepted: go on.
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
