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

    use runtime::net::engine::Engine;

    use super::*;
    use crate::plaintext::testing::*;
    use crate::plaintext::MAX_HEAD;

    // The socket tests of `http_plaintext`, against the engine: the server
    // on its own loop threads (`engine::start`), the client a blocking std
    // socket, every read bounded by a timeout.

    /// Stops the engine when the test ends, however it ends.
    struct Running(Engine);

    impl Drop for Running {
        fn drop(&mut self) {
            self.0.stop();
            self.0.wait();
        }
    }

    fn with_server_on(loops: usize, test: impl FnOnce(SocketAddr)) {
        let engine = engine::start(Http::new(), &["tcp://127.0.0.1:0"], options(loops)).unwrap();
        let addr = engine.addrs()[0]
            .trim_start_matches("tcp://")
            .parse()
            .unwrap();
        let _running = Running(engine);
        test(addr);
    }

    fn with_server(test: impl FnOnce(SocketAddr)) {
        with_server_on(1, test);
    }

    #[test]
    fn get_plaintext_is_answered_byte_for_byte() {
        with_server(|addr| {
            let mut client = Client::connect(addr);
            client.send(GET);
            assert_eq!(client.response(), PLAINTEXT_RESPONSE);
            // The connection stays open.
            client.send(GET);
            assert_eq!(client.response(), PLAINTEXT_RESPONSE);
        });
    }

    #[test]
    fn sixteen_pipelined_requests_get_sixteen_responses() {
        with_server(|addr| {
            let mut client = Client::connect(addr);
            client.send(&GET.repeat(16));
            for _ in 0..16 {
                assert_eq!(client.response(), PLAINTEXT_RESPONSE);
            }
            client.send(b"GET /last HTTP/1.1\r\nConnection: close\r\n\r\n");
            assert!(client.response().starts_with("HTTP/1.1 404 "));
            client.expect_eof();
        });
    }

    #[test]
    fn request_sent_one_byte_at_a_time_is_answered() {
        with_server(|addr| {
            let mut client = Client::connect(addr);
            for byte in GET {
                client.send(&[*byte]);
                // Let the server read each byte on its own.
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(client.response(), PLAINTEXT_RESPONSE);
        });
    }

    #[test]
    fn responses_are_the_same_however_the_requests_are_split() {
        // The input of `http_plaintext`'s `feed` test, through a socket in
        // two writes, split at every byte.
        let input: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n\
            POST /plaintext HTTP/1.1\r\ncontent-LENGTH: 5\r\n\r\nhello\r\n\
            GET /missing?x=1 HTTP/1.1\r\n\r\n\
            HEAD /plaintext HTTP/1.1\r\n\r\n\
            GET /plaintext HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n\
            GET /plaintext HTTP/1.1\r\nConnection: close\r\n\r\n\
            GET /plaintext HTTP/1.1\r\n\r\n";
        let expected = [
            PLAINTEXT_RESPONSE,
            "HTTP/1.1 405 Method Not Allowed\r\nServer: runtime\r\nDate: <date>\r\n\
             Allow: GET, HEAD\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n\r\n\
             Method Not Allowed",
            "HTTP/1.1 404 Not Found\r\nServer: runtime\r\nDate: <date>\r\n\
             Content-Type: text/plain\r\nContent-Length: 9\r\n\r\nNot Found",
            "HTTP/1.1 200 OK\r\nServer: runtime\r\nDate: <date>\r\n\
             Content-Type: text/plain\r\nContent-Length: 13\r\n\r\n",
            "HTTP/1.1 200 OK\r\nServer: runtime\r\nDate: <date>\r\n\
             Connection: keep-alive\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n\
             Hello, World!",
            "HTTP/1.1 200 OK\r\nServer: runtime\r\nDate: <date>\r\nConnection: close\r\n\
             Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!",
        ]
        .concat();
        with_server(|addr| {
            for split in 0..=input.len() {
                let mut client = Client::connect(addr);
                let (front, back) = input.split_at(split);
                client.send(front);
                std::thread::sleep(Duration::from_micros(500));
                client.send(back);
                assert_eq!(client.read_to_eof(), expected, "split at {split}");
            }
        });
    }

    #[test]
    fn malformed_request_gets_400_and_close() {
        with_server(|addr| {
            for request in [
                &b"GARBAGE\r\n\r\n"[..],
                b"GET /plaintext\r\n\r\n",
                b"GET /plaintext HTTP/1.1\r\nNoColon\r\n\r\n",
            ] {
                let mut client = Client::connect(addr);
                client.send(request);
                client.send(GET); // never answered
                assert_eq!(client.response(), BAD_REQUEST_RESPONSE);
                client.expect_eof();
            }
        });
    }

    #[test]
    fn unknown_path_gets_404_and_keeps_the_connection() {
        with_server(|addr| {
            let mut client = Client::connect(addr);
            client.send(b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(
                client.response(),
                "HTTP/1.1 404 Not Found\r\nServer: runtime\r\nDate: <date>\r\n\
                 Content-Type: text/plain\r\nContent-Length: 9\r\n\r\nNot Found"
            );
            client.send(GET);
            assert_eq!(client.response(), PLAINTEXT_RESPONSE);
        });
    }

    #[test]
    fn connection_close_is_honoured() {
        with_server(|addr| {
            let mut client = Client::connect(addr);
            let mut requests =
                b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec();
            requests.extend_from_slice(GET); // after the close: ignored
            client.send(&requests);
            let response = client.response();
            assert!(response.contains("\r\nConnection: close\r\n"), "{response}");
            assert!(response.ends_with("\r\n\r\nHello, World!"), "{response}");
            client.expect_eof();
        });
    }

    #[test]
    fn http10_closes_unless_keep_alive() {
        with_server(|addr| {
            let mut client = Client::connect(addr);
            client.send(b"GET /plaintext HTTP/1.0\r\n\r\n");
            let response = client.response();
            assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
            assert!(response.contains("\r\nConnection: close\r\n"), "{response}");
            client.expect_eof();

            let mut client = Client::connect(addr);
            for _ in 0..2 {
                client.send(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
                let response = client.response();
                assert!(response.contains("\r\nConnection: keep-alive\r\n"));
                assert!(response.ends_with("Hello, World!"), "{response}");
            }
        });
    }

    #[test]
    fn oversized_header_block_gets_400() {
        with_server(|addr| {
            let mut client = Client::connect(addr);
            let mut request = b"GET /plaintext HTTP/1.1\r\nX-Long: ".to_vec();
            request.resize(MAX_HEAD + 1000, b'a');
            client.send(&request);
            assert_eq!(client.response(), BAD_REQUEST_RESPONSE);
            client.expect_eof();
        });
    }

    #[test]
    fn request_body_is_skipped() {
        // 100 000 bytes: more than the engine's read buffer (64 KiB), so the
        // body is skipped over several calls.
        with_server(|addr| {
            let mut client = Client::connect(addr);
            let body = vec![b'x'; 100_000];
            client.send(b"POST /nope HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
            client.send(&body);
            client.send(GET);
            assert!(client.response().starts_with("HTTP/1.1 404 "));
            assert_eq!(client.response(), PLAINTEXT_RESPONSE);
        });
    }

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
