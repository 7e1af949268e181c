//! End to end, as `benches/compare.sh` runs them: `tls_cert` makes the
//! certificate, `tokio_tls_echo` serves with it, and `tls_loadgen` checks
//! the echo (validating the certificate with `--ca`) and the full and
//! resumed handshakes, on 127.0.0.1. Small counts: a check, not a
//! benchmark.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The server process, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(dir: &Path) -> (Server, u16) {
    // A port nothing listens on (a small race with other processes).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_tokio_tls_echo"))
        .args([
            "--flavor",
            "current_thread_io",
            "--buffer",
            "16384",
            "--cert",
        ])
        .arg(dir.join("cert.pem"))
        .arg("--key")
        .arg(dir.join("key.pem"))
        .args(["--port", &port.to_string()])
        .spawn()
        .unwrap();
    let server = Server(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
        assert!(Instant::now() < deadline, "the server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, port)
}

fn loadgen(port: u16, args: &[&str]) -> String {
    let Output { status, stdout, .. } = Command::new(env!("CARGO_BIN_EXE_tls_loadgen"))
        .args(["--port", &port.to_string(), "--timeout", "20"])
        .args(args)
        .output()
        .unwrap();
    let line = String::from_utf8(stdout).unwrap();
    assert!(status.success(), "{args:?}: {line}");
    line
}

fn has(line: &str, field: &str) -> bool {
    format!(" {} ", line.trim()).contains(&format!(" {field} "))
}

#[test]
fn tokio_tls_echo_serves_what_tls_loadgen_checks() {
    let dir = std::env::temp_dir().join(format!("tls-bench-e2e-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_tls_cert"))
        .arg("--out")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let (_server, port) = start_server(&dir);
    let ca = dir.join("cert.pem");
    let ca = ca.to_str().unwrap();

    let line = loadgen(
        port,
        &[
            "--ca",
            ca,
            "--connections",
            "4",
            "--size",
            "1000",
            "--pipeline",
            "4",
            "--messages",
            "25",
        ],
    );
    assert!(
        has(&line, "msgs=100") && has(&line, "mismatches=0"),
        "{line}"
    );

    let line = loadgen(
        port,
        &["--handshake", "--connections", "2", "--messages", "6"],
    );
    assert!(has(&line, "full=6") && has(&line, "resumed=0"), "{line}");

    let line = loadgen(
        port,
        &[
            "--handshake",
            "--resumed",
            "--connections",
            "2",
            "--messages",
            "6",
        ],
    );
    assert!(has(&line, "full=1") && has(&line, "resumed=6"), "{line}");

    std::fs::remove_dir_all(dir).unwrap();
}
