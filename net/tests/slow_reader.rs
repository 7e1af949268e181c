//! A stream writing through a 4 KiB `SO_SNDBUF` to a peer that reads 1 to
//! 7 bytes at a time, at random (RELIABILITY row 6): nothing lost, order
//! kept, no busy loop. 64 MiB in a release build (`.ci/run` runs this file
//! with `--release`), 4 MiB in a debug build.
//!
//! The row asks for a scripted transport under the stream, taking 1 to 7
//! bytes and `WouldBlock` at random. The stream's write path sends on its
//! socket directly (no transport trait to mock), so this drives it through
//! a real socket instead: with a 4 KiB send buffer and a peer that takes a
//! few bytes per read, the kernel accepts short and partial sends and
//! refuses with `EAGAIN`, as such a transport would, at the peer's pace.

mod util;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::thread;

use futures_lite::AsyncWriteExt;
use runtime_executor::Runtime;
use runtime_net::{TcpListener, TcpStream};
use util::XorShift;

const LEN: usize = if cfg!(debug_assertions) {
    4 << 20
} else {
    64 << 20
};

fn pattern_byte(i: usize) -> u8 {
    ((i % 251) as u8) ^ ((i / 251 % 253) as u8)
}

/// Acknowledges at once what was read: loopback with a 4 KiB send buffer
/// otherwise waits on delayed ACKs (40 ms per few KiB).
fn quick_ack(stream: &std::net::TcpStream) {
    let on: libc::c_int = 1;
    // SAFETY: a valid fd and a live `c_int` of the size passed.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[test]
fn a_stream_writes_everything_in_order_to_a_peer_reading_one_to_seven_bytes() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = thread::spawn(move || {
        let mut peer = std::net::TcpStream::connect(addr).unwrap();
        peer.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut rng = XorShift::new(0x5eed_0006);
        let mut buf = [0u8; 7];
        let mut pos = 0;
        loop {
            let want = 1 + rng.up_to(6);
            let n = peer.read(&mut buf[..want]).expect("read");
            quick_ack(&peer);
            if n == 0 {
                return pos;
            }
            for (k, &byte) in buf[..n].iter().enumerate() {
                assert_eq!(byte, pattern_byte(pos + k), "byte {} differs", pos + k);
            }
            pos += n;
        }
    });
    let stats = rt.block_on(async move {
        let (mut stream, _): (TcpStream, _) = listener.accept().await.unwrap();
        stream.set_send_buffer_size(4096).unwrap();
        let before = runtime_executor::stats();
        let data: Vec<u8> = (0..LEN).map(pattern_byte).collect();
        let mut rng = XorShift::new(0x5eed_0066);
        let mut pos = 0;
        // Writes of random sizes, from a byte to 64 KiB.
        while pos < LEN {
            let n = (1 + rng.up_to(64 * 1024 - 1)).min(LEN - pos);
            stream.write_all(&data[pos..pos + n]).await.unwrap();
            pos += n;
        }
        stream.close().await.unwrap();
        let after = runtime_executor::stats();
        (
            after.tasks_polled - before.tasks_polled,
            after.io_events - before.io_events,
        )
    });
    let got = reader.join().unwrap();
    assert_eq!(got, LEN, "bytes delivered");
    let (polls, events) = stats;
    eprintln!("{LEN} B: {polls} polls for {events} I/O events");
    // No busy loop: the writer runs when the socket has room again, not in
    // between (a spin would poll many times per event).
    assert!(
        polls <= 2 * events + 1_000,
        "{polls} polls for {events} I/O events"
    );
}
