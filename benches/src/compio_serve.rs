//! The runtime set-up of the compio servers (`compio_echo`, `compio_http`):
//! one compio `Runtime` per core thread, each with its own `SO_REUSEPORT`
//! listener, a task per connection (`compio::runtime::spawn(..).detach()`).
//!
//! compio is completion-based. Built with its `io-uring` and `polling`
//! features (its "fusion" driver), it picks the driver when a runtime
//! starts: left to itself, io_uring if the kernel has every operation compio
//! uses, else `polling` (epoll), and `polling` again if the ring cannot be
//! created. These servers name the driver instead (`--driver uring`, the
//! default, or `--driver poll`), which turns that fallback off: where
//! io_uring is unavailable, `--driver uring` does not start and the server
//! prints `<name>: unavailable: <reason>` and exits with 3, so a table never
//! labels an epoll run "io_uring". (On the 2-core VM of the README,
//! io_uring is available and `--driver uring` runs on it.)

use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc;

use compio::driver::{DriverType, ProactorBuilder};
use compio::net::{TcpListener, TcpStream};

use crate::{reuseport_listener, Args};

/// The options every compio server takes.
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
    let wanted = match driver.as_str() {
        "uring" => DriverType::IoUring,
        "poll" => DriverType::Poll,
        _ => {
            eprintln!("{name}: unknown --driver {driver:?} (uring or poll)");
            std::process::exit(2);
        }
    };
    let (started, starts) = mpsc::channel::<Result<DriverType, String>>();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let started = started.clone();
            std::thread::spawn(move || run(addr, wanted, started, handler))
        })
        .collect();
    drop(started);
    let mut got = None;
    for _ in 0..cores {
        match starts.recv() {
            Ok(Ok(driver)) => got = Some(driver),
            Ok(Err(reason)) => unavailable(name, &reason),
            Err(_) => unavailable(name, "a core thread died"),
        }
    }
    if got != Some(wanted) {
        unavailable(name, &format!("asked for {wanted:?}, compio chose {got:?}"));
    }
    eprintln!("{name}: listening on {addr} with {cores} compio runtime(s), driver {got:?}");
    for t in threads {
        let _ = t.join();
    }
}

/// One core: a runtime with the `wanted` driver and its accept loop.
fn run<F, Fut>(
    addr: SocketAddr,
    wanted: DriverType,
    started: mpsc::Sender<Result<DriverType, String>>,
    handler: F,
) where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let mut proactor = ProactorBuilder::new();
    proactor.driver_type(wanted);
    let rt = match compio::runtime::RuntimeBuilder::new()
        .with_proactor(proactor)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = started.send(Err(format!("runtime: {e}")));
            return;
        }
    };
    let driver = rt.driver_type();
    rt.block_on(async move {
        let listener = match reuseport_listener(addr).and_then(TcpListener::from_std) {
            Ok(listener) => listener,
            Err(e) => {
                let _ = started.send(Err(format!("bind {addr}: {e}")));
                return;
            }
        };
        let _ = started.send(Ok(driver));
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    compio::runtime::spawn(handler(stream)).detach();
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    });
}

fn unavailable(name: &str, reason: &str) -> ! {
    eprintln!("{name}: unavailable: {reason}");
    std::process::exit(3);
}
