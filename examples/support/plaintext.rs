//! The plaintext benchmark's HTTP/1.1, shared by `http_plaintext` (async
//! tasks) and `engine_http` (engine callbacks): request parsing (with
//! [`httparse`], hyper's parser), the canned responses and the `Date` value.
//! No I/O here: callers hand it bytes and send what it appends to their
//! output.
//!
//! Kept small on purpose: request bodies are skipped by `Content-Length` (up
//! to 1 MiB, else 413), a `Transfer-Encoding` body is refused with 501, a
//! missing `Host` header is not an error.

// Each example uses the part it needs.
#![allow(dead_code)]

use std::mem::MaybeUninit;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest request head (request line and headers, blank line included).
pub const MAX_HEAD: usize = 8 * 1024;
/// The most header lines in a request head; more get 400.
pub const MAX_HEADERS: usize = 32;
/// The longest request body skipped; a longer one gets 413.
pub const MAX_BODY: u64 = 1024 * 1024;
/// After its last response, a closing connection reads and drops what the
/// peer still sends, for this long and up to `LINGER_BYTES`: closing a socket
/// with unread input sends RST, which can destroy the response before the
/// peer reads it (RFC 9112 §9.6).
pub const LINGER: Duration = Duration::from_secs(1);
pub const LINGER_BYTES: usize = 64 * 1024;

/// One connection's protocol state, apart from its socket: fed the bytes of
/// each read, it appends the responses to `out`.
#[derive(Debug, Default)]
pub struct Connection {
    /// A request head split across reads, gathered until its blank line.
    partial: Vec<u8>,
    /// Body bytes of the last request still to skip.
    body_left: u64,
    /// Responses not yet written.
    pub out: Vec<u8>,
}

/// What a connection does after a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read on.
    Read,
    /// Send `out`, then close; the rest of the input is ignored.
    Close,
}

impl Connection {
    /// Answers every complete request in `input` and keeps the unfinished
    /// tail for the next read: all of `input` is used, unless it returns
    /// [`Next::Close`].
    pub fn feed(&mut self, mut input: &[u8], date: &HttpDate) -> Next {
        loop {
            if self.body_left > 0 {
                let skip = self.body_left.min(input.len() as u64);
                self.body_left -= skip;
                input = &input[skip as usize..];
            }
            let answered = if self.partial.is_empty() {
                let (used, answered) = answer_front(input, date, &mut self.out);
                input = &input[used..];
                match answered {
                    Some(answered) => answered,
                    None => {
                        self.partial.extend_from_slice(input);
                        return Next::Read;
                    }
                }
            } else {
                if input.is_empty() {
                    return Next::Read;
                }
                // The head so far and as much of `input` as a head may hold;
                // parsed again from its start (at most `MAX_HEAD` bytes).
                let old = self.partial.len();
                let take = input.len().min(MAX_HEAD - old);
                self.partial.extend_from_slice(&input[..take]);
                let (used, answered) = answer_front(&self.partial, date, &mut self.out);
                match answered {
                    Some(answered) => {
                        input = &input[used.saturating_sub(old).min(input.len())..];
                        self.partial.clear();
                        answered
                    }
                    // Not a whole head yet, and under `MAX_HEAD` (else
                    // `answer_front` refuses it): all of `input` was taken.
                    None => {
                        self.partial.drain(..used);
                        return Next::Read;
                    }
                }
            };
            match answered {
                (Next::Close, _) => return Next::Close,
                (Next::Read, body_len) => self.body_left = body_len,
            }
        }
    }
}

/// Answers the request at the front of `input` if its head is all there,
/// without copying it: what a server that keeps unparsed bytes in its own
/// input buffer calls (`engine_http`), and the first step of
/// [`Connection::feed`].
///
/// Returns how many bytes of `input` are done with: the empty lines before a
/// request line (RFC 9112 §2.2: ignored) and the head, if one was answered;
/// and then, if a request was answered or refused, what to do next and how
/// many body bytes follow the head, for the caller to skip. `None`: the rest
/// of `input` is the start of a head, to keep until more bytes come. A head
/// that has not ended within [`MAX_HEAD`] bytes is refused with 400.
pub fn answer_front(
    input: &[u8],
    date: &HttpDate,
    out: &mut Vec<u8>,
) -> (usize, Option<(Next, u64)>) {
    let mut start = 0;
    while input[start..].starts_with(b"\r\n") {
        start += 2;
    }
    let rest = &input[start..];
    if rest.is_empty() {
        return (start, None);
    }
    // Only the first `MAX_HEAD` bytes may hold the head.
    let window = &rest[..rest.len().min(MAX_HEAD)];
    let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    match request.parse_with_uninit_headers(window, &mut headers) {
        Ok(httparse::Status::Complete(len)) => {
            let answered = match check(&request, &window[..len]) {
                Ok(head) => answer(&head, date, out),
                Err(reply) => (reject(reply, date, out), 0),
            };
            (start + len, Some(answered))
        }
        Ok(httparse::Status::Partial) if rest.len() < MAX_HEAD => (start, None),
        Ok(httparse::Status::Partial) | Err(_) => {
            (input.len(), Some((reject(&BAD_REQUEST, date, out), 0)))
        }
    }
}

