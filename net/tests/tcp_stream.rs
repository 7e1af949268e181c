//! `TcpStream` over real sockets on 127.0.0.1.

use std::io;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use runtime_executor::{time, Runtime};
use runtime_net::{TcpKeepalive, TcpListener, TcpStream};

fn rt(cores: usize) -> Runtime {
    Runtime::builder().cores(cores).build().unwrap()
}

/// A connected pair on the current core: (client, server side).
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = runtime_executor::spawn(async move { TcpStream::connect(addr).await });
    let (server, _) = listener.accept().await.unwrap();
    (client.await.unwrap().unwrap(), server)
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + i / 251) as u8).collect()
}

#[test]
fn small_writes_are_delivered_without_flush() {
    rt(1).block_on(async {
        let (mut client, mut server) = pair().await;
        for i in 0..1_000u32 {
            client.write_all(&i.to_le_bytes()).await.unwrap();
        }
        // No flush: the core sends at the end of the tick.
        let mut buf = vec![0u8; 4_000];
        server.read_exact(&mut buf).await.unwrap();
        for (i, chunk) in buf.chunks(4).enumerate() {
            assert_eq!(u32::from_le_bytes(chunk.try_into().unwrap()), i as u32);
        }
        assert_eq!(client.outbound_buffered(), 0);
    });
}

#[test]
fn dropped_stream_still_delivers_what_was_written() {
    rt(1).block_on(async {
        let (mut client, mut server) = pair().await;
        let data = payload(4 << 20);
        // The outbound ring holds 256 KiB: write_all waits for the peer, so
        // read concurrently.
        let expected = data.clone();
        let reader = runtime_executor::spawn(async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            got
        });
        client.write_all(&data).await.unwrap();
        drop(client); // no flush, no shutdown: the drain task finishes the job
        let got = reader.await.unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected);
    });
}

#[test]
fn writes_wait_past_the_high_watermark() {
    rt(1).block_on(async {
        let (mut client, _server) = pair().await;
        client.set_write_buffer_limit(64 * 1024);
        client.set_send_buffer_size(4096).unwrap();
        let big = payload(32 << 20);
        // The peer never reads: the write must stall, not buffer 32 MiB.
        let res = time::timeout(Duration::from_millis(200), client.write_all(&big)).await;
        assert!(
            res.is_err(),
            "write_all completed although the peer never reads"
        );
        assert!(client.outbound_buffered() <= 64 * 1024);
    });
}

/// Sends `len` bytes from one task to another on this core and checks them.
async fn bulk_transfer(len: usize, send_buffer: Option<usize>) {
    let (mut client, mut server) = pair().await;
    if let Some(size) = send_buffer {
        client.set_send_buffer_size(size).unwrap();
    }
    let data = payload(len);
    let reader = runtime_executor::spawn(async move {
        let mut got = vec![0u8; len];
        server.read_exact(&mut got).await.unwrap();
        got
    });
    client.write_all(&data).await.unwrap();
    client.flush().await.unwrap();
    let got = reader.await.unwrap();
    assert!(got == data, "bytes lost or reordered");
}

#[test]
fn lowering_a_limit_loses_no_queued_byte() {
    rt(1).block_on(async {
        let (mut client, mut server) = pair().await;
        client.set_send_buffer_size(4096).unwrap();
        let data = payload(200 * 1024);
        // Queue more than the kernel takes, then shrink the ring below it.
        let _ = time::timeout(Duration::from_millis(50), client.write_all(&data)).await;
        let queued = client.outbound_buffered();
        assert!(queued > 1024, "nothing queued: {queued}");
        client.set_write_buffer_limit(1024);
        assert_eq!(client.outbound_buffered(), queued);
        let reader = runtime_executor::spawn(async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            got
        });
        client.close().await.unwrap();
        let got = reader.await.unwrap();
        assert!(data.starts_with(&got) && got.len() >= queued);
    });
}

#[test]
fn sixty_four_mib_in_order() {
    rt(1).block_on(bulk_transfer(64 << 20, None));
}

#[test]
fn through_a_four_kib_send_buffer() {
    // Loopback TCP with a 4 KiB send buffer stalls on delayed ACKs (about
    // 8 KiB per round trip), so this moves 2 MiB rather than 64 MiB.
    rt(1).block_on(bulk_transfer(2 << 20, Some(4096)));
}

