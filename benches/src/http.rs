//! The plaintext HTTP/1.1 contract of the root example `http_plaintext`, for
//! the comparison servers: `GET /plaintext` answers `200 OK` with `Server`,
//! `Date`, `Content-Type: text/plain`, `Content-Length: 13` and
//! `Hello, World!`; other paths 404, other methods 405, a malformed head 400
//! and close. Pipelined requests are answered in order. No I/O here: the
//! server feeds each read and sends what is appended to its output.

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
            // Empty lines before a request line are ignored (RFC 9112 §2.2).
            if rest.starts_with(b"\r\n") {
                used += 2;
                continue;
            }
            let window = &rest[..rest.len().min(MAX_HEAD)];
            let Some(end) = window.windows(4).position(|w| w == b"\r\n\r\n") else {
                if rest.len() >= MAX_HEAD {
                    respond(out, &BAD_REQUEST, server, date, true);
                    return (input.len(), Next::Close);
                }
                return (used, Next::Read);
            };
            used += end + 4;
            match parse(&rest[..end + 2]) {
                None => {
                    respond(out, &BAD_REQUEST, server, date, true);
                    return (input.len(), Next::Close);
                }
                Some(request) => {
                    let reply = match (request.path, request.method) {
                        (b"/plaintext", b"GET") => &PLAINTEXT,
                        (b"/plaintext", _) => &METHOD_NOT_ALLOWED,
                        _ => &NOT_FOUND,
                    };
                    respond(out, reply, server, date, !request.keep_alive);
                    if !request.keep_alive {
                        return (input.len(), Next::Close);
                    }
                    self.body_left = request.body_len;
                }
            }
        }
    }
}

struct Request<'a> {
    method: &'a [u8],
    path: &'a [u8],
    keep_alive: bool,
    body_len: u64,
}

/// Parses a head: the request line and header lines, each ending in CRLF.
fn parse(head: &[u8]) -> Option<Request<'_>> {
    let mut lines = head.split(|&b| b == b'\n');
    let line = lines.next()?.strip_suffix(b"\r")?;
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        _ => return None,
    };
    if method.is_empty() || !target.starts_with(b"/") {
        return None;
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or(b"");
    let mut keep_alive = !http10;
    let mut body_len = 0;
    for line in lines {
        if line.is_empty() {
            break; // after the final CRLF
        }
        let line = line.strip_suffix(b"\r")?;
        let colon = line.iter().position(|&b| b == b':')?;
        let name = &line[..colon];
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"connection") {
            if value.eq_ignore_ascii_case(b"close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case(b"keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            body_len = std::str::from_utf8(value).ok()?.parse().ok()?;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return None;
        }
    }
    Some(Request {
        method,
        path,
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
    }
}
