//! `UnixDatagram` over real sockets, with socket files in a temp directory.

use std::cell::Cell;
use std::io;
use std::net::Shutdown;
use std::os::unix::fs::FileTypeExt;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::future;
use runtime_executor::{time, Runtime};
use runtime_net::UnixDatagram;

mod util;
use util::temp_dir;

fn rt() -> Runtime {
    Runtime::builder().cores(1).build().unwrap()
}

#[test]
fn send_to_and_recv_from_between_bound_sockets() {
    let dir = temp_dir("send-to");
    let (a_path, b_path) = (dir.join("a.sock"), dir.join("b.sock"));
    rt().block_on(async {
        let a = UnixDatagram::bind(&a_path).unwrap();
        let b = UnixDatagram::bind(&b_path).unwrap();
        assert_eq!(
            a.local_addr().unwrap().as_pathname(),
            Some(a_path.as_path())
        );
        assert_eq!(a.send_to(b"from a", &b_path).await.unwrap(), 6);
        let mut buf = [0u8; 16];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"from a");
        assert_eq!(from.as_pathname(), Some(a_path.as_path()));
        // Reply to whoever sent it.
        b.send_to_addr(b"from b", &from).await.unwrap();
        let (n, from) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"from b");
        assert_eq!(from.as_pathname(), Some(b_path.as_path()));
    });
}

#[test]
fn unbound_sender_arrives_unnamed() {
    let b_path = temp_dir("unbound").join("b.sock");
    rt().block_on(async {
        let a = UnixDatagram::unbound().unwrap();
        let b = UnixDatagram::bind(&b_path).unwrap();
        assert!(a.local_addr().unwrap().is_unnamed());
        a.send_to(b"one", &b_path).await.unwrap();
        a.send_to(b"two", &b_path).await.unwrap();
        let mut buf = [0u8; 8];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from.is_unnamed()), (&b"one"[..], true));
        // The truncation-reporting path decodes the sender on its own.
        let d = b.recv_msg(&mut buf).await.unwrap();
        assert_eq!((&buf[..d.len], d.addr.is_unnamed()), (&b"two"[..], true));
        let err = b.send_to_addr(b"reply", &from).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
fn connected_send_and_recv() {
    let dir = temp_dir("connected");
    let (a_path, b_path) = (dir.join("a.sock"), dir.join("b.sock"));
    rt().block_on(async {
        let a = UnixDatagram::bind(&a_path).unwrap();
        let b = UnixDatagram::bind(&b_path).unwrap();
        assert_eq!(
            a.peer_addr().unwrap_err().kind(),
            io::ErrorKind::NotConnected
        );
        a.connect(&b_path).unwrap();
        b.connect(&a_path).unwrap();
        assert_eq!(a.peer_addr().unwrap().as_pathname(), Some(b_path.as_path()));
        a.send(b"ping").await.unwrap();
        let mut buf = [0u8; 8];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        b.send(b"pong").await.unwrap();
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"pong");
        // A connected socket receives only from its peer.
        let stranger = UnixDatagram::unbound().unwrap();
        let err = stranger.send_to(b"hi", &b_path).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    });
}

#[test]
fn pair_sends_both_ways() {
    rt().block_on(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        assert!(a.local_addr().unwrap().is_unnamed());
        assert!(a.peer_addr().unwrap().is_unnamed());
        a.send(b"to b").await.unwrap();
        b.send(b"to a").await.unwrap();
        let mut buf = [0u8; 8];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"to b");
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"to a");
    });
}

#[test]
fn empty_datagram_is_delivered_as_empty() {
    rt().block_on(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        assert_eq!(a.send(&[]).await.unwrap(), 0);
        a.send(b"x").await.unwrap();
        a.send(&[]).await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(b.recv(&mut buf).await.unwrap(), 0, "empty datagram first");
        assert_eq!(b.recv(&mut buf).await.unwrap(), 1);
        assert_eq!(buf[0], b'x');
        let d = b.recv_msg(&mut buf).await.unwrap();
        assert_eq!((d.len, d.truncated), (0, false));
    });
}

#[test]
fn datagram_larger_than_the_buffer_is_reported_truncated() {
    rt().block_on(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        let big: Vec<u8> = (0..100u8).collect();
        a.send(&big).await.unwrap();
        a.send(b"fits").await.unwrap();
        a.send(&big).await.unwrap();
        a.send(b"next").await.unwrap();
        let mut small = [0u8; 10];
        let d = b.recv_msg(&mut small).await.unwrap();
        assert_eq!((d.len, d.truncated), (10, true));
        assert_eq!(small[..], big[..10]);
        let d = b.recv_msg(&mut small).await.unwrap();
        assert_eq!((&small[..d.len], d.truncated), (&b"fits"[..], false));
        // Plain `recv` truncates silently, and the tail is gone.
        assert_eq!(b.recv(&mut small).await.unwrap(), 10);
        let n = b.recv(&mut small).await.unwrap();
        assert_eq!(&small[..n], b"next");
    });
}

