//! `UdpSocket` over real sockets on 127.0.0.1.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use runtime_executor::{time, Runtime};
use runtime_net::UdpSocket;

fn rt() -> Runtime {
    Runtime::builder().cores(1).build().unwrap()
}

#[test]
fn send_to_and_recv_from_many_datagrams() {
    rt().block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = b.local_addr().unwrap();
        let receiver = runtime_executor::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            while got.len() < 100 {
                let (n, _) = b.recv_from(&mut buf).await.unwrap();
                got.push(buf[..n].to_vec());
            }
            got
        });
        for i in 0..100u32 {
            a.send_to(&i.to_le_bytes(), to).await.unwrap();
            if i % 10 == 0 {
                runtime_executor::yield_now().await;
            }
        }
        let got = receiver.await.unwrap();
        // Loopback UDP keeps order and loses nothing at this rate.
        for (i, d) in got.iter().enumerate() {
            assert_eq!(d.as_slice(), (i as u32).to_le_bytes());
        }
    });
}

#[test]
fn truncation_is_reported_and_empty_datagrams_delivered() {
    rt().block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = b.local_addr().unwrap();
        a.send_to(&[7u8; 100], to).await.unwrap();
        a.send_to(&[], to).await.unwrap();
        a.send_to(b"fits", to).await.unwrap();
        let mut small = [0u8; 10];
        let d = b.recv_msg(&mut small).await.unwrap();
        assert_eq!(
            (d.len, d.truncated, d.addr),
            (10, true, a.local_addr().unwrap())
        );
        assert_eq!(small, [7u8; 10]);
        let d = b.recv_msg(&mut small).await.unwrap();
        assert_eq!((d.len, d.truncated), (0, false), "empty datagram");
        let d = b.recv_msg(&mut small).await.unwrap();
        assert_eq!((&small[..d.len], d.truncated), (&b"fits"[..], false));
    });
}

#[test]
fn connect_send_recv_and_peek() {
    rt().block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        a.send(b"hello").await.unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = b.peek_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"hello"[..], a.local_addr().unwrap()));
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        // Nothing else queued: a recv waits.
        let res = time::timeout(Duration::from_millis(20), b.recv(&mut buf)).await;
        assert!(res.is_err());
    });
}

#[test]
fn send_to_a_closed_port_reports_refused_on_connected_socket() {
    rt().block_on(async {
        let closed: SocketAddr = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.connect(closed).await.unwrap();
        a.send(b"anyone?").await.unwrap();
        let mut buf = [0u8; 8];
        let err = time::timeout(Duration::from_secs(2), a.recv(&mut buf))
            .await
            .expect("the ICMP error arrives")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn reuse_port_options_and_multicast() {
    rt().block_on(async {
        let first = UdpSocket::bind_reuse_port("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = first.local_addr().unwrap();
        let second = UdpSocket::bind_reuse_port(addr).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        first.set_broadcast(true).unwrap();
        assert!(first.broadcast().unwrap());
        first.set_ttl(42).unwrap();
        assert_eq!(first.ttl().unwrap(), 42);

        // Multicast on loopback needs a multicast route; where there is none
        // the join itself must still work or fail with a clear error.
        let group = Ipv4Addr::new(239, 255, 12, 34);
        let rx = UdpSocket::bind("0.0.0.0:0").await.unwrap();
        match rx.join_multicast_v4(group, Ipv4Addr::LOCALHOST) {
            Ok(()) => {
                let port = rx.local_addr().unwrap().port();
                let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                tx.set_multicast_loop_v4(true).unwrap();
                let sent = tx.send_to(b"group", SocketAddr::from((group, port))).await;
                if sent.is_ok() {
                    let mut buf = [0u8; 8];
                    if let Ok(Ok((n, _))) =
                        time::timeout(Duration::from_millis(500), rx.recv_from(&mut buf)).await
                    {
                        assert_eq!(&buf[..n], b"group");
                    }
                }
                rx.leave_multicast_v4(group, Ipv4Addr::LOCALHOST).unwrap();
            }
            Err(err) => assert!(err.raw_os_error().is_some(), "{err}"),
        }
    });
}

#[test]
fn send_to_a_name_and_the_try_forms() {
    let rt = runtime_executor::Runtime::builder()
        .cores(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let a = runtime_net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = runtime_net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b_port = b.local_addr().unwrap().port();
        // A "host:port" string and an (ip, port) pair, as tokio takes.
        a.send_to(b"one", format!("127.0.0.1:{b_port}"))
            .await
            .unwrap();
        a.send_to(b"two", ("127.0.0.1", b_port)).await.unwrap();
        let mut buf = [0u8; 8];
        b.readable().await.unwrap();
        let (n, from) = b.try_recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"one"[..], a.local_addr().unwrap()));
        let (n, _) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"two");
        a.writable().await.unwrap();
        assert_eq!(a.try_send_to(b"four", b.local_addr().unwrap()).unwrap(), 4);
        b.readable().await.unwrap();
        let (n, _) = b.try_recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"four");
        // Nothing queued: WouldBlock, not a wait.
        assert_eq!(
            b.try_recv_from(&mut buf).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );

        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        a.writable().await.unwrap();
        assert_eq!(a.try_send(b"three").unwrap(), 5);
        b.readable().await.unwrap();
        let n = b.try_recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"three");
        assert_eq!(
            b.try_recv(&mut buf).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
    });
}
