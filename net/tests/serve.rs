//! `Server` / `serve` over real sockets on 127.0.0.1: the server runs on a
//! runtime in the test thread, blocking std clients in another thread.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use runtime_executor::{time, Runtime};
use runtime_net::{Server, Service, TcpStream};

fn server() -> Server {
    Server::new("127.0.0.1:0".parse().unwrap())
        .handle_signals(false)
        .shutdown_timeout(Duration::from_secs(2))
}

fn connect(addr: SocketAddr) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// Echoes until the peer closes.
struct Echo;

impl Service for Echo {
    async fn call(&self, mut stream: TcpStream) -> io::Result<()> {
        let mut buf = vec![0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            stream.write_all(&buf[..n]).await?;
        }
    }
}

fn echo_once(stream: &mut std::net::TcpStream, msg: &[u8]) -> io::Result<()> {
    stream.write_all(msg)?;
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back)?;
    assert_eq!(back, msg);
    Ok(())
}

/// Runs `server` on a `cores`-core runtime while `client` runs in a
/// thread with the bound address; the client shuts the server down.
fn run_with_client<S, F>(
    cores: usize,
    server: &Server,
    make: F,
    client: impl FnOnce(SocketAddr) + Send + 'static,
) where
    S: Service + 'static,
    F: Fn() -> S + Send + Sync + 'static,
{
    let rt = Runtime::builder().cores(cores).build().unwrap();
    let shutdown = server.shutdown_handle();
    let client = thread::spawn(move || {
        let addr = shutdown.wait_listening();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| client(addr)));
        shutdown.shutdown();
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    });
    server.run(&rt, make).unwrap();
    client.join().unwrap();
}

#[test]
fn echoes_on_every_core() {
    let server = server();
    run_with_client(
        2,
        &server,
        || Echo,
        |addr| {
            let mut clients: Vec<_> = (0..40).map(|_| connect(addr)).collect();
            for (i, client) in clients.iter_mut().enumerate() {
                echo_once(client, format!("hello {i}").as_bytes()).unwrap();
            }
        },
    );
    let stats = server.stats();
    assert_eq!(stats.accepted, 40);
    assert_eq!(stats.open, 0);
    assert_eq!(stats.refused, 0);
}

#[test]
fn closures_are_services_and_errors_are_counted() {
    let server = server();
    run_with_client(
        1,
        &server,
        || {
            |mut stream: TcpStream| async move {
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).await?;
                if byte[0] == b'!' {
                    return Err(io::Error::other("bad request"));
                }
                stream.write_all(b"ok").await
            }
        },
        |addr| {
            let mut good = connect(addr);
            good.write_all(b"x").unwrap();
            let mut reply = Vec::new();
            good.read_to_end(&mut reply).unwrap();
            assert_eq!(reply, b"ok");
            let mut bad = connect(addr);
            bad.write_all(b"!").unwrap();
            let mut reply = Vec::new();
            bad.read_to_end(&mut reply).unwrap();
            assert!(reply.is_empty());
        },
    );
    assert_eq!(server.stats().errors, 1);
    assert_eq!(server.stats().accepted, 2);
}

#[test]
fn connection_limit_refuses_extras_and_recovers() {
    const MAX: usize = 20;
    let server = server().max_connections(MAX);
    let observer = server.clone();
    run_with_client(
        2,
        &server,
        || Echo,
        move |addr| {
            let mut kept: Vec<_> = (0..MAX).map(|_| connect(addr)).collect();
            // Every kept connection is served (and so counted as open).
            for client in &mut kept {
                echo_once(client, b"kept").unwrap();
            }
            // The extras are closed at once: EOF or reset, never a hang.
            for _ in 0..50 {
                let mut extra = connect(addr);
                let mut buf = [0u8; 8];
                let _ = extra.write_all(b"extra");
                match extra.read(&mut buf) {
                    Ok(0) => {}
                    Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {}
                    other => panic!("an extra connection was served: {other:?}"),
                }
            }
            assert_eq!(observer.stats().refused, 50);
            // The kept ones still work.
            for client in &mut kept {
                echo_once(client, b"still").unwrap();
            }
            // Free the slots; new connections are served again.
            drop(kept);
            let deadline = Instant::now() + Duration::from_secs(5);
            while observer.stats().open > 0 {
                assert!(Instant::now() < deadline, "slots never freed");
                thread::sleep(Duration::from_millis(5));
            }
            let mut again = connect(addr);
            echo_once(&mut again, b"again").unwrap();
        },
    );
    let stats = server.stats();
    assert_eq!(stats.accepted, MAX as u64 + 1);
    assert_eq!(stats.refused, 50);
}

