//! The plaintext HTTP/1.1 contract of the root example `http_plaintext`, for
//! the comparison servers: `GET /plaintext` answers `200 OK` with `Server`,
//! `Date`, `Content-Type: text/plain`, `Content-Length: 13` and
//! `Hello, World!`; other paths 404, other methods 405, a malformed head 400
//! and close. Pipelined requests are answered in order. Requests are parsed
//! with `httparse` (hyper's parser), as in the root examples. No I/O here:
//! the server feeds each read and sends what is appended to its output.
//!
//! [`count_requests`] is the lean floor's "parser": it only counts the blank
//! lines that end request heads, and is no HTTP server.

use std::mem::MaybeUninit;
use std::time::{SystemTime, UNIX_EPOCH};

/// The longest request head accepted (request line, headers, blank line).
pub const MAX_HEAD: usize = 8 * 1024;

/// The `Date` header value, reformatted when the second changes.
pub struct Date {
    secs: u64,
    value: [u8; 29],
}

impl Default for Date {
    fn default() -> Date {
        Date::new()
    }
}

impl Date {
    pub fn new() -> Date {
        let secs = unix_secs();
        Date {
            secs,
            value: http_date(secs),
        }
    }

    /// The current value (one clock read, from the vDSO).
    pub fn get(&mut self) -> &[u8; 29] {
        let secs = unix_secs();
        if secs != self.secs {
            self.secs = secs;
            self.value = http_date(secs);
        }
        &self.value
    }
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `secs` since the epoch as an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, rem / 60 % 60, rem % 60);
    let weekday = ((days + 4) % 7) as usize; // 1970-01-01 was a Thursday
                                             // Civil date from days since the epoch (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);

    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(DAYS[weekday]);
    let two = |out: &mut [u8; 29], at: usize, v: u64| {
        out[at] = b'0' + (v / 10 % 10) as u8;
        out[at + 1] = b'0' + (v % 10) as u8;
    };
    two(&mut out, 5, day as u64);
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    two(&mut out, 12, (year / 100) as u64);
    two(&mut out, 14, (year % 100) as u64);
    two(&mut out, 17, hour);
    two(&mut out, 20, minute);
    two(&mut out, 23, second);
    out
}

/// What a connection does after its input was fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read on.
    Read,
    /// Send the output, then close.
    Close,
}

/// One connection's parsing state.
#[derive(Debug, Default)]
pub struct Conn {
    /// Body bytes of the last request still to skip.
    body_left: u64,
}

/// The most header lines in a request head; more get 400.
const MAX_HEADERS: usize = 32;

impl Conn {
    /// Answers every complete request at the front of `input`, appending the
    /// responses to `out`. Returns how many bytes of `input` are done with
    /// (the rest is an unfinished head to keep) and what to do next.
    pub fn feed(
        &mut self,
        input: &[u8],
        server: &[u8],
        date: &[u8; 29],
        out: &mut Vec<u8>,
    ) -> (usize, Next) {
        let mut used = 0;
        loop {
            if self.body_left > 0 {
                let skip = self.body_left.min((input.len() - used) as u64);
                self.body_left -= skip;
                used += skip as usize;
                if self.body_left > 0 {
                    return (used, Next::Read);
                }
            }
            let rest = &input[used..];
            if rest.is_empty() {
                return (used, Next::Read);
            }
            let window = &rest[..rest.len().min(MAX_HEAD)];
            let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
            let mut request = httparse::Request::new(&mut []);
            match request.parse_with_uninit_headers(window, &mut headers) {
                Ok(httparse::Status::Complete(len)) => {
                    used += len;
                    let Some(request) = check(&request) else {
                        respond(out, &BAD_REQUEST, server, date, true);
                        return (input.len(), Next::Close);
                    };
                    let path = request.path.split('?').next().unwrap_or("");
                    let reply = match (path, request.method) {
                        ("/plaintext", "GET") => &PLAINTEXT,
                        ("/plaintext", _) => &METHOD_NOT_ALLOWED,
                        _ => &NOT_FOUND,
                    };
                    respond(out, reply, server, date, !request.keep_alive);
                    if !request.keep_alive {
                        return (input.len(), Next::Close);
                    }
                    self.body_left = request.body_len;
                }
                Ok(httparse::Status::Partial) if rest.len() < MAX_HEAD => {
                    return (used, Next::Read)
                }
                Ok(httparse::Status::Partial) | Err(_) => {
                    respond(out, &BAD_REQUEST, server, date, true);
                    return (input.len(), Next::Close);
                }
            }
        }
    }
}

struct Request<'a> {
    method: &'a str,
    path: &'a str,
    keep_alive: bool,
    body_len: u64,
}