#[test]
fn peek_from_leaves_the_datagram_queued() {
    let dir = temp_dir("peek");
    let (a_path, b_path) = (dir.join("a.sock"), dir.join("b.sock"));
    rt().block_on(async {
        let a = UnixDatagram::bind(&a_path).unwrap();
        let b = UnixDatagram::bind(&b_path).unwrap();
        a.send_to(b"hello", &b_path).await.unwrap();
        let mut buf = [0u8; 16];
        for _ in 0..2 {
            let (n, from) = b.peek_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"hello");
            assert_eq!(from.as_pathname(), Some(a_path.as_path()));
        }
        let mut small = [0u8; 2];
        assert_eq!(b.peek_from(&mut small).await.unwrap().0, 2);
        assert_eq!(&small, b"he");
        let (n, _) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        // Consumed now: the next peek waits.
        assert!(future::poll_once(b.peek_from(&mut buf)).await.is_none());
    });
}

#[cfg(target_os = "linux")]
#[test]
fn abstract_namespace() {
    use std::os::linux::net::SocketAddrExt;
    let a_name = format!("runtime-net-dgram-a-{}", std::process::id());
    let b_name = format!("runtime-net-dgram-b-{}", std::process::id());
    rt().block_on(async {
        let a = UnixDatagram::bind_abstract(a_name.as_bytes()).unwrap();
        let b = UnixDatagram::bind_abstract(b_name.as_bytes()).unwrap();
        assert_eq!(
            b.local_addr().unwrap().as_abstract_name(),
            Some(b_name.as_bytes())
        );
        let err = UnixDatagram::bind_abstract(b_name.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);

        let to_b = std::os::unix::net::SocketAddr::from_abstract_name(b_name.as_bytes()).unwrap();
        a.send_to_addr(b"abstract", &to_b).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"abstract");
        assert_eq!(from.as_abstract_name(), Some(a_name.as_bytes()));
        // Both decodings of the sender (std's and the MSG_TRUNC one) agree.
        b.send_to_addr(b"back", &from).await.unwrap();
        a.send_to_addr(b"again", &to_b).await.unwrap();
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"back");
        let d = b.recv_msg(&mut buf).await.unwrap();
        assert_eq!(&buf[..d.len], b"again");
        assert_eq!(d.addr.as_abstract_name(), Some(a_name.as_bytes()));

        let c = UnixDatagram::unbound().unwrap();
        c.connect_abstract(b_name.as_bytes()).unwrap();
        assert_eq!(
            c.peer_addr().unwrap().as_abstract_name(),
            Some(b_name.as_bytes())
        );
        c.send(b"connected").await.unwrap();
        let (n, _) = b.peek_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"connected");
    });
}

#[test]
fn socket_file_removed_on_drop_unless_kept() {
    let dir = temp_dir("drop");
    let path = dir.join("s.sock");
    let kept = dir.join("kept.sock");
    rt().block_on(async {
        let socket = UnixDatagram::bind(&path).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert!(format!("{socket:?}").contains("s.sock"), "{socket:?}");
        drop(socket);
        assert!(!path.exists(), "socket file left behind");

        // Given back to std, the socket still owns its file.
        let std = UnixDatagram::bind(&kept).unwrap().into_std();
        assert!(kept.exists());
        assert_eq!(
            std.local_addr().unwrap().as_pathname(),
            Some(kept.as_path())
        );
    });
    assert!(kept.exists(), "file of a socket given to std removed");
}

#[test]
fn never_removes_a_regular_file_or_a_live_socket() {
    let dir = temp_dir("refuse");
    let file = dir.join("data.txt");
    std::fs::write(&file, b"precious").unwrap();
    let live_dgram = dir.join("live-dgram.sock");
    let _live_dgram = std::os::unix::net::UnixDatagram::bind(&live_dgram).unwrap();
    let live_stream = dir.join("live-stream.sock");
    let _live_stream = std::os::unix::net::UnixListener::bind(&live_stream).unwrap();
    rt().block_on(async {
        let err = UnixDatagram::bind(&file).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        for live in [&live_dgram, &live_stream] {
            let err = UnixDatagram::bind(live).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{}", live.display());
        }
    });
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");
    assert!(live_dgram.exists() && live_stream.exists());
}

#[test]
fn stale_socket_file_is_replaced() {
    let path = temp_dir("stale").join("s.sock");
    // A socket file whose socket is gone (as after a crash).
    drop(std::os::unix::net::UnixDatagram::bind(&path).unwrap());
    assert!(path.exists());
    rt().block_on(async {
        let b = UnixDatagram::bind(&path).unwrap();
        let a = UnixDatagram::unbound().unwrap();
        a.send_to(b"fresh", &path).await.unwrap();
        let mut buf = [0u8; 8];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"fresh");
    });
    assert!(!path.exists());
}