#[test]
fn shutdown_stops_accepting_lets_work_finish_and_cuts_the_rest() {
    let server = server().shutdown_timeout(Duration::from_millis(300));
    let shutdown = server.shutdown_handle();
    let rt = Runtime::builder().cores(2).build().unwrap();
    let client = thread::spawn(move || {
        let addr = shutdown.wait_listening();
        // A connection that finishes its reply during the grace period.
        let mut finishing = connect(addr);
        finishing.write_all(b"slow").unwrap();
        // One that never completes its request.
        let mut stuck = connect(addr);
        stuck.write_all(b"st").unwrap();
        thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        shutdown.shutdown();
        // New connections are refused promptly.
        let refused_by = Instant::now() + Duration::from_secs(2);
        loop {
            match std::net::TcpStream::connect(addr) {
                Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => break,
                Ok(_) | Err(_) => {
                    assert!(Instant::now() < refused_by, "still accepting");
                    thread::sleep(Duration::from_millis(10));
                }
            }
        }
        let mut reply = Vec::new();
        finishing.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"done: slow");
        // The stuck one is cut at the deadline.
        let mut rest = Vec::new();
        let _ = stuck.read_to_end(&mut rest);
        assert!(rest.is_empty());
        assert!(started.elapsed() < Duration::from_secs(3));
        let _ = stuck.shutdown(Shutdown::Both);
    });
    let started = Instant::now();
    server
        .run(&rt, || {
            |mut stream: TcpStream| async move {
                let mut req = [0u8; 4];
                stream.read_exact(&mut req).await?;
                time::sleep(Duration::from_millis(100)).await;
                stream.write_all(b"done: ").await?;
                stream.write_all(&req).await
            }
        })
        .unwrap();
    client.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.stats().open, 0);
}

#[test]
fn a_panicking_connection_does_not_stop_the_server() {
    let server = server();
    run_with_client(
        1,
        &server,
        || {
            |mut stream: TcpStream| async move {
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).await?;
                assert_ne!(byte[0], b'!', "the service panics on '!'");
                stream.write_all(&byte).await
            }
        },
        |addr| {
            let mut bad = connect(addr);
            bad.write_all(b"!").unwrap();
            let mut rest = Vec::new();
            let _ = bad.read_to_end(&mut rest);
            assert!(rest.is_empty());
            let mut good = connect(addr);
            good.write_all(b"k").unwrap();
            let mut reply = [0u8; 1];
            good.read_exact(&mut reply).unwrap();
            assert_eq!(&reply, b"k");
        },
    );
    assert_eq!(server.stats().open, 0);
}

#[test]
fn bind_errors_are_returned() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    // Without SO_REUSEPORT on the first socket, the port cannot be shared.
    let rt = Runtime::builder().cores(1).build().unwrap();
    let err = Server::new(addr)
        .handle_signals(false)
        .run(&rt, || Echo)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
}

