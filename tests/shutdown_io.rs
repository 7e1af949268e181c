//! Sockets after their runtime is gone: reads, writes, flushes and accepts
//! fail with one error, "the runtime core owning this I/O object has shut
//! down" (`ErrorKind::Other`), also with data waiting in the kernel; I/O
//! set up outside a runtime names the call that was made.

use futures_lite::future::block_on;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use runtime::net::{TcpListener, TcpStream, UdpSocket};
use runtime::Runtime;

const SHUT_DOWN: &str = "the runtime core owning this I/O object has shut down";

fn connected_pair(rt: &Runtime) -> (TcpStream, TcpStream) {
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    })
}

#[test]
fn writes_after_the_runtime_is_dropped_fail() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let (mut client, _server) = connected_pair(&rt);
    drop(rt);
    let err = block_on(client.write_all(b"late")).unwrap_err();
    assert_eq!(err.to_string(), SHUT_DOWN);
    let err = block_on(client.flush()).unwrap_err();
    assert_eq!(err.to_string(), SHUT_DOWN);
}

#[test]
fn reads_after_the_runtime_is_dropped_fail() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let (mut client, mut server) = connected_pair(&rt);
    // Data that arrived before the drop is not served either.
    rt.block_on(async {
        server.write_all(b"early").await.unwrap();
        server.flush().await.unwrap();
        runtime::time::sleep(std::time::Duration::from_millis(20)).await;
    });
    drop(rt);
    let mut buf = [0u8; 8];
    let err = block_on(client.read(&mut buf)).unwrap_err();
    assert_eq!(err.to_string(), SHUT_DOWN);
}

#[test]
fn io_outside_a_runtime_names_the_call() {
    let err = block_on(TcpStream::connect("127.0.0.1:9")).unwrap_err();
    assert!(err.to_string().contains("`TcpStream::connect`"), "{err}");
    let err = block_on(UdpSocket::bind("127.0.0.1:0")).unwrap_err();
    assert!(err.to_string().contains("`UdpSocket::bind`"), "{err}");
    let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = TcpListener::from_std(std).unwrap_err();
    assert!(err.to_string().contains("`TcpListener::from_std`"), "{err}");
}

#[test]
fn accepts_and_datagrams_after_the_runtime_is_dropped_fail() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let (listener, socket) = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        (listener, socket)
    });
    let addr = listener.local_addr().unwrap();
    // A connection and a datagram wait in the kernel: still not served.
    let _peer = std::net::TcpStream::connect(addr).unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sender
        .send_to(b"late", socket.local_addr().unwrap())
        .unwrap();
    drop(rt);
    let err = block_on(listener.accept()).unwrap_err();
    assert_eq!(err.to_string(), SHUT_DOWN);
    let mut buf = [0u8; 8];
    let err = block_on(socket.recv_from(&mut buf)).unwrap_err();
    assert_eq!(err.to_string(), SHUT_DOWN);
    let err = block_on(socket.send_to(b"x", sender.local_addr().unwrap())).unwrap_err();
    assert_eq!(err.to_string(), SHUT_DOWN);
}

#[test]
fn serving_outside_a_runtime_names_the_call() {
    let server = runtime::net::Server::new("127.0.0.1:0".parse().unwrap());
    let err =
        block_on(server.serve_on_all_cores(|| |_: TcpStream| async { std::io::Result::Ok(()) }))
            .unwrap_err();
    assert!(
        err.to_string().contains("`Server::serve_on_all_cores`"),
        "{err}"
    );
}