#[test]
fn recv_waits_until_data_arrives() {
    rt().block_on(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        let sent = Rc::new(Cell::new(false));
        let mut buf = [0u8; 8];
        let n = {
            let mut recv = std::pin::pin!(b.recv(&mut buf));
            assert!(future::poll_once(recv.as_mut()).await.is_none());
            let flag = sent.clone();
            runtime_executor::spawn(async move {
                time::sleep(Duration::from_millis(30)).await;
                flag.set(true);
                a.send(b"late").await.unwrap();
            });
            recv.await.unwrap()
        };
        assert!(sent.get(), "recv finished before anything was sent");
        assert_eq!(&buf[..n], b"late");
    });
}

#[test]
fn many_datagrams_arrive_in_order_and_none_lost() {
    const COUNT: u32 = 10_000;
    let dir = temp_dir("many");
    let (a_path, b_path) = (dir.join("a.sock"), dir.join("b.sock"));
    rt().block_on(async {
        let a = UnixDatagram::bind(&a_path).unwrap();
        let b = UnixDatagram::bind(&b_path).unwrap();
        let receiver = runtime_executor::spawn(async move {
            let mut buf = [0u8; 128];
            for i in 0..COUNT {
                let d = b.recv_msg(&mut buf).await.unwrap();
                assert!(!d.truncated);
                assert_eq!(d.len, 4 + (i % 64) as usize, "datagram {i}: length");
                let got = u32::from_le_bytes(buf[..4].try_into().unwrap());
                assert_eq!(got, i, "datagram out of order or lost");
                assert!(buf[4..d.len].iter().all(|&x| x == i as u8));
            }
            // Nothing beyond COUNT was delivered.
            assert!(future::poll_once(b.recv(&mut buf)).await.is_none());
        });
        // Sends far more than the receive queue holds, so the sender waits
        // for the receiver again and again.
        let mut msg = Vec::with_capacity(68);
        for i in 0..COUNT {
            msg.clear();
            msg.extend_from_slice(&i.to_le_bytes());
            msg.resize(4 + (i % 64) as usize, i as u8);
            assert_eq!(a.send_to(&msg, &b_path).await.unwrap(), msg.len());
        }
        time::timeout(Duration::from_secs(60), receiver)
            .await
            .expect("receiver stalled")
            .unwrap();
    });
}

#[test]
fn errors_shutdown_and_take_error() {
    let dir = temp_dir("errors");
    rt().block_on(async {
        let a = UnixDatagram::unbound().unwrap();
        let err = a.send(b"to nobody").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotConnected);
        let err = a.send_to(b"x", dir.join("missing.sock")).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let err = a.connect(dir.join("missing.sock")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let stale = dir.join("stale.sock");
        drop(std::os::unix::net::UnixDatagram::bind(&stale).unwrap());
        let err = a.send_to(b"x", &stale).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert!(a.take_error().unwrap().is_none());

        let (a, b) = UnixDatagram::pair().unwrap();
        drop(b);
        let err = a.send(b"gone").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);

        let (a, b) = UnixDatagram::pair().unwrap();
        a.shutdown(Shutdown::Write).unwrap();
        let err = a.send(b"shut").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        // Only `a`'s write side: it still receives.
        b.send(b"still in").await.unwrap();
        let mut buf = [0u8; 8];
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"still in");

        let (a, b) = UnixDatagram::pair().unwrap();
        a.send(b"queued").await.unwrap();
        b.shutdown(Shutdown::Read).unwrap();
        let err = a.send(b"refused").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"queued", "queued before the shutdown");
        // Then the end, where Linux alone would leave a receive waiting.
        assert_eq!(b.recv(&mut buf).await.unwrap(), 0);
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((n, from.is_unnamed()), (0, true));
        let d = b.recv_msg(&mut buf).await.unwrap();
        assert_eq!((d.len, d.truncated), (0, false));
    });
}

#[test]
fn shutdown_ends_a_pending_recv() {
    for how in [Shutdown::Read, Shutdown::Both] {
        rt().block_on(async {
            let (_a, b) = UnixDatagram::pair().unwrap();
            let b = Rc::new(b);
            let shut = Rc::new(Cell::new(false));
            let (b2, flag) = (b.clone(), shut.clone());
            runtime_executor::spawn(async move {
                time::sleep(Duration::from_millis(20)).await;
                flag.set(true);
                b2.shutdown(how).unwrap();
            });
            let mut buf = [0u8; 8];
            let n = time::timeout(Duration::from_secs(10), b.recv(&mut buf))
                .await
                .expect("recv still waiting after the shutdown")
                .unwrap();
            assert!(shut.get(), "recv ended before the shutdown");
            assert_eq!(n, 0, "{how:?}");
        });
    }
}
