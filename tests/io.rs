//! `runtime::io` on real sockets: the traits, `split`, `copy`,
//! `copy_bidirectional`.

use std::time::Duration;

use runtime::io::{
    copy, copy_bidirectional, split, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader,
};
use runtime::net::{TcpListener, TcpStream};
use runtime::Runtime;

/// Runs `f` on a one-core runtime, failing instead of hanging.
fn run<F: std::future::Future>(f: F) -> F::Output {
    let rt = Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        runtime::time::timeout(Duration::from_secs(30), f)
            .await
            .expect("finished within 30 s")
    })
}

/// A payload that shows reordering or loss: byte i is (i * 7 + seed) % 251.
fn payload(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + seed) % 251) as u8).collect()
}

#[test]
fn the_extension_traits_work_on_tcp_streams() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = runtime::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut lines = BufReader::new(stream);
            let (mut line, mut all) = (String::new(), String::new());
            let mut count = 0;
            // futures-lite's `read_line` wants an empty `String`: clear it.
            while lines.read_line(&mut line).await.unwrap() > 0 {
                count += 1;
                all.push_str(&line);
                line.clear();
            }
            (count, all)
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        AsyncWriteExt::write_all(&mut client, b"one\ntwo\nthree\n")
            .await
            .unwrap();
        client.close().await.unwrap();
        let (count, all) = server.await.unwrap();
        assert_eq!((count, all.as_str()), (3, "one\ntwo\nthree\n"));
    });
}

#[test]
fn io_split_halves_read_and_write_concurrently() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        runtime::spawn(async move {
            // Echo with `copy` through `runtime::io::split`.
            let (stream, _) = listener.accept().await.unwrap();
            let (reader, mut writer) = split(stream);
            copy(reader, &mut writer).await.unwrap();
            writer.close().await.unwrap();
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut reader, mut writer) = split(stream);
        let data = payload(300_000, 3);
        let expected = data.clone();
        let ((), echoed) = runtime::join!(
            async move {
                writer.write_all(&data).await.unwrap();
                writer.close().await.unwrap();
            },
            async move {
                let mut echoed = Vec::new();
                reader.read_to_end(&mut echoed).await.unwrap();
                echoed
            },
        );
        assert!(echoed == expected, "echo differs ({} bytes)", echoed.len());
    });
}

#[test]
fn copy_bidirectional_relays_both_ways_and_passes_half_closes_on() {
    let a_to_b = payload(1 << 20, 1);
    let b_to_a = payload(700_000, 2);
    let (relayed, got_at_b, got_at_a) = run({
        let (a_to_b, b_to_a) = (a_to_b.clone(), b_to_a.clone());
        async move {
            // Upstream B: reads everything, sending its own data meanwhile,
            // then closes.
            let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let upstream_addr = upstream.local_addr().unwrap();
            let b = runtime::spawn(async move {
                let (stream, _) = upstream.accept().await.unwrap();
                let (mut r, mut w) = split(stream);
                let (got, ()) = runtime::join!(
                    async move {
                        let mut got = Vec::new();
                        r.read_to_end(&mut got).await.unwrap();
                        got
                    },
                    async move {
                        w.write_all(&b_to_a).await.unwrap();
                        w.close().await.unwrap();
                    },
                );
                got
            });
            let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let proxy_addr = proxy.local_addr().unwrap();
            let relay = runtime::spawn(async move {
                let (mut client, _) = proxy.accept().await.unwrap();
                let mut server = TcpStream::connect(upstream_addr).await.unwrap();
                copy_bidirectional(&mut client, &mut server).await.unwrap()
            });
            // Client A.
            let client = TcpStream::connect(proxy_addr).await.unwrap();
            let (mut r, mut w) = split(client);
            let ((), got_at_a) = runtime::join!(
                async move {
                    w.write_all(&a_to_b).await.unwrap();
                    w.close().await.unwrap();
                },
                async move {
                    let mut got = Vec::new();
                    r.read_to_end(&mut got).await.unwrap();
                    got
                },
            );
            let relayed = runtime::time::timeout(Duration::from_secs(20), relay)
                .await
                .expect("the relay ends once both sides closed")
                .unwrap();
            (relayed, b.await.unwrap(), got_at_a)
        }
    });
    assert_eq!(relayed, (a_to_b.len() as u64, b_to_a.len() as u64));
    assert!(got_at_b == a_to_b, "A to B differs");
    assert!(got_at_a == b_to_a, "B to A differs");
}

#[test]
fn copy_bidirectional_reports_a_reset_peer() {
    let err = run(async {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        runtime::spawn(async move {
            let (stream, _) = upstream.accept().await.unwrap();
            // Reset: close with unread data and linger 0.
            stream.set_linger(Some(Duration::ZERO)).unwrap();
            runtime::time::sleep(Duration::from_millis(20)).await;
            drop(stream);
        });
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_addr = proxy.local_addr().unwrap();
        let relay = runtime::spawn(async move {
            let (mut client, _) = proxy.accept().await.unwrap();
            let mut server = TcpStream::connect(upstream_addr).await.unwrap();
            copy_bidirectional(&mut client, &mut server).await
        });
        let mut client = TcpStream::connect(proxy_addr).await.unwrap();
        AsyncWriteExt::write_all(&mut client, b"data the upstream never reads")
            .await
            .unwrap();
        let out = runtime::time::timeout(Duration::from_secs(20), relay)
            .await
            .expect("a reset ends the relay")
            .unwrap();
        drop(client);
        out
    });
    // A reset surfaces as an error (or, if it raced the data, as a clean end
    // of the upstream direction); it must not hang.
    if let Err(e) = err {
        assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{e}"
        );
    }
}

#[test]
fn copy_bidirectional_passes_a_half_close_on_before_the_other_side_ends() {
    // The upstream answers only after the request's end of file: without the
    // proxy's half-close it would wait forever.
    let reply = run(async {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        runtime::spawn(async move {
            let (mut s, _) = upstream.accept().await.unwrap();
            let mut request = Vec::new();
            s.read_to_end(&mut request).await.unwrap();
            AsyncWriteExt::write_all(&mut s, &request.to_ascii_uppercase())
                .await
                .unwrap();
            // `s` stays open until the proxy is done with it.
            std::future::pending::<()>().await;
        });
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_addr = proxy.local_addr().unwrap();
        runtime::spawn(async move {
            let (mut client, _) = proxy.accept().await.unwrap();
            let mut server = TcpStream::connect(upstream_addr).await.unwrap();
            let _ = copy_bidirectional(&mut client, &mut server).await;
            std::future::pending::<()>().await; // keep both sockets open
        });
        let mut client = TcpStream::connect(proxy_addr).await.unwrap();
        AsyncWriteExt::write_all(&mut client, b"ping")
            .await
            .unwrap();
        client.close().await.unwrap();
        let mut reply = [0u8; 4];
        client.read_exact(&mut reply).await.unwrap();
        reply
    });
    assert_eq!(&reply, b"PING");
}
