//! `Framed`, `FramedRead` and `FramedWrite`: the error and end-of-file policy,
//! backpressure, short and zero writes, and taking apart (RELIABILITY.md rows 6, 7
//! and 17).

mod util;

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures_core::Stream;
use futures_lite::{future, StreamExt};
use futures_sink::Sink;
use runtime_codec::{
    BytesCodec, Framed, FramedParts, FramedRead, FramedWrite, LengthFieldCodec,
    LengthFieldCodecError, LinesCodec, LinesCodecError,
};
use util::{Read, ScriptedIo, Write};

#[test]
fn decode_error_ends_the_stream_with_that_error() {
    let io = ScriptedIo::new([Read::Data(b"ok\n\xff\nnever\n".to_vec())]);
    let mut framed = Framed::new(io, LinesCodec::new());
    future::block_on(async {
        assert_eq!(framed.next().await.unwrap().unwrap(), "ok");
        assert!(matches!(
            framed.next().await,
            Some(Err(LinesCodecError::InvalidUtf8(_)))
        ));
        assert!(framed.next().await.is_none());
        assert!(framed.next().await.is_none(), "stays ended");
    });
}

#[test]
fn eof_mid_frame_is_an_error_not_a_silent_drop() {
    let io = ScriptedIo::new([Read::Data(vec![0, 0, 0, 9, b'p', b'a']), Read::Pending]);
    let out: Vec<_> = future::block_on(FramedRead::new(io, LengthFieldCodec::new()).collect());
    assert_eq!(out.len(), 1);
    assert!(matches!(
        out[0],
        Err(LengthFieldCodecError::IncompleteFrame {
            buffered: 6,
            expected: Some(13)
        })
    ));
}

#[test]
fn default_decode_eof_reports_leftover_bytes() {
    /// A decoder that only ever wants more.
    struct Never;
    impl runtime_codec::Decoder for Never {
        type Item = ();
        type Error = io::Error;
        fn decode(&mut self, _: &mut BytesMut) -> io::Result<Option<()>> {
            Ok(None)
        }
    }
    let io = ScriptedIo::new([Read::Data(b"abc".to_vec())]);
    let out: Vec<_> = future::block_on(FramedRead::new(io, Never).collect());
    assert_eq!(out.len(), 1);
    let err = out.into_iter().next().unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("3 bytes remaining"), "{err}");
}

#[test]
fn clean_eof_between_frames_ends_the_stream() {
    let io = ScriptedIo::new([Read::Data(b"\0\0\0\x01x".to_vec()), Read::Pending]);
    let out: Vec<_> = future::block_on(FramedRead::new(io, LengthFieldCodec::new()).collect());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].as_ref().unwrap().as_ref(), b"x");
}

#[test]
fn pending_read_returns_pending_without_losing_bytes() {
    let io = ScriptedIo::new([
        Read::Data(b"par".to_vec()),
        Read::Pending,
        Read::Data(b"tial\n".to_vec()),
    ]);
    let mut framed = FramedRead::new(io, LinesCodec::new());
    let noop = util::noop_waker();
    let mut cx = Context::from_waker(&noop);
    assert!(Pin::new(&mut framed).poll_next(&mut cx).is_pending());
    assert_eq!(&framed.read_buffer()[..], b"par");
    match Pin::new(&mut framed).poll_next(&mut cx) {
        Poll::Ready(Some(Ok(line))) => assert_eq!(line, "partial"),
        other => panic!("expected a line, got {other:?}"),
    }
}

#[test]
fn write_zero_is_an_error_not_a_loop() {
    let io =
        ScriptedIo::new([]).with_writes([Write::Accept(2), Write::Accept(0), Write::Accept(100)]);
    let mut framed = FramedWrite::new(io, LinesCodec::new());
    let err = future::block_on(framed.send("hello")).unwrap_err();
    match err {
        LinesCodecError::Io(e) => assert_eq!(e.kind(), io::ErrorKind::WriteZero),
        other => panic!("expected WriteZero, got {other:?}"),
    }
    assert_eq!(
        framed.get_ref().write_calls,
        2,
        "no retry after a zero write"
    );
    assert_eq!(framed.get_ref().written, b"he");
    assert_eq!(
        &framed.write_buffer()[..],
        b"llo\n",
        "unwritten bytes stay buffered"
    );
}

#[test]
fn write_error_is_reported_and_bytes_kept() {
    let io = ScriptedIo::new([])
        .with_writes([Write::Accept(1), Write::Error(io::ErrorKind::BrokenPipe)]);
    let mut framed = Framed::new(io, LinesCodec::new());
    let err = future::block_on(framed.send("xy")).unwrap_err();
    assert!(matches!(err, LinesCodecError::Io(e) if e.kind() == io::ErrorKind::BrokenPipe));
    assert_eq!(&framed.write_buffer()[..], b"y\n");
}

#[test]
fn many_frames_through_short_writes_and_pending_arrive_in_order() {
    // Row 6 in small: every byte arrives in order through 1-7 byte writes.
    let items: Vec<Vec<u8>> = (0..500u32)
        .map(|i| i.to_be_bytes().repeat((i % 13) as usize))
        .collect();
    let total: usize = items.iter().map(|i| i.len() + 4).sum();
    let written = util::write_frames(LengthFieldCodec::new(), items.clone(), total).unwrap();
    assert_eq!(written.len(), total);
    let out = util::read_frames(LengthFieldCodec::new(), vec![Read::Data(written)]);
    assert!(out.error.is_none());
    assert_eq!(out.frames, items);
}

