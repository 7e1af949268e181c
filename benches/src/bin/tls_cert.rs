//! Writes a self-signed ECDSA P-256 certificate for `localhost` and its key
//! as PEM files (rcgen), for the TLS servers' `--cert`/`--key` and the TLS
//! load generator's `--ca`: `benches/compare.sh` makes one per run, so that
//! every TLS server signs its handshakes with the same kind of key.
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --bin tls_cert -- --out /tmp/tls
//! ```
//!
//! writes `/tmp/tls/cert.pem` and `/tmp/tls/key.pem`.

use runtime_benches::{tls, Args};

const USAGE: &str = "tls_cert --out DIR";

fn main() -> std::io::Result<()> {
    let args = Args::parse(USAGE).only(&["out"], &[]);
    let Some(dir) = args.opt::<std::path::PathBuf>("out") else {
        eprintln!("--out is required\n{USAGE}");
        std::process::exit(2);
    };
    let (cert, key) = tls::self_signed()?;
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("cert.pem"), cert)?;
    std::fs::write(dir.join("key.pem"), key)?;
    Ok(())
}
