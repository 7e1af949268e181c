//! A TechEmpower-style plaintext HTTP/1.1 server: `GET /plaintext` answers
//! `Hello, World!`, on every core, with one `SO_REUSEPORT` listener per core.
//!
//! ```text
//! cargo run --release --example http_plaintext -- --port 8080 --cores 2
//! curl -v http://127.0.0.1:8080/plaintext
//! wrk -t1 -c100 -d5s http://127.0.0.1:8080/plaintext
//! ```
//!
//! Requests are parsed in place from the stream's inbound ring (`fill_buf`);
//! only a request head split across reads is copied, into one buffer per
//! connection. The responses to every request of one read are gathered and
//! written into the outbound ring together, and the core sends them in one
//! `writev` when the task yields, so pipelined requests cost one syscall each
//! way. Each core keeps its own `Date` header value, rewritten once a second.
//!
//! Kept small on purpose: request bodies are skipped by `Content-Length` (up
//! to 1 MiB, else 413), a `Transfer-Encoding` body is refused with 501, a
//! missing `Host` header is not an error, and idle connections never time out.

use std::cell::Cell;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_lite::{future, AsyncBufReadExt, AsyncWriteExt};
use runtime::net::{TcpListener, TcpStream};
use runtime::time::{self, MissedTickBehavior};

#[path = "support/args.rs"]
mod args;

const USAGE: &str = "http_plaintext [--port 8080] [--cores N] [--pin true|false]";

/// The longest request head (request line and headers, blank line included).
const MAX_HEAD: usize = 8 * 1024;
/// The longest request body skipped; a longer one gets 413.
const MAX_BODY: u64 = 1024 * 1024;
/// After its last response, a closing connection reads and drops what the
/// peer still sends, for this long and up to `LINGER_BYTES`: closing a socket
/// with unread input sends RST, which can destroy the response before the
/// peer reads it (RFC 9112 §9.6).
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;

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

/// One connection's protocol state, apart from its socket: fed the bytes of
/// each read, it appends the responses to `out`.
#[derive(Debug, Default)]
struct Connection {
    /// A request head split across reads, gathered until its blank line.
    partial: Vec<u8>,
    /// Body bytes of the last request still to skip.
    body_left: u64,
    /// Responses not yet written.
    out: Vec<u8>,
}

/// What a connection does after a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Read,
    /// Send `out`, then close; the rest of the input is ignored.
    Close,
}

impl Connection {
    /// Answers every complete request in `input` and keeps the unfinished
    /// tail for the next read: all of `input` is used, unless it returns
    /// [`Next::Close`].
    fn feed(&mut self, mut input: &[u8], date: &HttpDate) -> Next {
        loop {
            if self.body_left > 0 {
                let skip = self.body_left.min(input.len() as u64);
                self.body_left -= skip;
                input = &input[skip as usize..];
            }
            let (next, body_len) = if self.partial.is_empty() {
                // RFC 9112 §2.2: ignore empty lines before a request line.
                while let Some(rest) = input.strip_prefix(b"\r\n") {
                    input = rest;
                }
                if input.is_empty() {
                    return Next::Read;
                }
                match find_head_end(input, 0) {
                    Some(end) => {
                        let (head, rest) = input.split_at(end);
                        input = rest;
                        answer(head, date, &mut self.out)
                    }
                    None if input.len() >= MAX_HEAD => {
                        return reject(&BAD_REQUEST, date, &mut self.out);
                    }
                    None => {
                        self.partial.extend_from_slice(input);
                        return Next::Read;
                    }
                }
            } else {
                if input.is_empty() {
                    return Next::Read;
                }
                let old = self.partial.len();
                let take = input.len().min(MAX_HEAD - old);
                self.partial.extend_from_slice(&input[..take]);
                match find_head_end(&self.partial, old) {
                    Some(end) => {
                        input = &input[end - old..];
                        let answered = answer(&self.partial[..end], date, &mut self.out);
                        self.partial.clear();
                        answered
                    }
                    None if self.partial.len() >= MAX_HEAD => {
                        return reject(&BAD_REQUEST, date, &mut self.out);
                    }
                    None => return Next::Read,
                }
            };
            if next == Next::Close {
                return Next::Close;
            }
            self.body_left = body_len;
        }
    }
}