#[test]
fn half_close_then_reply() {
    rt(1).block_on(async {
        let (mut client, mut server) = pair().await;
        client.write_all(b"request").await.unwrap();
        client.shutdown().await.unwrap();
        client.shutdown().await.unwrap(); // twice is fine
        let mut req = Vec::new();
        server.read_to_end(&mut req).await.unwrap(); // EOF after the request
        assert_eq!(req, b"request");
        server.write_all(b"reply to ").await.unwrap();
        server.write_all(&req).await.unwrap();
        server.close().await.unwrap();
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"reply to request");
        let err = client.write_all(b"more").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    });
}

/// Reads once into a large buffer (a short read), then expects `next`.
async fn short_read_then(reader: &mut TcpStream, first: &[u8]) -> io::Result<usize> {
    let mut buf = [0u8; 64];
    let n = reader.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], first);
    time::timeout(Duration::from_secs(5), reader.read(&mut buf))
        .await
        .expect("the end of the stream was missed")
}

#[test]
fn end_of_stream_that_came_with_the_data_is_seen() {
    rt(1).block_on(async {
        let (mut client, mut server) = pair().await;
        server.write_all(b"hi").await.unwrap();
        server.shutdown().await.unwrap();
        // Data and FIN are both queued before the first read: one edge.
        time::sleep(Duration::from_millis(50)).await;
        assert_eq!(short_read_then(&mut client, b"hi").await.unwrap(), 0);
    });
}

#[test]
fn reset_that_came_with_the_data_is_seen() {
    rt(1).block_on(async {
        let (mut client, mut server) = pair().await;
        server.write_all(b"hi").await.unwrap();
        server.flush().await.unwrap();
        server.set_linger(Some(Duration::ZERO)).unwrap();
        drop(server); // RST after the data
        time::sleep(Duration::from_millis(50)).await;
        match short_read_then(&mut client, b"hi").await {
            Ok(0) => {}
            Err(err) => assert_eq!(err.kind(), io::ErrorKind::ConnectionReset),
            Ok(n) => panic!("read {n} bytes after a reset"),
        }
    });
}

#[test]
fn peer_reset_mid_write_is_an_error_not_a_signal() {
    rt(1).block_on(async {
        let (mut client, server) = pair().await;
        server.set_linger(Some(Duration::ZERO)).unwrap();
        drop(server); // sends RST
        time::sleep(Duration::from_millis(20)).await;
        let chunk = payload(64 * 1024);
        let mut result = Ok(());
        for _ in 0..64 {
            result = client.write_all(&chunk).await;
            if result.is_ok() {
                result = client.flush().await;
            }
            if result.is_err() {
                break;
            }
        }
        let err = result.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{err:?}"
        );
        // Reported again, never retried in a loop.
        assert!(client.write_all(b"x").await.is_err());
        assert_eq!(client.outbound_buffered(), 0, "queued output freed");
    });
}

#[test]
fn peek_then_read_see_the_same_bytes() {
    rt(1).block_on(async {
        let (mut client, mut server) = pair().await;
        client.write_all(b"hello world").await.unwrap();
        let mut peeked = [0u8; 5];
        let n = server.peek(&mut peeked).await.unwrap();
        assert_eq!(&peeked[..n], &b"hello"[..n]);
        assert!(server.inbound_buffered() >= n);
        let mut read = [0u8; 11];
        server.read_exact(&mut read).await.unwrap();
        assert_eq!(&read, b"hello world");
    });
}

#[test]
fn owned_halves_in_two_tasks() {
    rt(1).block_on(async {
        let (client, mut server) = pair().await;
        let (mut reader, mut writer) = client.into_split();
        let writes = runtime_executor::spawn(async move {
            for i in 0..100u8 {
                writer.write_all(&[i; 10]).await.unwrap();
                runtime_executor::yield_now().await;
            }
            writer.shutdown().await.unwrap();
        });
        let mut echoed = Vec::new();
        let mut buf = [0u8; 1000];
        server.read_exact(&mut buf).await.unwrap();
        server.write_all(&buf).await.unwrap();
        server.close().await.unwrap();
        reader.read_to_end(&mut echoed).await.unwrap();
        writes.await.unwrap();
        assert_eq!(echoed, buf);
        assert!(buf.chunks(10).enumerate().all(|(i, c)| c == [i as u8; 10]));
    });
}

