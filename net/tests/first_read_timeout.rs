//! RELIABILITY row 9 on both faces: a slowloris peer trickling one byte at
//! a time of a request that never completes is closed at the first-frame
//! deadline (`Server::first_read_timeout`, `Options::first_read_timeout`),
//! however often it sends; a peer whose request completes in time is
//! served and then kept, idle, past the deadline.

mod engine_util;
mod util;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use engine_util::socket_addr;
use runtime_executor::Runtime;
use runtime_net::engine::{self, Action, Conn, EventHandler, Options};
use runtime_net::Server;

const DEADLINE: Duration = Duration::from_millis(600);
/// The trickle's pace: several bytes fit in the deadline.
const TRICKLE: Duration = Duration::from_millis(100);
/// Bytes after which a slowloris peer that is still served fails the test:
/// four deadlines' worth.
const MAX_TRICKLED: usize = 24;

/// Sends one byte (never a newline) per [`TRICKLE`] until the server
/// closes; returns how many it sent.
fn slowloris(addr: SocketAddr) -> usize {
    let mut peer = TcpStream::connect(addr).unwrap();
    peer.set_read_timeout(Some(TRICKLE)).unwrap();
    let mut sent = 0;
    let mut buf = [0; 16];
    while sent < MAX_TRICKLED {
        if peer.write_all(b"G").is_err() {
            return sent;
        }
        sent += 1;
        match peer.read(&mut buf) {
            Ok(0) => return sent,
            Ok(_) => panic!("a reply to a request that never completed"),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) if err.kind() == io::ErrorKind::TimedOut => {}
            Err(_) => return sent, // reset
        }
    }
    sent
}

/// A request line in time, its echo, then idle past the deadline, and a
/// second request still served.
fn prompt_client(addr: SocketAddr) {
    let peer = TcpStream::connect(addr).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(peer.try_clone().unwrap());
    let mut writer = peer;
    for request in ["first\n", "second\n"] {
        writer.write_all(request.as_bytes()).unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, request);
        thread::sleep(DEADLINE * 2);
    }
}

fn check(face: &str, trickled: usize) {
    assert!(
        trickled < MAX_TRICKLED,
        "{face}: a peer trickling a request that never completes was still served \
         after {trickled} bytes"
    );
}

/// Echoes whole lines.
async fn line_echo(stream: runtime_net::TcpStream) -> io::Result<()> {
    use futures_lite::io::{AsyncBufReadExt, BufReader};
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        writer.write_all(&line).await?;
    }
}

#[test]
fn server_closes_a_slowloris_at_the_first_read_deadline() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    let server = Server::new("127.0.0.1:0".parse().unwrap())
        .handle_signals(false)
        .shutdown_timeout(Duration::from_millis(100))
        .first_read_timeout(DEADLINE);
    let shutdown = server.shutdown_handle();
    let client = thread::spawn(move || {
        let addr = shutdown.wait_listening();
        let prompt = thread::spawn(move || prompt_client(addr));
        let trickled = slowloris(addr);
        prompt.join().unwrap();
        shutdown.shutdown();
        trickled
    });
    server.run(&rt, || line_echo).unwrap();
    check("Server", client.join().unwrap());
    assert_eq!(server.stats().errors, 1, "the slowloris counts as failed");
}

/// Echoes whole lines; leaves a partial line in the inbound buffer.
#[derive(Clone)]
struct LineEcho;

impl EventHandler for LineEcho {
    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        loop {
            let (inbound, outbound) = conn.split();
            let Some(end) = inbound.peek(usize::MAX).iter().position(|&b| b == b'\n') else {
                return Action::None;
            };
            if outbound.write(inbound.next(end + 1)).is_err() {
                return Action::Close;
            }
        }
    }
}

#[test]
fn engine_closes_a_slowloris_at_the_first_read_deadline() {
    let engine = engine::start(
        LineEcho,
        &["tcp://127.0.0.1:0"],
        Options::new().first_read_timeout(DEADLINE),
    )
    .expect("engine::start");
    let addr = socket_addr(&engine.addrs()[0]);
    let prompt = thread::spawn(move || prompt_client(addr));
    let trickled = slowloris(addr);
    prompt.join().unwrap();
    engine.shutdown(Duration::ZERO).unwrap();
    check("engine", trickled);
}