/// The end of the request head in `buf` (just past its blank line), looking
/// at the first [`MAX_HEAD`] bytes only, for a line feed at `from` or later.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let buf = &buf[..buf.len().min(MAX_HEAD)];
    let mut at = from;
    while let Some(offset) = buf.get(at..)?.iter().position(|&b| b == b'\n') {
        let lf = at + offset;
        if lf >= 3 && &buf[lf - 3..=lf] == b"\r\n\r\n" {
            return Some(lf + 1);
        }
        at = lf + 1;
    }
    None
}

/// Answers one complete request head; returns what to do next and how many
/// body bytes follow the head.
fn answer(head: &[u8], date: &HttpDate, out: &mut Vec<u8>) -> (Next, u64) {
    let request = match parse_head(head) {
        Ok(request) => request,
        Err(reply) => return (reject(reply, date, out), 0),
    };
    let path = request.target.split(|&b| b == b'?').next().unwrap_or(b"");
    let head_only = request.method == b"HEAD";
    let reply = match path {
        b"/plaintext" if request.method == b"GET" || head_only => &PLAINTEXT,
        b"/plaintext" => &METHOD_NOT_ALLOWED,
        _ => &NOT_FOUND,
    };
    let connection: &[u8] = match (request.keep_alive, request.http10) {
        (false, _) => b"Connection: close\r\n",
        (true, true) => b"Connection: keep-alive\r\n",
        (true, false) => b"",
    };
    write_response(out, reply, date, connection, head_only);
    let next = if request.keep_alive {
        Next::Read
    } else {
        Next::Close
    };
    (next, request.body_len)
}

fn reject(reply: &Reply, date: &HttpDate, out: &mut Vec<u8>) -> Next {
    write_response(out, reply, date, b"Connection: close\r\n", false);
    Next::Close
}

/// A parsed request head; it borrows from the bytes it was parsed from.
#[derive(Debug)]
struct Request<'a> {
    method: &'a [u8],
    target: &'a [u8],
    http10: bool,
    keep_alive: bool,
    body_len: u64,
}

/// Parses a request head (RFC 9112 §2 to §6): request line, header lines,
/// each ending in CRLF, then the blank line. The error is the reply to send
/// before closing.
fn parse_head(head: &[u8]) -> Result<Request<'_>, &'static Reply> {
    let mut head = head;
    // Empty lines split across reads end up here.
    while let Some(rest) = head.strip_prefix(b"\r\n") {
        head = rest;
    }
    let mut lines = Lines(head);
    let request_line = lines.next().ok_or(&BAD_REQUEST)?;
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(&BAD_REQUEST);
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(&BAD_REQUEST);
    }
    if target.is_empty() || !target.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(&BAD_REQUEST);
    }
    // A later 1.x minor version is answered as 1.1 (RFC 9110 §2.5).
    let http10 = match version {
        b"HTTP/1.0" => true,
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => false,
        _ => return Err(&BAD_REQUEST),
    };

    let mut close = false;
    let mut keep_alive = false;
    let mut body_len = None;
    for line in lines {
        if line.is_empty() {
            break;
        }
        // A name is a token: no space before the colon, no folded lines.
        let colon = line.iter().position(|&b| b == b':').ok_or(&BAD_REQUEST)?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(&BAD_REQUEST);
        }
        if !value
            .iter()
            .all(|&b| b == b'\t' || (b >= b' ' && b != 0x7f))
        {
            return Err(&BAD_REQUEST);
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let len = parse_content_length(value)?;
            if body_len.is_some_and(|seen| seen != len) {
                return Err(&BAD_REQUEST);
            }
            body_len = Some(len);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(&NOT_IMPLEMENTED);
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in value.split(|&b| b == b',').map(trim) {
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    Ok(Request {
        method,
        target,
        http10,
        // HTTP/1.1 keeps the connection unless told otherwise; 1.0 closes it
        // unless told otherwise.
        keep_alive: !close && (!http10 || keep_alive),
        body_len: body_len.unwrap_or(0),
    })
}

fn parse_content_length(value: &[u8]) -> Result<u64, &'static Reply> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(&BAD_REQUEST);
    }
    let len = value.iter().try_fold(0u64, |len, &digit| {
        len.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    });
    match len {
        Some(len) if len <= MAX_BODY => Ok(len),
        _ => Err(&CONTENT_TOO_LARGE),
    }
}

