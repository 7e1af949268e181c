//! The `tokio-io` feature: tokio's I/O traits on our streams, driven by our
//! runtime (no tokio runtime involved).
#![cfg(feature = "tokio-io")]

use std::future::poll_fn;
use std::pin::Pin;

use runtime_executor::Runtime;
use runtime_net::UnixStream;
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

#[test]
fn tokio_traits_read_and_write() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let mut msg: &[u8] = b"through tokio's traits";
        while !msg.is_empty() {
            let n = poll_fn(|cx| AsyncWrite::poll_write(Pin::new(&mut a), cx, msg))
                .await
                .unwrap();
            msg = &msg[n..];
        }
        poll_fn(|cx| AsyncWrite::poll_shutdown(Pin::new(&mut a), cx))
            .await
            .unwrap();

        let mut got = Vec::new();
        let mut storage = [0u8; 7];
        loop {
            let mut buf = ReadBuf::new(&mut storage);
            poll_fn(|cx| AsyncRead::poll_read(Pin::new(&mut b), cx, &mut buf))
                .await
                .unwrap();
            if buf.filled().is_empty() {
                break;
            }
            got.extend_from_slice(buf.filled());
        }
        assert_eq!(got, b"through tokio's traits");
        let rest = poll_fn(|cx| {
            AsyncBufRead::poll_fill_buf(Pin::new(&mut b), cx).map(|r| r.map(|buf| buf.len()))
        })
        .await
        .unwrap();
        assert_eq!(rest, 0, "end of stream");
    });
}

/// Writes all of `msg` through tokio's `AsyncWrite`, then shuts down.
async fn tokio_write_all<W: AsyncWrite + Unpin>(writer: &mut W, mut msg: &[u8]) {
    while !msg.is_empty() {
        let n = poll_fn(|cx| AsyncWrite::poll_write(Pin::new(&mut *writer), cx, msg))
            .await
            .unwrap();
        msg = &msg[n..];
    }
    poll_fn(|cx| AsyncWrite::poll_flush(Pin::new(&mut *writer), cx))
        .await
        .unwrap();
    poll_fn(|cx| AsyncWrite::poll_shutdown(Pin::new(&mut *writer), cx))
        .await
        .unwrap();
}

/// Reads to end of stream through tokio's `AsyncRead`.
async fn tokio_read_to_end<R: AsyncRead + Unpin>(reader: &mut R) -> Vec<u8> {
    let mut got = Vec::new();
    let mut storage = [0u8; 5];
    loop {
        let mut buf = ReadBuf::new(&mut storage);
        poll_fn(|cx| AsyncRead::poll_read(Pin::new(&mut *reader), cx, &mut buf))
            .await
            .unwrap();
        if buf.filled().is_empty() {
            return got;
        }
        got.extend_from_slice(buf.filled());
    }
}

#[test]
fn tokio_traits_on_every_half() {
    fn is_tokio_read<T: AsyncRead + AsyncBufRead>() {}
    fn is_tokio_write<T: AsyncWrite>() {}
    is_tokio_read::<runtime_net::tcp::ReadHalf<'static>>();
    is_tokio_read::<runtime_net::tcp::OwnedReadHalf>();
    is_tokio_write::<runtime_net::tcp::WriteHalf<'static>>();
    is_tokio_write::<runtime_net::tcp::OwnedWriteHalf>();

    let rt = Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let listener = runtime_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = runtime_net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();

        // Borrowed halves of the client, owned halves of the server.
        let (mut server_read, mut server_write) = server.into_split();
        {
            let (_client_read, mut client_write) = client.split();
            tokio_write_all(&mut client_write, b"borrowed write half").await;
        }
        assert_eq!(
            tokio_read_to_end(&mut server_read).await,
            b"borrowed write half"
        );
        tokio_write_all(&mut server_write, b"owned write half").await;
        let (mut client_read, _client_write) = client.split();
        assert_eq!(
            tokio_read_to_end(&mut client_read).await,
            b"owned write half"
        );
    });
}
