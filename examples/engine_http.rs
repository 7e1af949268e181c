//! The TechEmpower plaintext server of `http_plaintext`, on the callback
//! engine: `GET /plaintext` answers `Hello, World!`, with one loop and one
//! `SO_REUSEPORT` listener per core.
//!
//! ```text
//! cargo run --release --example engine_http -- --port 8080 --cores 2
//! curl -v http://127.0.0.1:8080/plaintext
//! wrk -t1 -c100 -d5s http://127.0.0.1:8080/plaintext
//! cargo test --example engine_http
//! ```
//!
//! Same contract as `http_plaintext`, byte for byte: the parsing, the
//! responses and the `Date` value are the ones of `support/plaintext.rs`.
//! Here nothing is copied, not even a head split across reads: `on_traffic`
//! peeks at the connection's inbound buffer, answers every complete request
//! there, discards those, and leaves a partial head where it is for the next
//! call. The responses of one call are gathered and written together; the
//! loop sends them in one `writev` when the callback returns.
//!
//! Each loop's handler keeps its own `Date` value (per-loop state: the engine
//! clones the handler once per loop), rewritten by `on_tick` once a second.
//!
//! Closing after the last response (`Connection: close`, HTTP/1.0, a bad
//! request) is a half-close, as in `http_plaintext`: the response and a FIN
//! are sent, then what the peer still sends is read and dropped (up to
//! 64 KiB) until it closes or the linger time is over, so that unread input
//! does not turn the close into a RST that destroys the response. The engine
//! has no per-connection timer: lingering connections are closed by the next
//! tick past their deadline, so after 1 to 2 s.
//!
//! Ctrl-c or SIGTERM stops it gracefully.

use std::io;
use std::time::{Duration, Instant, SystemTime};

use runtime::net::engine::{self, Action, Conn, ConnHandle, EventHandler, Options};

#[path = "support/args.rs"]
mod args;

#[cfg(test)]
#[path = "support/engine_testing.rs"]
mod engine_testing;

#[path = "support/plaintext.rs"]
mod plaintext;

use plaintext::{answer_front, http_date, HttpDate, Next, LINGER, LINGER_BYTES};

const USAGE: &str = "engine_http [--port 8080] [--cores N] [--pin true|false]";

/// One loop's handler.
#[derive(Clone)]
struct Http {
    /// This loop's `Date` value, rewritten by `on_tick`.
    date: HttpDate,
    /// The responses of the current `on_traffic` call.
    out: Vec<u8>,
    /// This loop's half-closed connections and when to close them.
    lingering: Vec<(ConnHandle, Instant)>,
}

/// Each connection's state, in its context.
#[derive(Debug, Default, Clone, Copy)]
struct State {
    /// Body bytes of the last request still to skip.
    body_left: u64,
    /// Half-closed after the last response: input bytes dropped so far.
    lingering: Option<usize>,
}

impl Http {
    fn new() -> Self {
        Http {
            date: http_date(SystemTime::now()),
            out: Vec::new(),
            lingering: Vec::new(),
        }
    }

    /// Answers what `conn` has buffered, updating `state`.
    fn serve(&mut self, conn: &mut Conn, state: &mut State) -> Action {
        if let Some(drained) = &mut state.lingering {
            *drained += conn.discard(usize::MAX);
            return if *drained >= LINGER_BYTES {
                Action::Close
            } else {
                Action::None
            };
        }
        let mut next = Next::Read;
        // Every complete request in the buffer, answered from one view of
        // it; what they used is discarded once, after.
        let input = conn.peek(usize::MAX);
        let mut used = 0;
        loop {
            if state.body_left > 0 {
                let left = usize::try_from(state.body_left).unwrap_or(usize::MAX);
                let skip = left.min(input.len() - used);
                used += skip;
                state.body_left -= skip as u64;
                if state.body_left > 0 {
                    break; // the rest of the body has not come yet
                }
            }
            let (n, answered) = answer_front(&input[used..], &self.date, &mut self.out);
            used += n;
            match answered {
                None => break, // a partial head (or nothing) stays buffered
                Some((Next::Read, body_len)) => state.body_left = body_len,
                Some((Next::Close, _)) => {
                    next = Next::Close;
                    break;
                }
            }
        }
        conn.discard(used);
        if !self.out.is_empty() {
            // Never refused: the loop only calls `on_traffic` while the
            // outbound buffer is under its high watermark.
            let written = conn.write(&self.out);
            self.out.clear();
            if written.is_err() {
                return Action::Close;
            }
        }
        if next == Next::Close {
            // The rest of the input is ignored; see the header on lingering.
            conn.discard(usize::MAX);
            conn.shutdown_write();
            state.lingering = Some(0);
            self.lingering
                .push((conn.handle(), Instant::now() + LINGER));
        }
        Action::None
    }
}

