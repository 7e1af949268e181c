//! A TCP echo server on the callback engine: gnet's echo example, in Rust.
//!
//! ```text
//! cargo run --release --example engine_echo -- --port 7000 --cores 2
//! cargo run --release --example echo_client -- --port 7000 --connections 100
//! ```
//!
//! Each core runs one loop with its own `SO_REUSEPORT` listener. The reactor
//! calls the connection directly when its socket is readable; `on_traffic`
//! moves the bytes from the inbound ring into the outbound ring, and the
//! loop sends them as soon as the callback returns. Ctrl-c or SIGTERM stops
//! it gracefully.

use runtime::net::engine::{self, Action, Conn, EventHandler, Options};

#[path = "support/args.rs"]
mod args;

const USAGE: &str = "engine_echo [--port 7000] [--cores N] [--pin true|false]";

#[derive(Clone)]
struct Echo;

impl EventHandler for Echo {
    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        let (inbound, outbound) = conn.split();
        // Never refused here: the loop stops calling `on_traffic` while
        // the outbound buffer is above its high watermark.
        match outbound.write(inbound.next(usize::MAX)) {
            Ok(_) => Action::None,
            Err(_) => Action::Close,
        }
    }
}

fn main() -> std::io::Result<()> {
    let args = args::Args::parse(USAGE);
    let port: u16 = args.get("port", 7000);
    let cores = args.cores();
    let pin: bool = args.get("pin", false);
    eprintln!("engine_echo: listening on 127.0.0.1:{port} with {cores} loop(s)");
    engine::run(
        Echo,
        &format!("tcp://127.0.0.1:{port}"),
        Options::new()
            .loops(cores)
            .pin_loops(pin)
            .handle_signals(true),
    )?;
    eprintln!("engine_echo: stopped");
    Ok(())
}
