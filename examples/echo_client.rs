//! A load generator for echo servers: opens N connections, sends messages of
//! S bytes (K in flight per connection), checks every echoed byte, and prints
//! messages per second and latency percentiles.
//!
//! ```text
//! cargo run --release --example echo -- --port 7000 --cores 1 &
//! cargo run --release --example echo_client -- --port 7000 --connections 100 \
//!     --size 64 --pipeline 1 --seconds 5 --cores 1
//! ```
//!
//! It runs on `runtime` itself, one task per connection, connections spread
//! over `--cores`; it waits up to 5 s for the server to start listening.
//! Exits non-zero if any byte came back wrong.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use runtime::net::TcpStream;

#[path = "support/args.rs"]
mod args;

const USAGE: &str = "echo_client [--host 127.0.0.1] [--port 7000] [--connections 100] \
[--size 64] [--pipeline 1] [--seconds 5] [--messages M] [--cores 1]";

#[derive(Default)]
struct Report {
    messages: u64,
    errors: u64,
    mismatches: u64,
    latencies_ns: Vec<u64>,
}

fn main() -> std::io::Result<()> {
    let args = args::Args::parse(USAGE);
    let host: String = args.get("host", "127.0.0.1".to_owned());
    let port: u16 = args.get("port", 7000);
    let connections: usize = args.get("connections", 100);
    let size: usize = args.get("size", 64);
    let pipeline: usize = args.get("pipeline", 1);
    let seconds: f64 = args.get("seconds", 5.0);
    let cores: usize = args.get("cores", 1);
    // A fixed count per connection instead of a duration: what instruction
    // counting needs (`benches/instructions.sh`).
    let per_connection: u64 = args.get("messages", u64::MAX);
    if size == 0 || pipeline == 0 || connections == 0 || cores == 0 {
        eprintln!("--size, --pipeline, --connections and --cores must be at least 1");
        std::process::exit(2);
    }

    let rt = runtime::Runtime::builder().cores(cores).build()?;
    let duration = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let reports = rt.run_on_all_cores(move || {
        let host = host.clone();
        async move {
            let core = runtime::current_core();
            let mine: Vec<usize> = (core..connections).step_by(cores).collect();
            let deadline = Instant::now() + duration;
            let tasks: Vec<_> = mine
                .into_iter()
                .map(|conn| {
                    let host = host.clone();
                    runtime::spawn(async move {
                        let limits = Limits {
                            deadline,
                            messages: per_connection,
                        };
                        run_connection(&host, port, conn, size, pipeline, limits).await
                    })
                })
                .collect();
            let mut total = Report::default();
            for task in tasks {
                let report = task.await.unwrap_or_else(|err| {
                    eprintln!("echo_client: connection task failed: {err}");
                    Report {
                        errors: 1,
                        ..Report::default()
                    }
                });
                total.messages += report.messages;
                total.errors += report.errors;
                total.mismatches += report.mismatches;
                total.latencies_ns.extend(report.latencies_ns);
            }
            total
        }
    });
    let elapsed = started.elapsed().as_secs_f64();

    let mut messages = 0;
    let mut errors = 0;
    let mut mismatches = 0;
    let mut latencies = Vec::new();
    for report in reports {
        messages += report.messages;
        errors += report.errors;
        mismatches += report.mismatches;
        latencies.extend(report.latencies_ns);
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i] as f64 / 1_000.0
    };
    println!(
        "connections={connections} size={size} pipeline={pipeline} msgs={messages} \
         msgs/s={:.0} p50={:.1}us p99={:.1}us p999={:.1}us errors={errors} mismatches={mismatches}",
        messages as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(0.999),
    );
    if mismatches > 0 || messages == 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// Connects, retrying for a few seconds while the server is still starting.
async fn connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut attempts = 0;
    loop {
        match TcpStream::connect((host, port)).await {
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused && attempts < 50 => {
                attempts += 1;
                runtime::time::sleep(Duration::from_millis(100)).await;
            }
            result => return result,
        }
    }
}

/// The byte at `offset` of message `seq` on connection `conn`.
fn pattern(conn: usize, seq: u64, offset: usize) -> u8 {
    (conn as u64)
        .wrapping_mul(31)
        .wrapping_add(seq.wrapping_mul(7))
        .wrapping_add(offset as u64) as u8
}

/// When a connection stops sending: at a deadline or after a message count.
#[derive(Clone, Copy)]
struct Limits {
    deadline: Instant,
    messages: u64,
}

async fn run_connection(
    host: &str,
    port: u16,
    conn: usize,
    size: usize,
    pipeline: usize,
    limits: Limits,
) -> Report {
    let mut report = Report::default();
    let mut stream = match connect(host, port).await {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("echo_client: connect failed: {err}");
            report.errors += 1;
            return report;
        }
    };
    let mut message = vec![0u8; size];
    let mut echoed = vec![0u8; size];
    let mut in_flight = VecDeque::with_capacity(pipeline);
    let (mut sent, mut received) = (0u64, 0u64);
    let result: std::io::Result<()> = async {
        loop {
            while in_flight.len() < pipeline
                && sent < limits.messages
                && Instant::now() < limits.deadline
            {
                for (i, byte) in message.iter_mut().enumerate() {
                    *byte = pattern(conn, sent, i);
                }
                stream.write_all(&message).await?;
                in_flight.push_back(Instant::now());
                sent += 1;
            }
            let Some(sent_at) = in_flight.pop_front() else {
                return Ok(());
            };
            stream.read_exact(&mut echoed).await?;
            report
                .latencies_ns
                .push(sent_at.elapsed().as_nanos() as u64);
            if echoed
                .iter()
                .enumerate()
                .any(|(i, &byte)| byte != pattern(conn, received, i))
            {
                report.mismatches += 1;
            }
            received += 1;
            report.messages += 1;
        }
    }
    .await;
    if let Err(err) = result {
        eprintln!("echo_client: connection {conn}: {err}");
        report.errors += 1;
    }
    report
}
