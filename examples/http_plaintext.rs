//! A TechEmpower-style plaintext HTTP/1.1 server: `GET /plaintext` answers
//! `Hello, World!`, on every core, with one `SO_REUSEPORT` listener per core.
//!
//! ```text
//! cargo run --release --example http_plaintext -- --port 8080 --cores 2
//! curl -v http://127.0.0.1:8080/plaintext
//! wrk -t1 -c100 -d5s http://127.0.0.1:8080/plaintext
//! ```
//!
//! Requests are parsed with `httparse` (hyper's parser) in place from the
//! stream's inbound ring (`fill_buf`); only a request head split across reads
//! is copied, into one buffer per connection. The responses to every request of one read are gathered and
//! written into the outbound ring together, and the core sends them in one
//! `writev` when the task yields, so pipelined requests cost one syscall each
//! way. Each core keeps its own `Date` header value, rewritten once a second.
//!
//! Kept small on purpose: request bodies are skipped by `Content-Length` (up
//! to 1 MiB, else 413), a `Transfer-Encoding` body is refused with 501, a
//! missing `Host` header is not an error, and idle connections never time out.
//! The protocol itself (parsing, responses, `Date`) is in
//! `support/plaintext.rs`, shared with `engine_http`.

use std::cell::Cell;
use std::io;
use std::time::{Duration, SystemTime};

use futures_lite::{future, AsyncBufReadExt};
use runtime::net::{TcpListener, TcpStream};
use runtime::time::{self, MissedTickBehavior};

#[path = "support/args.rs"]
mod args;

#[path = "support/plaintext.rs"]
mod plaintext;

use plaintext::*;

const USAGE: &str = "http_plaintext [--port 8080] [--cores N] [--pin true|false]";

fn main() -> io::Result<()> {
    let args = args::Args::parse(USAGE);
    let port: u16 = args.get("port", 8080);
    let cores = args.cores();
    let pin: bool = args.get("pin", false);

    let rt = runtime::Runtime::builder()
        .cores(cores)
        .pin_cores(pin)
        .build()?;
    eprintln!("http_plaintext: listening on 127.0.0.1:{port} with {cores} core(s)");
    let results = rt.run_on_all_cores(move || async move {
        serve(TcpListener::bind(("127.0.0.1", port)).await?).await
    });
    results.into_iter().collect::<io::Result<Vec<()>>>()?;
    Ok(())
}

/// One core's server: accepts on `listener` and keeps this core's `Date`
/// fresh. Returns only on an accept error.
async fn serve(listener: TcpListener) -> io::Result<()> {
    future::or(accept_loop(&listener), refresh_date()).await
}

async fn accept_loop(listener: &TcpListener) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        runtime::spawn(async move {
            match connection(stream).await {
                Ok(()) => {}
                // Load generators reset their connections when they stop.
                Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {}
                Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {}
                Err(err) => eprintln!("http_plaintext: connection error: {err}"),
            }
        });
    }
}

async fn connection(mut stream: TcpStream) -> io::Result<()> {
    let mut conn = Connection::default();
    loop {
        let input = stream.fill_buf().await?;
        if input.is_empty() {
            return Ok(()); // the peer closed
        }
        let n = input.len();
        let next = conn.feed(input, &DATE.with(Cell::get));
        stream.consume(n);
        stream.write_all(&conn.out).await?;
        conn.out.clear();
        if next == Next::Close {
            return close(stream).await;
        }
    }
}

/// Sends what is queued and a FIN, then drains the input for a bounded time
/// (see [`LINGER`]) before dropping the socket.
async fn close(mut stream: TcpStream) -> io::Result<()> {
    stream.shutdown().await?;
    let drain = async {
        let mut drained = 0;
        while drained < LINGER_BYTES {
            let n = stream.fill_buf().await?.len();
            if n == 0 {
                break;
            }
            stream.consume(n);
            drained += n;
        }
        io::Result::Ok(())
    };
    // The response is out: an error or a timeout here changes nothing.
    let _ = time::timeout(LINGER, drain).await;
    Ok(())
}

