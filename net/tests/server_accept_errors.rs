//! The async `Server`'s accept loop under accept(2)'s errors (RELIABILITY
//! rows 3 and 4), injected through `Server::accept_with`, a stand-in for
//! accept(2) that returns scripted errors and then accepts for real:
//!
//! - `ECONNABORTED`, `EINTR` and the network errors accept(2) says to
//!   retry are retried at once, with no log line (they used to end the
//!   accept loop, and with it the whole server);
//! - `ENOBUFS`/`ENOMEM` back off, with one log line per streak;
//! - any other error is logged once and backed off; the server goes on.

mod util;

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::thread;

use runtime_executor::Runtime;
use runtime_net::{Server, TcpStream};
use socket2::{SockAddr, Socket};

/// Counts the log records of warning level and above.
struct CountingLogger;

static RECORDS: AtomicUsize = AtomicUsize::new(0);

impl log::Log for CountingLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            RECORDS.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn flush(&self) {}
}

/// One test at a time (they share the logger's count); the count reset.
fn serial() -> MutexGuard<'static, ()> {
    static INIT: Once = Once::new();
    static SERIAL: Mutex<()> = Mutex::new(());
    INIT.call_once(|| {
        log::set_logger(&CountingLogger).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
    });
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    RECORDS.store(0, Ordering::SeqCst);
    guard
}

/// Runs an echo server whose accept(2) first fails with each of `errnos`,
/// in order; checks that it then serves connections, that the server never
/// shut down, and that every scripted error was returned. Returns the log
/// records counted.
fn serve_through(errnos: &[i32]) -> usize {
    let script: Arc<Mutex<VecDeque<i32>>> = Arc::new(Mutex::new(errnos.iter().copied().collect()));
    let calls = Arc::new(AtomicUsize::new(0));
    let (s, c) = (script.clone(), calls.clone());
    let server = Server::new("127.0.0.1:0".parse().unwrap())
        .handle_signals(false)
        .accept_with(move |listener: &Socket| -> io::Result<(Socket, SockAddr)> {
            c.fetch_add(1, Ordering::SeqCst);
            match s.lock().unwrap().pop_front() {
                Some(errno) => Err(io::Error::from_raw_os_error(errno)),
                None => listener.accept_raw(),
            }
        });
    let handle = server.shutdown_handle();
    let running = server.clone();
    let thread = thread::spawn(move || {
        let rt = Runtime::builder().cores(1).build().unwrap();
        running.run(&rt, || {
            |mut stream: TcpStream| async move {
                let mut buf = [0; 5];
                futures_lite::AsyncReadExt::read_exact(&mut stream, &mut buf).await?;
                stream.write_all(&buf).await
            }
        })
    });
    let addr = handle.wait_listening();
    for _ in 0..3 {
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        client.write_all(b"hello").unwrap();
        let mut echo = [0; 5];
        client
            .read_exact(&mut echo)
            .expect("served after the errors");
        assert_eq!(&echo, b"hello");
    }
    assert!(
        script.lock().unwrap().is_empty(),
        "every error was returned"
    );
    assert!(calls.load(Ordering::SeqCst) > errnos.len());
    assert!(
        !handle.is_shutdown(),
        "an accept error shut the server down"
    );
    handle.shutdown();
    thread.join().unwrap().expect("serve");
    assert_eq!(server.stats().accepted, 3);
    RECORDS.load(Ordering::SeqCst)
}

#[test]
fn aborted_interrupted_and_network_errors_are_retried_at_once_without_a_log_line() {
    let _serial = serial();
    let retry = [
        libc::ECONNABORTED,
        libc::EINTR,
        libc::EPROTO,
        libc::EPERM,
        libc::ENETDOWN,
        libc::ENOPROTOOPT,
        libc::EHOSTDOWN,
        libc::ENONET,
        libc::EHOSTUNREACH,
        libc::EOPNOTSUPP,
        libc::ENETUNREACH,
    ];
    // A hundred of each: were any one backed off, this would take minutes.
    let errnos: Vec<i32> = (0..100).flat_map(|_| retry).collect();
    assert_eq!(serve_through(&errnos), 0, "no log line for a retried error");
}

#[test]
fn out_of_memory_backs_off_with_one_log_line() {
    let _serial = serial();
    let records = serve_through(&[libc::ENOBUFS, libc::ENOMEM, libc::ENOBUFS]);
    assert_eq!(records, 1, "one log line for the whole streak");
}

#[test]
fn an_unexpected_error_is_logged_once_and_the_server_goes_on() {
    let _serial = serial();
    let records = serve_through(&[libc::EINVAL, libc::EINVAL]);
    assert_eq!(records, 1, "one log line for the whole streak");
}