/// What a response depends on, from a parsed request head.
#[derive(Debug)]
pub struct Head<'a> {
    method: &'a str,
    path: &'a str,
    http10: bool,
    keep_alive: bool,
    body_len: u64,
}

/// Answers one parsed request; returns what to do next and how many body
/// bytes follow the head.
fn answer(request: &Head<'_>, date: &HttpDate, out: &mut Vec<u8>) -> (Next, u64) {
    // The usual target first: a search for the query costs more than this.
    let path = match request.path {
        "/plaintext" => "/plaintext",
        target => target.split('?').next().unwrap_or(""),
    };
    let head_only = request.method == "HEAD";
    let reply = match path {
        "/plaintext" if request.method == "GET" || head_only => &PLAINTEXT,
        "/plaintext" => &METHOD_NOT_ALLOWED,
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

pub fn reject(reply: &Reply, date: &HttpDate, out: &mut Vec<u8>) -> Next {
    write_response(out, reply, date, b"Connection: close\r\n", false);
    Next::Close
}

/// What `httparse` leaves to its caller (RFC 9112 §2 to §6): lines end in
/// CRLF (a bare LF is refused), `Content-Length` is one decimal number
/// (several must agree), a `Transfer-Encoding` body is not supported, and
/// `Connection` options decide whether the connection stays open. The error
/// is the reply to send before closing. `head` is the parsed head, blank
/// line included.
fn check<'a>(
    request: &httparse::Request<'_, 'a>,
    head: &'a [u8],
) -> Result<Head<'a>, &'static Reply> {
    let (Some(method), Some(path), Some(version)) = (request.method, request.path, request.version)
    else {
        return Err(&BAD_REQUEST);
    };
    // `httparse` takes a bare LF as a line end too: each line is checked
    // where it ends, the request line 9 bytes after its target
    // (" HTTP/1.x").
    if !ends_in_cr(head, offset(head, path.as_bytes()) + path.len() + 9)
        || !head.ends_with(b"\r\n\r\n")
    {
        return Err(&BAD_REQUEST);
    }
    let http10 = version == 0;
    let mut close = false;
    let mut keep_alive = false;
    let mut body_len = None;
    for header in request.headers.iter() {
        let value = header.value;
        if !ends_in_cr(head, offset(head, value) + value.len()) {
            return Err(&BAD_REQUEST);
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            let len = parse_content_length(value)?;
            if body_len.is_some_and(|seen| seen != len) {
                return Err(&BAD_REQUEST);
            }
            body_len = Some(len);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(&NOT_IMPLEMENTED);
        } else if header.name.eq_ignore_ascii_case("connection") {
            for option in value.split(|&b| b == b',') {
                let option = option.trim_ascii();
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    Ok(Head {
        method,
        path,
        http10,
        // HTTP/1.1 keeps the connection unless told otherwise; 1.0 closes it
        // unless told otherwise.
        keep_alive: !close && (!http10 || keep_alive),
        body_len: body_len.unwrap_or(0),
    })
}

/// Where `part`, a slice of `head` that `httparse` returned, starts in it.
fn offset(head: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - head.as_ptr() as usize
}

/// Whether the line of `head` whose content ends at `at` ends in CRLF,
/// after the spaces and tabs that `httparse` trims from header values.
#[inline]
fn ends_in_cr(head: &[u8], at: usize) -> bool {
    match head.get(at) {
        Some(b'\r') => true,
        Some(b' ' | b'\t') => {
            let rest = &head[at..];
            let blank = rest
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
            rest.get(blank) == Some(&b'\r')
        }
        _ => false,
    }
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

/// A canned response: status, extra headers and a `text/plain` body.
#[derive(Debug)]
pub struct Reply {
    status: &'static [u8],
    headers: &'static [u8],
    body: &'static [u8],
}

const PLAINTEXT_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nServer: runtime\r\nDate: ";
const PLAINTEXT_TAIL: &[u8] =
    b"\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

pub static PLAINTEXT: Reply = Reply {
    status: b"200 OK",
    headers: b"",
    body: b"Hello, World!",
};
pub const NOT_FOUND: Reply = Reply {
    status: b"404 Not Found",
    headers: b"",
    body: b"Not Found",
};
pub const METHOD_NOT_ALLOWED: Reply = Reply {
    status: b"405 Method Not Allowed",
    headers: b"Allow: GET, HEAD\r\n",
    body: b"Method Not Allowed",
};
pub const BAD_REQUEST: Reply = Reply {
    status: b"400 Bad Request",
    headers: b"",
    body: b"",
};
pub const CONTENT_TOO_LARGE: Reply = Reply {
    status: b"413 Content Too Large",
    headers: b"",
    body: b"",
};
pub const NOT_IMPLEMENTED: Reply = Reply {
    status: b"501 Not Implemented",
    headers: b"",
    body: b"",
};

pub fn write_response(
    out: &mut Vec<u8>,
    reply: &Reply,
    date: &HttpDate,
    connection: &[u8],
    head_only: bool,
) {
    if std::ptr::eq(reply, &PLAINTEXT) && connection.is_empty() && !head_only {
        // The response nearly every request gets, in three copies: the
        // same bytes the general path below writes.
        out.reserve(PLAINTEXT_HEAD.len() + date.len() + PLAINTEXT_TAIL.len());
        out.extend_from_slice(PLAINTEXT_HEAD);
        out.extend_from_slice(date);
        out.extend_from_slice(PLAINTEXT_TAIL);
        return;
    }
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
pub type HttpDate = [u8; 29];

/// `time` as an IMF-fixdate (RFC 9110 §5.6.7), for years 1970 to 9999;
/// earlier times read as the epoch.
pub fn http_date(time: SystemTime) -> HttpDate {
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

/// What the socket tests of both servers share: the expected responses and a
/// blocking client that reads whole responses and checks their `Date`.
#[cfg(test)]
pub mod testing {
    use std::io::{Read, Write};
    use std::net::SocketAddr;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    pub const DEADLINE: Duration = Duration::from_secs(5);
    pub const GET: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n";
    /// The contract, with `<date>` for the `Date` value.
    pub const PLAINTEXT_RESPONSE: &str = "HTTP/1.1 200 OK\r\nServer: runtime\r\nDate: <date>\r\n\
        Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
    pub const BAD_REQUEST_RESPONSE: &str = "HTTP/1.1 400 Bad Request\r\nServer: runtime\r\n\
        Date: <date>\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

    /// Seven requests of every kind the contract names (a body to skip, a
    /// wrong method, an unknown path, `HEAD`, HTTP/1.0 keep-alive, a close),
    /// with one after the close that must go unanswered.
    pub const MIXED_REQUESTS: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n\
        POST /plaintext HTTP/1.1\r\ncontent-LENGTH: 5\r\n\r\nhello\r\n\
        GET /missing?x=1 HTTP/1.1\r\n\r\n\
        HEAD /plaintext HTTP/1.1\r\n\r\n\
        GET /plaintext HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n\
        GET /plaintext HTTP/1.1\r\nConnection: close\r\n\r\n\
        GET /plaintext HTTP/1.1\r\n\r\n";

    /// The responses to [`MIXED_REQUESTS`], with `<date>` for the `Date`.
    pub fn mixed_responses() -> String {
        [
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
        .concat()
    }

    /// A client that reads whole responses, framed by `Content-Length`.
    pub struct Client {
        stream: std::net::TcpStream,
        buf: Vec<u8>,
    }

    impl Client {
        pub fn connect(addr: SocketAddr) -> Client {
            let stream = std::net::TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(DEADLINE)).unwrap();
            stream.set_write_timeout(Some(DEADLINE)).unwrap();
            stream.set_nodelay(true).unwrap();
            Client {
                stream,
                buf: Vec::new(),
            }
        }

        pub fn send(&mut self, bytes: &[u8]) {
            self.stream.write_all(bytes).unwrap();
        }

        /// Reads more; false at end of stream.
        pub fn read_more(&mut self) -> bool {
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("no reply within 5 s");
            self.buf.extend_from_slice(&chunk[..n]);
            n > 0
        }

        /// The next response, with `<date>` for its `Date` value, which
        /// must be the current time.
        pub fn response(&mut self) -> String {
            loop {
                if let Some(len) = response_len(&self.buf) {
                    let response = String::from_utf8(self.buf.drain(..len).collect()).unwrap();
                    return check_date(&response);
                }
                let buffered = String::from_utf8_lossy(&self.buf).into_owned();
                assert!(self.read_more(), "EOF inside {buffered:?}");
            }
        }

        /// Everything the server sends until it closes, with `<date>` for
        /// every `Date` value (each checked as in [`response`](Self::response)):
        /// for responses that `Content-Length` does not frame (`HEAD`).
        pub fn read_to_eof(&mut self) -> String {
            while self.read_more() {}
            let mut text = String::from_utf8(std::mem::take(&mut self.buf)).unwrap();
            let mut from = 0;
            while let Some(at) = text[from..].find("\r\nDate: ") {
                let start = from + at;
                text = format!("{}{}", &text[..start], check_date(&text[start..]));
                from = start + "\r\nDate: <date>".len();
            }
            text
        }

        /// Asserts the server closes with nothing more sent.
        pub fn expect_eof(&mut self) {
            while self.read_more() {}
            assert_eq!(String::from_utf8_lossy(&self.buf), "");
        }
    }

    /// The length of the first complete response in `buf`.
    pub fn response_len(buf: &[u8]) -> Option<usize> {
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
    pub fn check_date(response: &str) -> String {
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
    pub fn parse_http_date(value: &str) -> Option<u64> {
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

    /// The socket-level tests of the plaintext contract, for a server that
    /// `$with_server(move |addr| ...)` starts on `addr` for the closure's run:
    /// both `http_plaintext` and `engine_http` pass the same ones.
    macro_rules! contract_tests {
        ($with_server:ident) => {
            use $crate::plaintext::testing::{
                Client, BAD_REQUEST_RESPONSE, GET, PLAINTEXT_RESPONSE,
            };

            #[test]
            fn get_plaintext_is_answered_byte_for_byte() {
                $with_server(move |addr| {
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
                $with_server(move |addr| {
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
                $with_server(move |addr| {
                    let mut client = Client::connect(addr);
                    for byte in GET {
                        client.send(&[*byte]);
                        // Let the server read each byte on its own.
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    assert_eq!(client.response(), PLAINTEXT_RESPONSE);
                });
            }

            #[test]
            fn responses_are_the_same_however_the_requests_are_split() {
                // `MIXED_REQUESTS`, through a socket in two writes, split at
                // every byte.
                let (input, expected) = (
                    $crate::plaintext::testing::MIXED_REQUESTS,
                    $crate::plaintext::testing::mixed_responses(),
                );
                $with_server(move |addr| {
                    for split in 0..=input.len() {
                        let mut client = Client::connect(addr);
                        let (front, back) = input.split_at(split);
                        client.send(front);
                        std::thread::sleep(std::time::Duration::from_micros(500));
                        client.send(back);
                        assert_eq!(client.read_to_eof(), expected, "split at {split}");
                    }
                });
            }

            #[test]
            fn malformed_request_gets_400_and_close() {
                $with_server(move |addr| {
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
                $with_server(move |addr| {
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
                $with_server(move |addr| {
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
                $with_server(move |addr| {
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
                $with_server(move |addr| {
                    let mut client = Client::connect(addr);
                    let mut request = b"GET /plaintext HTTP/1.1\r\nX-Long: ".to_vec();
                    request.resize($crate::plaintext::MAX_HEAD + 1000, b'a');
                    client.send(&request);
                    assert_eq!(client.response(), BAD_REQUEST_RESPONSE);
                    client.expect_eof();
                });
            }

            #[test]
            fn request_body_is_skipped() {
                // 100 000 bytes: more than the engine's read buffer (64 KiB), so the
                // body is skipped over several calls.
                $with_server(move |addr| {
                    let mut client = Client::connect(addr);
                    let body = vec![b'x'; 100_000];
                    client.send(b"POST /nope HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
                    client.send(&body);
                    client.send(GET);
                    assert!(client.response().starts_with("HTTP/1.1 404 "));
                    assert_eq!(client.response(), PLAINTEXT_RESPONSE);
                });
            }
        };
    }
    pub(crate) use contract_tests;
}