/// What `httparse` leaves to its caller: `Connection` and `Content-Length`;
/// a `Transfer-Encoding` body is refused.
fn check<'a>(request: &httparse::Request<'_, 'a>) -> Option<Request<'a>> {
    let http10 = request.version? == 0;
    let mut keep_alive = !http10;
    let mut body_len = 0;
    for header in request.headers.iter() {
        let value = header.value.trim_ascii();
        if header.name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case(b"close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case(b"keep-alive") {
                keep_alive = true;
            }
        } else if header.name.eq_ignore_ascii_case("content-length") {
            body_len = std::str::from_utf8(value).ok()?.parse().ok()?;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return None;
        }
    }
    Some(Request {
        method: request.method?,
        path: request.path?,
        keep_alive,
        body_len,
    })
}

struct Reply {
    status: &'static [u8],
    content_type: bool,
    body: &'static [u8],
}

const PLAINTEXT: Reply = Reply {
    status: b"200 OK",
    content_type: true,
    body: b"Hello, World!",
};
const NOT_FOUND: Reply = Reply {
    status: b"404 Not Found",
    content_type: false,
    body: b"",
};
const METHOD_NOT_ALLOWED: Reply = Reply {
    status: b"405 Method Not Allowed",
    content_type: false,
    body: b"",
};
const BAD_REQUEST: Reply = Reply {
    status: b"400 Bad Request",
    content_type: false,
    body: b"",
};

fn respond(out: &mut Vec<u8>, reply: &Reply, server: &[u8], date: &[u8; 29], close: bool) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(reply.status);
    out.extend_from_slice(b"\r\nServer: ");
    out.extend_from_slice(server);
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n");
    if reply.content_type {
        out.extend_from_slice(b"Content-Type: text/plain\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    push_decimal(out, reply.body.len());
    out.extend_from_slice(b"\r\n");
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(reply.body);
}

fn push_decimal(out: &mut Vec<u8>, n: usize) {
    if n >= 10 {
        push_decimal(out, n / 10);
    }
    out.push(b'0' + (n % 10) as u8);
}

/// The floor of `tokio_http_floor`: the number of `\r\n\r\n` in `input`
/// (request heads, if every request is a bodiless GET) and where the last
/// one ends. Not a parser: it answers anything that ends in a blank line.
pub fn count_requests(input: &[u8]) -> (usize, usize) {
    let mut count = 0;
    let mut end = 0;
    for at in memchr::memmem::find_iter(input, b"\r\n\r\n") {
        count += 1;
        end = at + 4;
    }
    (count, end)
}

/// The response the floor sends to every request.
pub fn floor_response(date: &[u8; 29], out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nServer: floor\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(
        b"\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(&http_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&http_date(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&http_date(1_709_210_096), b"Thu, 29 Feb 2024 12:34:56 GMT");
    }

    #[test]
    fn pipelined_and_partial() {
        let date = http_date(0);
        let mut conn = Conn::default();
        let mut out = Vec::new();
        let input = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /pl";
        let (used, next) = conn.feed(input, b"t", &date, &mut out);
        assert_eq!(next, Next::Read);
        assert_eq!(&input[used..], b"GET /pl");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 2);
        assert!(text.ends_with("Content-Length: 13\r\n\r\nHello, World!"));
        assert!(text.contains("Content-Type: text/plain\r\n"));
    }

    #[test]
    fn errors() {
        let date = http_date(0);
        let mut out = Vec::new();
        let (_, next) = Conn::default().feed(b"GET /x HTTP/1.1\r\n\r\n", b"t", &date, &mut out);
        assert_eq!(next, Next::Read);
        assert!(out.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
        out.clear();
        let (_, next) = Conn::default().feed(b"garbage\r\n\r\n", b"t", &date, &mut out);
        assert_eq!(next, Next::Close);
        assert!(out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
        out.clear();
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let (_, next) = Conn::default().feed(chunked, b"t", &date, &mut out);
        assert_eq!(next, Next::Close);
        assert!(out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    }

    #[test]
    fn bodies_are_skipped_and_heads_bounded() {
        let date = http_date(0);
        let mut out = Vec::new();
        let mut conn = Conn::default();
        let input =
            b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /plaintext HTTP/1.1\r\n\r\n";
        assert_eq!(
            conn.feed(input, b"t", &date, &mut out),
            (input.len(), Next::Read)
        );
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 "), "{text}");
        assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 1);
        out.clear();
        let endless = vec![b'a'; MAX_HEAD];
        let (_, next) = Conn::default().feed(&endless, b"t", &date, &mut out);
        assert_eq!(next, Next::Close);
        assert!(out.starts_with(b"HTTP/1.1 400 "));
    }

    #[test]
    fn the_floor_counts_blank_lines() {
        let input = b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\nGET /";
        assert_eq!(count_requests(input), (2, 36));
        assert_eq!(count_requests(b"GET / HTTP/1.1\r\n"), (0, 0));
        let mut out = Vec::new();
        floor_response(&http_date(0), &mut out);
        assert!(out.ends_with(b"Content-Length: 13\r\n\r\nHello, World!"));
    }
}
