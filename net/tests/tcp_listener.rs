//! `TcpListener` over real sockets on 127.0.0.1.

use std::time::Duration;

use futures_lite::{AsyncReadExt, StreamExt};
use runtime_executor::{time, Runtime};
use runtime_net::{TcpListener, TcpStream};

#[test]
fn connections_spread_over_reuseport_listeners() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let total = 200;
    let client = std::thread::spawn(move || {
        // Wait until both cores listen.
        std::thread::sleep(Duration::from_millis(100));
        for i in 0..total {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            std::io::Write::write_all(&mut s, &[i as u8]).unwrap();
            let mut b = [0u8; 1];
            std::io::Read::read_exact(&mut s, &mut b).unwrap();
            assert_eq!(b[0], i as u8);
        }
    });
    let per_core = rt.run_on_all_cores(move || async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let mut served = 0usize;
        let mut incoming = listener.incoming();
        while let Ok(Some(conn)) =
            time::timeout(Duration::from_millis(1_000), incoming.next()).await
        {
            let mut conn = conn.unwrap();
            let mut b = [0u8; 1];
            conn.read_exact(&mut b).await.unwrap();
            conn.write_all(&b).await.unwrap();
            served += 1;
        }
        served
    });
    client.join().unwrap();
    assert_eq!(per_core.iter().sum::<usize>(), total);
    assert!(
        per_core.iter().all(|&n| n > 0),
        "the kernel spread nothing: {per_core:?}"
    );
}

#[test]
fn dropped_accept_future_loses_no_connection() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // An accept that is cancelled before any connection arrives.
        let res = time::timeout(Duration::from_millis(10), listener.accept()).await;
        assert!(res.is_err());
        let client = runtime_executor::spawn(async move { TcpStream::connect(addr).await });
        let (_conn, peer) = listener.accept().await.unwrap();
        let client = client.await.unwrap().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
    });
}

#[test]
fn port_zero_bound_on_every_core_is_one_port() {
    let rt = Runtime::builder().cores(3).build().unwrap();
    let addrs = rt.run_on_all_cores(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Keep every core's listener open until all have bound.
        time::sleep(Duration::from_millis(200)).await;
        drop(listener);
        addr
    });
    assert_ne!(addrs[0].port(), 0);
    assert!(addrs.iter().all(|&addr| addr == addrs[0]), "{addrs:?}");
}

#[test]
fn a_second_bind_of_a_bound_address_fails_with_addr_in_use() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = first.local_addr().unwrap();
        let second = TcpListener::bind(addr).await.unwrap_err();
        assert_eq!(second.kind(), std::io::ErrorKind::AddrInUse, "{second}");
        assert!(second.to_string().contains(&addr.to_string()), "{second}");
        let builder = TcpListener::builder().bind(addr).unwrap_err();
        assert_eq!(builder.kind(), std::io::ErrorKind::AddrInUse);
        // Port 0 asked for twice on one core: two listeners, two ports.
        let other = TcpListener::bind("127.0.0.1:0").await.unwrap();
        assert_ne!(other.local_addr().unwrap(), addr);

        // Core 1's listener for the address joins core 0's.
        let joined = runtime_executor::spawn_on(1, move || async move {
            TcpListener::bind(addr)
                .await
                .map(|l| l.local_addr().unwrap())
        });
        assert_eq!(joined.await.unwrap().unwrap(), addr);

        // Once the first is closed, the address can be bound again.
        drop(first);
        let again = TcpListener::bind(addr).await.unwrap();
        assert_eq!(again.local_addr().unwrap(), addr);
    });
}

#[test]
fn a_bind_of_an_address_another_socket_shares_fails() {
    use socket2::{Domain, Socket, Type};
    // Another program's server, with SO_REUSEPORT as this runtime's are.
    let other = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    other.set_reuse_address(true).unwrap();
    other.set_reuse_port(true).unwrap();
    other
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    other.listen(16).unwrap();
    let addr = other.local_addr().unwrap().as_socket().unwrap();
    let rt = Runtime::builder().cores(1).build().unwrap();
    let err = rt.block_on(TcpListener::bind(addr)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
}

#[test]
fn a_bind_outside_a_runtime_names_the_call() {
    let err = futures_lite::future::block_on(TcpListener::bind("127.0.0.1:0")).unwrap_err();
    assert!(
        err.to_string()
            .contains("`TcpListener::bind` called outside"),
        "{err}"
    );
}
