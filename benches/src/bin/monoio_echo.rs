//! The monoio echo server the benchmarks compare against, with the contract
//! of `tokio_echo` (`--port`, `--cores`, 127.0.0.1; each read takes up to
//! 64 KiB and all of it is written back before the next read). One monoio
//! runtime per core thread, each with its own listener (monoio's
//! `TcpListener::bind` sets `SO_REUSEPORT`).
//!
//! `--driver uring` (the default): `IoUringDriver`; `--driver epoll`:
//! `LegacyDriver`. Where the driver cannot start the server prints
//! `monoio_echo: unavailable: <reason>` and exits with 3.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin monoio_echo -- --port 7003 --driver epoll
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};
use runtime_benches::{Args, READ_BUF};

const USAGE: &str = "monoio_echo [--port 7003] [--cores 1] [--driver uring|epoll]";

fn main() {
    let args = Args::parse(USAGE).only(&["port", "cores", "driver"], &[]);
    let port: u16 = args.get("port", 7003);
    let cores: usize = args.get("cores", 1);
    let driver: String = args.get("driver", "uring".to_owned());
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    if driver != "uring" && driver != "epoll" {
        eprintln!("monoio_echo: unknown --driver {driver:?} (uring or epoll)");
        std::process::exit(2);
    }
    // Each core thread reports whether its runtime and listener started.
    let (started, starts) = mpsc::channel::<Result<(), String>>();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let started = started.clone();
            let driver = driver.clone();
            std::thread::spawn(move || {
                if driver == "uring" {
                    run(
                        RuntimeBuilder::<IoUringDriver>::new().build(),
                        addr,
                        started,
                    );
                } else {
                    run(RuntimeBuilder::<LegacyDriver>::new().build(), addr, started);
                }
            })
        })
        .collect();
    drop(started);
    for _ in 0..cores {
        match starts.recv() {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => unavailable(&reason),
            Err(_) => unavailable("a core thread died"),
        }
    }
    eprintln!("monoio_echo: listening on {addr} with {cores} {driver} runtime(s)");
    for t in threads {
        let _ = t.join();
    }
}

/// Runs one core's accept loop on `rt` (a runtime of either driver).
fn run<R: BlockOn>(
    rt: std::io::Result<R>,
    addr: SocketAddr,
    started: mpsc::Sender<Result<(), String>>,
) {
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
                    monoio::spawn(echo(stream));
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

fn unavailable(reason: &str) -> ! {
    eprintln!("monoio_echo: unavailable: {reason}");
    std::process::exit(3);
}

async fn echo(mut stream: TcpStream) {
    // No buffer until the first byte: an idle connection holds none.
    if stream.readable(false).await.is_err() {
        return;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(READ_BUF);
    loop {
        // Reads into the vector's capacity; `buf` comes back with the
        // bytes read as its contents.
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (res, b) = stream.write_all(buf).await;
        buf = b;
        if res.is_err() {
            return;
        }
        buf.clear();
    }
}
