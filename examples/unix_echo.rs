//! A Unix domain socket echo server: writes back every byte it reads.
//!
//! ```text
//! cargo run --release --example unix_echo -- --path /tmp/echo.sock
//! # then, e.g.: socat - UNIX-CONNECT:/tmp/echo.sock
//! ```
//!
//! A stale socket file at the path (left by a crashed server) is replaced; a
//! regular file there is never removed. The socket file is removed when the
//! server stops (ctrl-c or SIGTERM).

use futures_lite::AsyncBufReadExt;
use runtime::net::{UnixListener, UnixStream};

#[path = "support/args.rs"]
mod args;

const USAGE: &str = "unix_echo [--path /tmp/runtime-echo.sock]";

fn main() -> std::io::Result<()> {
    let args = args::Args::parse(USAGE);
    let path: String = args.get("path", "/tmp/runtime-echo.sock".to_owned());
    let rt = runtime::Runtime::builder().cores(1).build()?;
    rt.block_on(async {
        let listener = UnixListener::bind(&path)?;
        eprintln!("unix_echo: listening on {path}");
        let serve = async {
            loop {
                let (stream, _) = listener.accept().await?;
                runtime::spawn(async move {
                    if let Err(err) = echo(stream).await {
                        eprintln!("unix_echo: connection error: {err}");
                    }
                });
            }
        };
        let stop = async {
            runtime::signal::shutdown().await?;
            eprintln!("unix_echo: shutting down");
            Ok(())
        };
        futures_lite::future::or(serve, stop).await
    })
}

async fn echo(mut stream: UnixStream) -> std::io::Result<()> {
    let (mut reader, mut writer) = UnixStream::split(&mut stream);
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(());
        }
        let n = chunk.len();
        writer.write_all(chunk).await?;
        reader.consume(n);
    }
}