#[test]
fn connect_errors_and_name_resolution() {
    rt(1).block_on(async {
        // A port nobody listens on: bind then drop to find one.
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accept = runtime_executor::spawn(async move { listener.accept().await.map(|_| ()) });
        let stream = TcpStream::connect(format!("localhost:{port}"))
            .await
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap().port(), port);
        accept.await.unwrap().unwrap();

        let err = TcpStream::connect("no-such-host.invalid:80")
            .await
            .unwrap_err();
        assert_ne!(err.kind(), io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn socket_options() {
    rt(1).block_on(async {
        let (client, _server) = pair().await;
        assert!(client.nodelay().unwrap(), "nodelay is on by default");
        client.set_nodelay(false).unwrap();
        assert!(!client.nodelay().unwrap());
        client
            .set_keepalive(Some(
                &TcpKeepalive::new()
                    .with_time(Duration::from_secs(30))
                    .with_interval(Duration::from_secs(5))
                    .with_retries(3),
            ))
            .unwrap();
        assert!(client.keepalive().unwrap());
        client.set_keepalive(None).unwrap();
        assert!(!client.keepalive().unwrap());
        client.set_linger(Some(Duration::from_secs(1))).unwrap();
        assert_eq!(client.linger().unwrap(), Some(Duration::from_secs(1)));
        client.set_recv_buffer_size(64 * 1024).unwrap();
        assert!(client.recv_buffer_size().unwrap() >= 64 * 1024);
        assert!(client.local_addr().unwrap().ip().is_loopback());
    });
}

#[test]
fn buffers_are_kept_while_busy_and_given_back_once_idle() {
    busy_then_idle();
}

#[test]
fn the_idle_sweep_survives_a_runtime_stopped_before_its_sweeper_ran() {
    // A runtime on this thread whose streams got the sweeper spawned, and
    // which stops right away, dropping it unpolled...
    rt(1).block_on(async {
        let (mut client, mut server) = pair().await;
        client.write_all(b"x").await.unwrap();
        let mut byte = [0u8; 1];
        server.read_exact(&mut byte).await.unwrap();
    });
    // ...leaves the next runtime on the same thread a working sweep.
    busy_then_idle();
}

/// Echoes a few messages, then checks that both streams' ring storage is
/// given back to this thread's pool once they go idle.
fn busy_then_idle() {
    use runtime_net::buffer::BufferPool;
    let pooled = || BufferPool::with_local(|pool| pool.pooled_bytes());
    rt(1).block_on(async {
        let (mut client, server) = pair().await;
        let echo = runtime_executor::spawn(async move {
            let mut server = server;
            let mut buf = [0u8; 4];
            loop {
                if server.read_exact(&mut buf).await.is_err() {
                    return;
                }
                server.write_all(&buf).await.unwrap();
            }
        });
        let mut buf = [0u8; 4];
        for _ in 0..3 {
            client.write_all(b"ping").await.unwrap();
            client.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ping");
        }
        // Between messages both sides keep their (empty) rings' storage:
        // two inbound rings (a 16 KiB read each) and two outbound rings.
        // The sweep asks a waiting reader for its inbound storage (the
        // reader owns its ring), so the client waits in a read meanwhile,
        // as the server does.
        let busy = pooled();
        let waited = time::timeout(Duration::from_millis(1600), client.read(&mut buf)).await;
        assert!(waited.is_err(), "nothing was sent");
        let idle = pooled();
        assert!(
            idle >= busy + 2 * 16 * 1024 + 2 * 4096,
            "idle streams still hold storage: {busy} B pooled while busy, {idle} B once idle"
        );
        // And they work as before once busy again.
        client.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        drop(client);
        echo.await.unwrap();
    });
}

#[test]
fn idle_connection_holds_no_buffers() {
    rt(1).block_on(async {
        let (mut client, mut server) = pair().await;
        let mut buf = [0u8; 4];
        // A read that finds nothing leaves no buffer behind.
        let res = time::timeout(Duration::from_millis(10), server.read(&mut buf)).await;
        assert!(res.is_err());
        assert_eq!(server.inbound_buffered(), 0);
        client.write_all(b"ping").await.unwrap();
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
    });
}

#[test]
fn inherent_fill_buf_lends_the_buffered_bytes_until_consumed() {
    use futures_lite::AsyncBufReadExt;
    rt(1).block_on(async {
        let (mut client, mut server) = pair().await;
        client.write_all(b"hello").await.unwrap();
        // The inherent method (one poll), shadowing AsyncBufReadExt's.
        let chunk = server.fill_buf().await.unwrap();
        assert_eq!(chunk, b"hello");
        server.consume(2);
        assert_eq!(server.fill_buf().await.unwrap(), b"llo");
        server.consume(3);

        // The halves have it too, and end of stream is an empty slice.
        let (mut reader, _writer) = server.into_split();
        client.write_all(b"bye").await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        loop {
            let chunk = reader.fill_buf().await.unwrap();
            if chunk.is_empty() {
                break;
            }
            got.extend_from_slice(chunk);
            let n = chunk.len();
            reader.consume(n);
        }
        assert_eq!(got, b"bye");
    });
}

#[test]
fn inherent_write_all_waits_past_the_limit_and_delivers_every_byte() {
    rt(1).block_on(async {
        let (mut client, mut server) = pair().await;
        client.set_write_buffer_limit(16 * 1024);
        client.set_send_buffer_size(4096).unwrap();
        let data = payload(1 << 20);
        let reader = runtime_executor::spawn(async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            got
        });
        {
            // The borrowed write half's inherent `write_all` (shadowing
            // AsyncWriteExt's), in pieces of awkward sizes: each one waits
            // whenever the ring is at its limit.
            let (_reader, mut writer) = client.split();
            for piece in data.chunks(100_003) {
                writer.write_all(piece).await.unwrap();
            }
            writer.write_all(&[]).await.unwrap(); // nothing to write: done at once
        }
        assert!(client.outbound_buffered() <= 16 * 1024);
        client.shutdown().await.unwrap();
        let got = reader.await.unwrap();
        assert!(got == data, "bytes lost or reordered");
        let err = client.write_all(b"after shutdown").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    });
}

#[test]
fn huge_buffer_limits_are_capped_not_a_panic() {
    rt(1).block_on(async {
        let (mut client, mut server) = pair().await;
        // Rings are bounded at 2 GiB; a larger limit is taken as that.
        client.set_write_buffer_limit(usize::MAX);
        server.set_read_buffer_limit(usize::MAX);
        client.write_all(b"still works").await.unwrap();
        client.flush().await.unwrap();
        let mut got = [0u8; 11];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"still works");
    });
}

/// The descriptors this process holds.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

#[test]
fn a_dropped_stream_gives_up_on_a_peer_that_never_reads_at_its_close_timeout() {
    rt(1).block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        // The peer never reads.
        let (_peer, _) = listener.accept().unwrap();
        assert_eq!(stream.close_timeout(), Duration::from_secs(30));
        stream.set_close_timeout(Duration::from_millis(300));
        assert_eq!(stream.close_timeout(), Duration::from_millis(300));
        let mut stream = stream;
        // Fill the kernel's buffers and the outbound ring.
        let chunk = vec![7u8; 64 * 1024];
        while time::timeout(Duration::from_millis(200), stream.write_all(&chunk))
            .await
            .is_ok()
        {}
        assert!(stream.outbound_buffered() > 0);
        let with_stream = open_fds();
        drop(stream);
        // The drain task keeps the socket, delivering, until the timeout.
        time::sleep(Duration::from_millis(50)).await;
        assert_eq!(open_fds(), with_stream, "closed before its close timeout");
        let started = std::time::Instant::now();
        while open_fds() >= with_stream {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "still open long after its 300 ms close timeout"
            );
            time::sleep(Duration::from_millis(20)).await;
        }
    });
}