impl EventHandler for Http {
    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        // `State` is `Copy`: copied out and back, as the context cannot be
        // borrowed while the inbound buffer is. Made on the first call.
        let mut state = conn.context::<State>().copied().unwrap_or_default();
        let action = self.serve(conn, &mut state);
        match conn.context_mut::<State>() {
            Some(slot) => *slot = state,
            None => conn.set_context(state),
        }
        action
    }

    fn on_tick(&mut self) -> (Duration, Action) {
        self.date = http_date(SystemTime::now());
        let now = Instant::now();
        self.lingering.retain(|(handle, deadline)| {
            if handle.is_closed() {
                false
            } else if now >= *deadline {
                let _ = handle.close(); // it may have closed meanwhile
                false
            } else {
                true
            }
        });
        (Duration::from_secs(1), Action::None)
    }
}

/// The options of the server, but for the signals.
fn options(cores: usize) -> Options {
    Options::new().loops(cores).ticker(true)
}

fn main() -> io::Result<()> {
    let args = args::Args::parse(USAGE);
    let port: u16 = args.get("port", 8080);
    let cores = args.cores();
    let pin: bool = args.get("pin", false);
    eprintln!("engine_http: listening on 127.0.0.1:{port} with {cores} loop(s)");
    engine::run(
        Http::new(),
        &format!("tcp://127.0.0.1:{port}"),
        options(cores).pin_loops(pin).handle_signals(true),
    )?;
    eprintln!("engine_http: stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::SocketAddr;

    use super::*;
    use crate::engine_testing::with_engine;
    use crate::plaintext::testing::*;

    // The socket tests of `http_plaintext`, against the engine: the server
    // on its own loop threads (`engine::start`), the client a blocking std
    // socket, every read bounded by a timeout.

    fn with_server_on(loops: usize, test: impl FnOnce(SocketAddr)) {
        with_engine(Http::new(), options(loops), test);
    }

    fn with_server(test: impl FnOnce(SocketAddr)) {
        with_server_on(1, test);
    }

    crate::plaintext::testing::contract_tests!(with_server);

    #[test]
    fn connections_on_two_loops_are_all_answered() {
        with_server_on(2, |addr| {
            let mut clients: Vec<Client> = (0..8).map(|_| Client::connect(addr)).collect();
            for client in &mut clients {
                client.send(&GET.repeat(4));
            }
            for client in &mut clients {
                for _ in 0..4 {
                    assert_eq!(client.response(), PLAINTEXT_RESPONSE);
                }
            }
        });
    }

    #[test]
    fn a_lingering_peer_is_closed_after_the_linger_time() {
        with_server(|addr| {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(DEADLINE)).unwrap();
            stream.write_all(b"GARBAGE\r\n\r\n").unwrap();
            let start = Instant::now();
            // The 400 and the FIN come at once...
            let mut response = Vec::new();
            stream.read_to_end(&mut response).unwrap();
            assert!(response.starts_with(b"HTTP/1.1 400 "));
            // ...but the server reads on (and drops) until the linger time
            // is over, then closes: the next write is answered with a RST.
            let closed = loop {
                std::thread::sleep(Duration::from_millis(50));
                if stream.write_all(GET).is_err() || start.elapsed() > DEADLINE {
                    break start.elapsed();
                }
            };
            assert!(closed >= LINGER, "closed after {closed:?}");
            assert!(closed < LINGER * 3, "still open after {closed:?}");
        });
    }
}