#[test]
fn a_second_server_on_a_served_address_fails_with_addr_in_use() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let first = server();
    let shutdown = first.shutdown_handle();
    let second_result = rt.block_on(async {
        let first = first.clone();
        let serving =
            runtime_executor::spawn(async move { first.serve_on_all_cores(|| Echo).await });
        let listening = shutdown.clone();
        let addr = runtime_executor::spawn_blocking(move || listening.wait_listening())
            .await
            .unwrap();
        // The other core's listener is up too by then.
        time::sleep(Duration::from_millis(50)).await;
        let second = Server::new(addr)
            .handle_signals(false)
            .serve_on_all_cores(|| Echo)
            .await;
        // The first server still serves.
        let echoed = runtime_executor::spawn_blocking(move || {
            let mut stream = connect(addr);
            echo_once(&mut stream, b"still here").is_ok()
        })
        .await
        .unwrap();
        shutdown.shutdown();
        serving.await.unwrap().unwrap();
        (second, echoed)
    });
    let (second, echoed) = second_result;
    assert_eq!(second.unwrap_err().kind(), io::ErrorKind::AddrInUse);
    assert!(echoed);
    assert_eq!(first.stats().accepted, 1);
}

#[test]
fn serve_on_all_cores_from_core_zero_serves_every_core_on_one_port() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let server = server();
    let shutdown = server.shutdown_handle();
    let client = thread::spawn(move || {
        let addr = shutdown.wait_listening();
        for i in 0..20u8 {
            let mut stream = connect(addr);
            echo_once(&mut stream, &[i; 16]).unwrap();
        }
        shutdown.shutdown();
    });
    let served = server.clone();
    rt.block_on(async move { served.serve_on_all_cores(|| Echo).await })
        .unwrap();
    client.join().unwrap();
    assert_eq!(server.stats().accepted, 20);
}

/// The descriptors this process holds.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

#[test]
fn close_timeout_ends_a_finished_connection_to_a_peer_that_never_reads() {
    // The service queues 4 MiB and returns; the peer never reads. The
    // stream delivers what it can, then gives up at the close timeout
    // (30 s by default) and its socket is closed.
    let server = server().close_timeout(Duration::from_millis(300));
    let flood = |mut stream: TcpStream| async move {
        let chunk = vec![1u8; 64 * 1024];
        // Past the outbound ring's bound, the writes wait: stop there.
        for _ in 0..64 {
            if time::timeout(Duration::from_millis(200), stream.write_all(&chunk))
                .await
                .is_err()
            {
                break;
            }
        }
        Ok(())
    };
    run_with_client(
        1,
        &server,
        move || flood,
        |addr| {
            let before = open_fds();
            let _silent = connect(addr);
            // The server's side is open while the service writes, then for
            // up to its close timeout; it goes well before 30 s.
            let started = Instant::now();
            thread::sleep(Duration::from_millis(100));
            assert!(open_fds() >= before + 2, "the server's side is open");
            while open_fds() > before + 1 {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "the server's side is still open"
                );
                thread::sleep(Duration::from_millis(20));
            }
        },
    );
}

/// Panics when dropped.
struct PanicsWhenDropped;

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("boom in a service future's destructor");
    }
}

#[test]
fn a_service_future_whose_destructor_panics_is_cancelled_at_the_deadline_and_counted_closed() {
    let server = Server::new("127.0.0.1:0".parse().unwrap())
        .handle_signals(false)
        .shutdown_timeout(Duration::from_millis(100));
    let started = Instant::now();
    run_with_client(
        2,
        &server,
        || {
            |mut stream: TcpStream| async move {
                let _guard = PanicsWhenDropped;
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).await?;
                stream.write_all(&byte).await?;
                // Waits for the shutdown's deadline to cancel it.
                std::future::pending::<io::Result<()>>().await
            }
        },
        |addr| {
            let mut peers: Vec<_> = (0..4).map(|_| connect(addr)).collect();
            for peer in &mut peers {
                echo_once(peer, b"x").unwrap();
            }
        },
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.stats().accepted, 4);
    assert_eq!(server.stats().open, 0);
}

#[test]
fn a_make_service_that_panics_on_a_core_is_reported_without_a_hang() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let server = server();
    let started = Instant::now();
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        server.run(&rt, || -> Echo { panic!("boom in make_service") })
    }));
    assert!(started.elapsed() < Duration::from_secs(5), "no hang");
    assert!(
        run.is_err() || run.as_ref().is_ok_and(|r| r.is_err()),
        "the panic is reported"
    );
}