#[test]
fn a_dropped_stream_gives_up_at_its_close_timeout_on_a_peer_that_reads_a_trickle() {
    // Small kernel buffers on both ends, so that each small read of the
    // peer makes room, and the stream is told so.
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener.set_recv_buffer_size(4096).unwrap();
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    listener.listen(1).unwrap();
    let listener: std::net::TcpListener = listener.into();
    let addr = listener.local_addr().unwrap();
    rt(1).block_on(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_send_buffer_size(4096).unwrap();
        stream.set_close_timeout(Duration::from_millis(300));
        let (mut peer, _) = listener.accept().unwrap();
        let mut stream = stream;
        let chunk = vec![7u8; 64 * 1024];
        while time::timeout(Duration::from_millis(200), stream.write_all(&chunk))
            .await
            .is_ok()
        {}
        assert!(stream.outbound_buffered() > 128 * 1024);
        // The peer reads 1 KiB every 20 ms: all that is queued would take
        // it about 5 s.
        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 1024];
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                match peer.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        let with_stream = open_fds();
        drop(stream);
        let started = std::time::Instant::now();
        while open_fds() >= with_stream {
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "a peer reading a trickle held the socket past its 300 ms close timeout"
            );
            time::sleep(Duration::from_millis(20)).await;
        }
        reader.join().unwrap();
    });
}