thread_local! {
    /// This core's `Date` value, rewritten by [`refresh_date`].
    static DATE: Cell<HttpDate> = Cell::new(http_date(SystemTime::now()));
}

/// Rewrites this core's `Date` once a second; never returns.
async fn refresh_date() -> io::Result<()> {
    let mut ticks = time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        DATE.with(|date| date.set(http_date(SystemTime::now())));
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::plaintext::testing::*;

    const DATE_1994: &HttpDate = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn at(secs: u64) -> String {
        let date = http_date(UNIX_EPOCH + Duration::from_secs(secs));
        String::from_utf8(date.to_vec()).unwrap()
    }

    #[test]
    fn http_date_formats_known_timestamps() {
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(1_709_208_000), "Thu, 29 Feb 2024 12:00:00 GMT");
        // 2100 is not a leap year.
        assert_eq!(at(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT");
        assert_eq!(at(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
        assert_eq!(at(253_402_300_799), "Fri, 31 Dec 9999 23:59:59 GMT");
        let before_epoch = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(&http_date(before_epoch), b"Thu, 01 Jan 1970 00:00:00 GMT");
    }

    fn feed_all(parts: &[&[u8]]) -> (String, Next) {
        let mut conn = Connection::default();
        let mut next = Next::Read;
        for part in parts {
            next = conn.feed(part, DATE_1994);
            if next == Next::Close {
                break;
            }
        }
        (String::from_utf8(conn.out).unwrap(), next)
    }

    fn with_date(response: &str) -> String {
        response.replace("<date>", std::str::from_utf8(DATE_1994).unwrap())
    }

    #[test]
    fn feed_gives_the_same_responses_however_the_input_is_split() {
        let input = MIXED_REQUESTS;
        let expected = with_date(&mixed_responses());
        assert_eq!(feed_all(&[input]), (expected.clone(), Next::Close));
        for split in 0..=input.len() {
            let (front, back) = input.split_at(split);
            assert_eq!(
                feed_all(&[front, back]),
                (expected.clone(), Next::Close),
                "split at {split}"
            );
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(feed_all(&bytes), (expected, Next::Close));
    }

    #[test]
    fn malformed_heads_get_400_and_close() {
        let bad: [&[u8]; 14] = [
            b"GARBAGE\r\n\r\n",
            b"GET /plaintext\r\n\r\n",
            b"GET /plaintext HTTP/2.0\r\n\r\n",
            b"GET /plaintext FTP/1.1\r\n\r\n",
            b"GET  /plaintext HTTP/1.1\r\n\r\n",
            b"GET /plaintext HTTP/1.1 \r\n\r\n",
            b"G(T /plaintext HTTP/1.1\r\n\r\n",
            b"GET /plaintext HTTP/1.1\r\nNoColon\r\n\r\n",
            b"GET /plaintext HTTP/1.1\r\nHost : a\r\n\r\n",
            b"GET /plaintext HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            b"GET /plaintext HTTP/1.1\nHost: a\r\n\r\n",
            b"GET /plaintext HTTP/1.1\r\nHost: a\0b\r\n\r\n",
            b"GET /plaintext HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
            b"GET /plaintext HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ];
        let expected = (with_date(BAD_REQUEST_RESPONSE), Next::Close);
        for head in bad {
            let shown = String::from_utf8_lossy(head);
            assert_eq!(feed_all(&[head, GET]), expected, "{shown:?}");
        }
    }

    #[test]
    fn header_values_may_have_blanks_around_them() {
        let head = b"GET /plaintext HTTP/1.1\r\nHost: \t a \t\r\nX-Empty:\r\nX-Blank:  \r\n\r\n";
        let expected = (with_date(PLAINTEXT_RESPONSE), Next::Read);
        assert_eq!(feed_all(&[head]), expected);
    }

    #[test]
    fn too_many_headers_get_400() {
        let mut head = b"GET /plaintext HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            head.extend_from_slice(format!("X-{i}: a\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let expected = (with_date(BAD_REQUEST_RESPONSE), Next::Close);
        assert_eq!(feed_all(&[&head]), expected);
    }

    #[test]
    fn bodies_that_cannot_be_skipped_are_refused() {
        let (out, next) =
            feed_all(&[b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"]);
        assert!(out.starts_with("HTTP/1.1 501 Not Implemented\r\n"), "{out}");
        assert_eq!(next, Next::Close);

        let (out, next) = feed_all(&[b"POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n"]);
        assert!(
            out.starts_with("HTTP/1.1 413 Content Too Large\r\n"),
            "{out}"
        );
        assert!(out.ends_with("Connection: close\r\nContent-Length: 0\r\n\r\n"));
        assert_eq!(next, Next::Close);

        let huge = b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n";
        assert!(feed_all(&[huge]).0.starts_with("HTTP/1.1 413 "));

        let (out, next) = feed_all(&[b"POST / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n"]);
        assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n"), "{out}");
        assert_eq!(next, Next::Read);
    }

    /// A head of exactly `len` bytes, blank line included.
    fn head_of_len(len: usize) -> Vec<u8> {
        let mut head = b"GET /plaintext HTTP/1.1\r\nX-Pad: ".to_vec();
        head.resize(len - 4, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        head
    }

    #[test]
    fn heads_are_bounded_at_8_kib() {
        let fits = head_of_len(MAX_HEAD);
        let too_long = head_of_len(MAX_HEAD + 1);
        let expected_ok = (with_date(PLAINTEXT_RESPONSE), Next::Read);
        let expected_bad = (with_date(BAD_REQUEST_RESPONSE), Next::Close);
        assert_eq!(feed_all(&[&fits]), expected_ok);
        assert_eq!(feed_all(&[&too_long]), expected_bad);
        // Through the partial-head path too.
        for input in [&fits, &too_long] {
            let (front, back) = input.split_at(100);
            let expected = if input == &fits {
                &expected_ok
            } else {
                &expected_bad
            };
            assert_eq!(&feed_all(&[front, back]), expected);
        }
        // No blank line at all: refused once 8 KiB have come.
        let endless = vec![b'a'; MAX_HEAD];
        assert_eq!(
            feed_all(&[&endless[..MAX_HEAD - 1]]),
            (String::new(), Next::Read)
        );
        assert_eq!(feed_all(&[&endless]), expected_bad);
        let bytes: Vec<&[u8]> = endless.chunks(1).collect();
        assert_eq!(feed_all(&bytes), expected_bad);
    }

    #[test]
    fn content_length_matches_every_body() {
        for reply in [
            &PLAINTEXT,
            &NOT_FOUND,
            &METHOD_NOT_ALLOWED,
            &BAD_REQUEST,
            &CONTENT_TOO_LARGE,
            &NOT_IMPLEMENTED,
        ] {
            let mut out = Vec::new();
            write_response(&mut out, reply, DATE_1994, b"", false);
            let out = String::from_utf8(out).unwrap();
            let (head, body) = out.split_once("\r\n\r\n").unwrap();
            let len = format!("\r\nContent-Length: {}", body.len());
            assert!(head.contains(&len), "{out:?}");
        }
    }

    // Through real sockets: the server on a one-core runtime, the client a
    // blocking std socket on the blocking pool, every read bounded by a
    // timeout.

    fn with_server(test: impl FnOnce(SocketAddr) + Send + 'static) {
        let rt = runtime::Runtime::builder().cores(1).build().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            runtime::spawn(serve(listener));
            if let Err(err) = runtime::spawn_blocking(move || test(addr)).await {
                std::panic::resume_unwind(err.try_into_panic().expect("the client panicked"));
            }
        });
    }

    #[test]
    fn parse_http_date_reads_known_dates() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), None);
    }

    crate::plaintext::testing::contract_tests!(with_server);
}
