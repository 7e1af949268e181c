//! `TcpSocket`, `lookup_host` and `TcpStream::into_std` over real sockets on
//! 127.0.0.1.

use std::io::ErrorKind;
use std::net::SocketAddr;

use futures_lite::AsyncReadExt;
use runtime_executor::{spawn_on, Runtime};
use runtime_net::{lookup_host, TcpListener, TcpSocket, TcpStream};

fn block_on<F: std::future::Future>(cores: usize, future: F) -> F::Output {
    Runtime::builder()
        .cores(cores)
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn tcp_socket_binds_before_it_connects() {
    block_on(1, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        assert!(socket.reuseaddr().unwrap());
        socket.set_send_buffer_size(32 * 1024).unwrap();
        socket.set_recv_buffer_size(32 * 1024).unwrap();
        // The kernel may round (Linux doubles); it is set, not ignored.
        assert!(socket.send_buffer_size().unwrap() >= 32 * 1024);
        assert!(socket.recv_buffer_size().unwrap() >= 32 * 1024);
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let from = socket.local_addr().unwrap();
        let mut client = socket
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut conn, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, from);
        assert_eq!(client.local_addr().unwrap(), from);
        client.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        conn.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
    });
}

#[test]
fn tcp_socket_listens_and_shares_a_port_only_when_told() {
    block_on(1, async {
        let first = TcpSocket::new_v4().unwrap();
        first.set_reuseport(true).unwrap();
        assert!(first.reuseport().unwrap());
        first.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = first.local_addr().unwrap();
        let first = first.listen(128).unwrap();

        let second = TcpSocket::new_v4().unwrap();
        second.set_reuseport(true).unwrap();
        second.bind(addr).unwrap();
        let second = second.listen(128).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);

        let third = TcpSocket::new_v4().unwrap();
        assert_eq!(third.bind(addr).unwrap_err().kind(), ErrorKind::AddrInUse);
        drop((first, second));
    });
}

#[test]
fn tcp_socket_connect_refused_is_an_error() {
    let addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = block_on(1, async {
        TcpSocket::new_v4().unwrap().connect(addr).await
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn lookup_host_resolves_literals_and_localhost() {
    block_on(1, async {
        let literal: Vec<_> = lookup_host("127.0.0.1:80").await.unwrap().collect();
        assert_eq!(literal, ["127.0.0.1:80".parse::<SocketAddr>().unwrap()]);
        let pair: Vec<_> = lookup_host(("localhost", 8080)).await.unwrap().collect();
        assert!(!pair.is_empty());
        assert!(pair
            .iter()
            .all(|addr| addr.port() == 8080 && addr.ip().is_loopback()));
        let bad = lookup_host("no port here").await;
        assert!(bad.is_err());
    });
}

#[test]
fn into_std_hands_a_connection_to_another_core() {
    block_on(2, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (conn, _) = listener.accept().await.unwrap();
        let std = conn.into_std().unwrap();
        let echoed = spawn_on(1, move || async move {
            let mut conn = TcpStream::from_std(std).unwrap();
            let mut buf = [0u8; 4];
            conn.read_exact(&mut buf).await.unwrap();
            conn.write_all(&buf).await.unwrap();
            runtime_executor::current_core()
        });
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        assert_eq!(echoed.await.unwrap(), 1);
    });
}

#[test]
fn into_std_refuses_while_bytes_are_buffered() {
    block_on(1, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut conn, _) = listener.accept().await.unwrap();
        client.write_all(b"abcdef").await.unwrap();
        let mut first = [0u8; 1];
        conn.read_exact(&mut first).await.unwrap();
        let err = conn.into_std().unwrap_err();
        assert!(err.to_string().contains("5 bytes read"), "{err}");
        // The stream comes back whole.
        let mut conn = err.into_inner();
        let mut rest = [0u8; 5];
        conn.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"bcdef");
        assert!(conn.into_std().is_ok());
    });
}
