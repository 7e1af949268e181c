//! The runtime set-up of the monoio servers (`monoio_echo`, `monoio_http`):
//! one monoio runtime per core thread, each with its own listener (monoio's
//! `TcpListener::bind` sets `SO_REUSEPORT`), as monoio's own examples start
//! one per thread.
//!
//! `--driver uring` (the default): `IoUringDriver`; `--driver epoll`:
//! `LegacyDriver`. Where the driver cannot start the server prints
//! `<name>: unavailable: <reason>` and exits with 3.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc;

use monoio::net::{TcpListener, TcpStream};
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

use crate::Args;

/// The options every monoio server takes.
pub const OPTIONS: &[&str] = &["port", "cores", "driver"];

/// Serves `handler` on every connection, per the options in `args`.
pub fn main<F, Fut>(name: &'static str, args: &Args, default_port: u16, handler: F)
where
    F: Fn(TcpStream) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let port: u16 = args.get("port", default_port);
    let cores: usize = args.get("cores", 1);
    let driver: String = args.get("driver", "uring".to_owned());
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    if driver != "uring" && driver != "epoll" {
        eprintln!("{name}: unknown --driver {driver:?} (uring or epoll)");
        std::process::exit(2);
    }
    // Each core thread reports whether its runtime and listener started.
    let (started, starts) = mpsc::channel::<Result<(), String>>();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let started = started.clone();
            let uring = driver == "uring";
            std::thread::spawn(move || {
                if uring {
                    let rt = RuntimeBuilder::<IoUringDriver>::new().build();
                    run(rt, addr, started, handler);
                } else {
                    let rt = RuntimeBuilder::<LegacyDriver>::new().build();
                    run(rt, addr, started, handler);
                }
            })
        })
        .collect();
    drop(started);
    for _ in 0..cores {
        match starts.recv() {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => unavailable(name, &reason),
            Err(_) => unavailable(name, "a core thread died"),
        }
    }
    eprintln!("{name}: listening on {addr} with {cores} {driver} runtime(s)");
    for t in threads {
        let _ = t.join();
    }
}

/// Runs one core's accept loop on `rt` (a runtime of either driver).
fn run<R: BlockOn, F, Fut>(
    rt: std::io::Result<R>,
    addr: SocketAddr,
    started: mpsc::Sender<Result<(), String>>,
    handler: F,
) where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let mut rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            let _ = started.send(Err(format!("runtime: {e}")));
            return;
        }
    };
    rt.run(async move {
        let listener = match TcpListener::bind(addr) {
            Ok(listener) => listener,
            Err(e) => {
                let _ = started.send(Err(format!("bind {addr}: {e}")));
                return;
            }
        };
        let _ = started.send(Ok(()));
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    monoio::spawn(handler(stream));
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    });
}

/// `Runtime::block_on` for both drivers.
trait BlockOn {
    fn run<F: Future<Output = ()>>(&mut self, future: F);
}

impl BlockOn for monoio::Runtime<IoUringDriver> {
    fn run<F: Future<Output = ()>>(&mut self, future: F) {
        self.block_on(future)
    }
}

impl BlockOn for monoio::Runtime<LegacyDriver> {
    fn run<F: Future<Output = ()>>(&mut self, future: F) {
        self.block_on(future)
    }
}

fn unavailable(name: &str, reason: &str) -> ! {
    eprintln!("{name}: unavailable: {reason}");
    std::process::exit(3);
}