/// The CRLF-terminated lines of a head; a bare LF stays inside a line, where
/// the character checks reject it.
struct Lines<'a>(&'a [u8]);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let end = self.0.windows(2).position(|pair| pair == b"\r\n")?;
        let line = &self.0[..end];
        self.0 = &self.0[end + 2..];
        Some(line)
    }
}

/// RFC 9110 §5.6.2: the characters of a token (method, header name).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `bytes` without leading and trailing spaces and tabs.
fn trim(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// A canned response: status, extra headers and a `text/plain` body.
#[derive(Debug)]
struct Reply {
    status: &'static [u8],
    headers: &'static [u8],
    body: &'static [u8],
}

const PLAINTEXT: Reply = Reply {
    status: b"200 OK",
    headers: b"",
    body: b"Hello, World!",
};
const NOT_FOUND: Reply = Reply {
    status: b"404 Not Found",
    headers: b"",
    body: b"Not Found",
};
const METHOD_NOT_ALLOWED: Reply = Reply {
    status: b"405 Method Not Allowed",
    headers: b"Allow: GET, HEAD\r\n",
    body: b"Method Not Allowed",
};
const BAD_REQUEST: Reply = Reply {
    status: b"400 Bad Request",
    headers: b"",
    body: b"",
};
const CONTENT_TOO_LARGE: Reply = Reply {
    status: b"413 Content Too Large",
    headers: b"",
    body: b"",
};
const NOT_IMPLEMENTED: Reply = Reply {
    status: b"501 Not Implemented",
    headers: b"",
    body: b"",
};

fn write_response(
    out: &mut Vec<u8>,
    reply: &Reply,
    date: &HttpDate,
    connection: &[u8],
    head_only: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(reply.status);
    out.extend_from_slice(b"\r\nServer: runtime\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(connection);
    out.extend_from_slice(reply.headers);
    if !reply.body.is_empty() {
        out.extend_from_slice(b"Content-Type: text/plain\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    push_decimal(out, reply.body.len());
    out.extend_from_slice(b"\r\n\r\n");
    if !head_only {
        out.extend_from_slice(reply.body);
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// An IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
type HttpDate = [u8; 29];

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

/// `time` as an IMF-fixdate (RFC 9110 §5.6.7), for years 1970 to 9999;
/// earlier times read as the epoch.
fn http_date(time: SystemTime) -> HttpDate {
    const WEEKDAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, secs) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);

    let mut date = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    // 1970-01-01 was a Thursday.
    date[0..3].copy_from_slice(WEEKDAYS[(days % 7) as usize]);
    put_digits(&mut date[5..7], day);
    date[8..11].copy_from_slice(MONTHS[month as usize - 1]);
    put_digits(&mut date[12..16], year);
    put_digits(&mut date[17..19], secs / 3600);
    put_digits(&mut date[20..22], secs / 60 % 60);
    put_digits(&mut date[23..25], secs % 60);
    date
}

/// Writes the last `dst.len()` decimal digits of `n` into `dst`.
fn put_digits(dst: &mut [u8], mut n: u64) {
    for digit in dst.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// The (year, month 1..=12, day 1..=31) of the day `days` after 1970-01-01
/// in the proleptic Gregorian calendar: Howard Hinnant's `civil_from_days`
/// (<https://howardhinnant.github.io/date_algorithms.html>), for `days >= 0`.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so the leap day ends the year.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::SocketAddr;

    use super::*;

    const DATE_1994: &HttpDate = b"Sun, 06 Nov 1994 08:49:37 GMT";
    const DEADLINE: Duration = Duration::from_secs(5);
    const GET: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n";
    /// The contract, with `<date>` for the `Date` value.
    const PLAINTEXT_RESPONSE: &str = "HTTP/1.1 200 OK\r\nServer: runtime\r\nDate: <date>\r\n\
        Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
    const BAD_REQUEST_RESPONSE: &str = "HTTP/1.1 400 Bad Request\r\nServer: runtime\r\n\
        Date: <date>\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

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
        let input: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n\
            POST /plaintext HTTP/1.1\r\ncontent-LENGTH: 5\r\n\r\nhello\r\n\
            GET /missing?x=1 HTTP/1.1\r\n\r\n\
            HEAD /plaintext HTTP/1.1\r\n\r\n\
            GET /plaintext HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n\
            GET /plaintext HTTP/1.1\r\nConnection: close\r\n\r\n\
            GET /plaintext HTTP/1.1\r\n\r\n";
        let expected = with_date(
            &[
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
            .concat(),
        );
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

    /// A client that reads whole responses, framed by `Content-Length`.
    struct Client {
        stream: std::net::TcpStream,
        buf: Vec<u8>,
    }

    impl Client {
        fn connect(addr: SocketAddr) -> Client {
            let stream = std::net::TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(DEADLINE)).unwrap();
            stream.set_write_timeout(Some(DEADLINE)).unwrap();
            stream.set_nodelay(true).unwrap();
            Client {
                stream,
                buf: Vec::new(),
            }
        }

        fn send(&mut self, bytes: &[u8]) {
            self.stream.write_all(bytes).unwrap();
        }

        /// Reads more; false at end of stream.
        fn read_more(&mut self) -> bool {
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("no reply within 5 s");
            self.buf.extend_from_slice(&chunk[..n]);
            n > 0
        }

        /// The next response, with `<date>` for its `Date` value, which
        /// must be the current time.
        fn response(&mut self) -> String {
            loop {
                if let Some(len) = response_len(&self.buf) {
                    let response = String::from_utf8(self.buf.drain(..len).collect()).unwrap();
                    return check_date(&response);
                }
                let buffered = String::from_utf8_lossy(&self.buf).into_owned();
                assert!(self.read_more(), "EOF inside {buffered:?}");
            }
        }

        /// Asserts the server closes with nothing more sent.
        fn expect_eof(&mut self) {
            while self.read_more() {}
            assert_eq!(String::from_utf8_lossy(&self.buf), "");
        }
    }

    /// The length of the first complete response in `buf`.
    fn response_len(buf: &[u8]) -> Option<usize> {
        let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = std::str::from_utf8(&buf[..head_end]).unwrap();
        let len = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .expect("no Content-Length")
            .parse::<usize>()
            .unwrap();
        (buf.len() >= head_end + len).then_some(head_end + len)
    }

    /// Checks the `Date` value against the clock (±2 s) and replaces it with
    /// `<date>`.
    fn check_date(response: &str) -> String {
        let start = response.find("\r\nDate: ").expect("no Date") + 8;
        let value = &response[start..start + 29];
        let secs = parse_http_date(value).unwrap_or_else(|| panic!("bad Date {value:?}"));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(secs.abs_diff(now) <= 2, "Date {value:?} is not now");
        format!("{}<date>{}", &response[..start], &response[start + 29..])
    }

    /// An IMF-fixdate as seconds since the epoch, checked independently of
    /// `http_date` (Hinnant's `days_from_civil`).
    fn parse_http_date(value: &str) -> Option<u64> {
        const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let b = value.as_bytes();
        // `0` a digit, `a` a letter.
        let shape = b"aaa, 00 aaa 0000 00:00:00 GMT";
        if b.len() != shape.len()
            || !b.iter().zip(shape).all(|(&c, &s)| match s {
                b'0' => c.is_ascii_digit(),
                b'a' => c.is_ascii_alphabetic(),
                _ => c == s,
            })
        {
            return None;
        }
        let num = |range: std::ops::Range<usize>| value[range].parse::<i64>().unwrap();
        let month = MONTHS.iter().position(|&m| m == &value[8..11])? as i64 + 1;
        let (day, year) = (num(5..7), num(12..16));
        let (hour, minute, second) = (num(17..19), num(20..22), num(23..25));
        if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let year_of_era = y - era * 400;
        let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        let days = era * 146_097 + day_of_era - 719_468;
        if WEEKDAYS[(days + 4).rem_euclid(7) as usize] != &value[..3] {
            return None;
        }
        u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
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
}