#[test]
fn backpressure_holds_items_past_the_boundary() {
    // A transport that never takes anything: the sink accepts items until the
    // buffer reaches the boundary, then `poll_ready` is pending.
    let io = ScriptedIo::new([]).with_writes(vec![Write::Pending; 1000]);
    let mut framed = FramedWrite::new(io, BytesCodec::new());
    framed.set_backpressure_boundary(100);
    assert_eq!(framed.backpressure_boundary(), 100);
    let noop = util::noop_waker();
    let mut cx = Context::from_waker(&noop);
    let mut accepted = 0;
    for _ in 0..50 {
        match Sink::<&[u8]>::poll_ready(Pin::new(&mut framed), &mut cx) {
            Poll::Ready(Ok(())) => {
                Pin::new(&mut framed).start_send(&[1u8; 30][..]).unwrap();
                accepted += 1;
            }
            Poll::Pending => break,
            Poll::Ready(Err(e)) => panic!("{e}"),
        }
    }
    assert_eq!(
        accepted, 4,
        "120 bytes buffered, past the 100-byte boundary"
    );
    assert_eq!(framed.write_buffer().len(), 120);
}

#[test]
fn backpressure_flushes_then_accepts_again() {
    let io = ScriptedIo::new([]).with_writes([Write::Pending, Write::Accept(60)]);
    let mut framed = FramedWrite::new(io, BytesCodec::new());
    framed.set_backpressure_boundary(50);
    future::block_on(async {
        for _ in 0..3 {
            poll_fn(|cx| Sink::<&[u8]>::poll_ready(Pin::new(&mut framed), cx))
                .await
                .unwrap();
            Pin::new(&mut framed).start_send(&[7u8; 30][..]).unwrap();
        }
    });
    // The second `poll_ready` (60 bytes buffered) wrote them; the third item waits.
    assert_eq!(framed.get_ref().written.len(), 60);
    assert_eq!(framed.write_buffer().len(), 30);
}

#[test]
fn sink_close_flushes_then_closes() {
    let io = ScriptedIo::new([]).with_writes(util::short_writes(6));
    let mut framed = Framed::new(io, LinesCodec::new());
    future::block_on(async {
        poll_fn(|cx| Sink::<&str>::poll_ready(Pin::new(&mut framed), cx))
            .await
            .unwrap();
        Pin::new(&mut framed).start_send("a").unwrap();
        Pin::new(&mut framed).start_send("bc").unwrap();
        poll_fn(|cx| Sink::<&str>::poll_close(Pin::new(&mut framed), cx))
            .await
            .unwrap();
    });
    let io = framed.into_inner();
    assert_eq!(io.written, b"a\nbc\n");
    assert!(io.closed);
}

#[test]
fn into_parts_and_from_parts_keep_buffered_bytes() {
    let io = ScriptedIo::new([
        Read::Data(b"HELLO\n\0\0\0\x02hi\0\0\0\x03".to_vec()),
        Read::Data(b"bye".to_vec()),
    ])
    .with_writes([Write::Pending]);
    let mut lines = Framed::new(io, LinesCodec::new());
    future::block_on(async {
        assert_eq!(lines.next().await.unwrap().unwrap(), "HELLO");
    });
    // Something encoded but not written yet.
    let noop = util::noop_waker();
    let mut cx = Context::from_waker(&noop);
    Pin::new(&mut lines).start_send("WELCOME").unwrap();
    assert!(Sink::<&str>::poll_flush(Pin::new(&mut lines), &mut cx).is_pending());

    let parts = lines.into_parts();
    assert_eq!(&parts.read_buf[..], b"\0\0\0\x02hi\0\0\0\x03");
    assert_eq!(&parts.write_buf[..], b"WELCOME\n");
    let mut new_parts = FramedParts::new(parts.io, LengthFieldCodec::new());
    new_parts.read_buf = parts.read_buf;
    new_parts.write_buf = parts.write_buf;
    let mut frames = Framed::from_parts(new_parts);
    future::block_on(async {
        assert_eq!(frames.next().await.unwrap().unwrap(), "hi");
        assert_eq!(frames.next().await.unwrap().unwrap(), "bye");
        assert!(frames.next().await.is_none());
        frames.send("ok").await.unwrap();
    });
    assert_eq!(frames.get_ref().written, b"WELCOME\n\0\0\0\x02ok");
}

#[test]
fn read_buffer_stays_bounded_with_a_bounded_codec() {
    // A peer streaming 8 MiB without a newline: the read buffer holds no more than
    // the line limit plus one read.
    let script = (0..128)
        .map(|_| Read::Data(vec![b'z'; 64 * 1024]))
        .collect::<Vec<_>>();
    let io = ScriptedIo::new(script);
    let mut framed = FramedRead::new(io, LinesCodec::with_max_length(1000));
    future::block_on(async {
        assert!(matches!(
            framed.next().await,
            Some(Err(LinesCodecError::LineTooLong { max: 1000 }))
        ));
    });
    assert!(
        framed.read_buffer().capacity() <= 128 * 1024,
        "capacity {}",
        framed.read_buffer().capacity()
    );
}

#[test]
fn flush_and_close_inherent() {
    let io = ScriptedIo::new([]).with_writes(util::short_writes(8));
    let mut framed = Framed::new(io, BytesCodec::new());
    future::block_on(async {
        Pin::new(&mut framed).start_send(&b"12345678"[..]).unwrap();
        framed.flush().await.unwrap();
        assert!(framed.write_buffer().is_empty());
        framed.close().await.unwrap();
    });
    assert_eq!(framed.get_ref().written, b"12345678");
    assert!(framed.get_ref().closed);
}
