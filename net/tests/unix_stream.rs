//! Unix domain streams and listeners over real sockets.

use std::io;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use runtime_executor::Runtime;
use runtime_net::{UnixListener, UnixStream};

mod util;
use util::temp_dir;

fn rt() -> Runtime {
    Runtime::builder().cores(1).build().unwrap()
}

#[test]
fn echo_through_a_listener_and_file_removed_on_drop() {
    let path = temp_dir("echo").join("s.sock");
    let p = path.clone();
    rt().block_on(async move {
        let listener = UnixListener::bind(&p).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(p.as_path())
        );
        let server = runtime_executor::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            conn.read_to_end(&mut buf).await.unwrap(); // until half-close
            conn.write_all(&buf).await.unwrap();
            // listener dropped at the end of this task
        });
        let client = UnixStream::connect(&p).await.unwrap();
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let (mut reader, mut writer) = client.into_split();
        let sent = data.clone();
        let writes = runtime_executor::spawn(async move {
            writer.write_all(&sent).await.unwrap();
            writer.shutdown().await.unwrap();
        });
        let mut echoed = Vec::new();
        reader.read_to_end(&mut echoed).await.unwrap();
        assert!(echoed == data, "bytes lost or reordered");
        writes.await.unwrap();
        server.await.unwrap();
    });
    assert!(!path.exists(), "socket file left behind");
}

#[test]
fn stale_socket_file_is_replaced() {
    let path = temp_dir("stale").join("s.sock");
    // A socket file whose listener is gone (as after a crash).
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    rt().block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        let _client = UnixStream::connect(&path).await.unwrap();
        listener.accept().await.unwrap();
    });
}

#[test]
fn never_removes_a_regular_file_or_a_live_socket() {
    let dir = temp_dir("refuse");
    let file = dir.join("data.txt");
    std::fs::write(&file, b"precious").unwrap();
    let live = dir.join("live.sock");
    let _live = std::os::unix::net::UnixListener::bind(&live).unwrap();
    rt().block_on(async {
        let err = UnixListener::bind(&file).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        let err = UnixListener::bind(&live).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    });
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");
    assert!(live.exists());
}

#[test]
fn connect_errors() {
    let dir = temp_dir("errors");
    rt().block_on(async {
        let err = UnixStream::connect(dir.join("missing.sock"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let stale = dir.join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let err = UnixStream::connect(&stale).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    });
}

#[cfg(target_os = "linux")]
#[test]
fn abstract_namespace() {
    rt().block_on(async {
        let name = format!("runtime-net-test-{}", std::process::id());
        let listener = UnixListener::bind_abstract(name.as_bytes()).unwrap();
        let mut client = UnixStream::connect_abstract(name.as_bytes()).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        client.write_all(b"abstract").await.unwrap();
        let mut buf = [0u8; 8];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abstract");
    });
}

#[test]
fn pair_peek_and_half_close() {
    rt().block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        // A pair's addresses are unnamed, not an error.
        assert!(a.local_addr().unwrap().is_unnamed());
        assert!(b.peer_addr().unwrap().is_unnamed());
        a.write_all(b"hello").await.unwrap();
        a.shutdown().await.unwrap();
        a.shutdown().await.unwrap();
        let mut peeked = [0u8; 5];
        let n = b.peek(&mut peeked).await.unwrap();
        assert_eq!(&peeked[..n], &b"hello"[..n]);
        let mut all = Vec::new();
        b.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"hello");
        b.write_all(b"bye").await.unwrap();
        b.flush().await.unwrap();
        let mut reply = [0u8; 3];
        a.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"bye");
    });
}
