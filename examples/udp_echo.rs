//! A UDP echo server: sends every datagram back to its sender, with one
//! `SO_REUSEPORT` socket per core.
//!
//! ```text
//! cargo run --release --example udp_echo -- --port 7002 --cores 2
//! # then, e.g.: echo hello | socat - UDP:127.0.0.1:7002
//! ```

use runtime::net::UdpSocket;

#[path = "support/args.rs"]
mod args;

const USAGE: &str = "udp_echo [--port 7002] [--cores N]";

fn main() -> std::io::Result<()> {
    let args = args::Args::parse(USAGE);
    let port: u16 = args.get("port", 7002);
    let cores = args.cores();
    let rt = runtime::Runtime::builder().cores(cores).build()?;
    eprintln!("udp_echo: listening on 127.0.0.1:{port} with {cores} core(s)");
    let results = rt.run_on_all_cores(move || serve(port));
    results.into_iter().collect::<std::io::Result<Vec<()>>>()?;
    Ok(())
}

/// One core's socket and loop.
async fn serve(port: u16) -> std::io::Result<()> {
    let socket = UdpSocket::bind_reuse_port(([127, 0, 0, 1], port).into())?;
    let mut buf = vec![0u8; 65_536];
    loop {
        let datagram = socket.recv_msg(&mut buf).await?;
        if datagram.truncated {
            eprintln!("udp_echo: dropped a datagram larger than 64 KiB");
            continue;
        }
        socket.send_to(&buf[..datagram.len], datagram.addr).await?;
    }
}
