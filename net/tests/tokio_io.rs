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
