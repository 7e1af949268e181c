//! The tiny command-line parser the examples share: `--name value` pairs.

// Each example uses the part it needs.
#![allow(dead_code)]

use std::collections::HashMap;
use std::str::FromStr;

/// `--key value` options from the command line.
pub struct Args {
    values: HashMap<String, String>,
}

impl Args {
    /// Parses `std::env::args`, exiting with a message on a malformed line.
    pub fn parse(usage: &str) -> Args {
        let mut values = HashMap::new();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                println!("{usage}");
                std::process::exit(0);
            }
            let Some(key) = arg.strip_prefix("--") else {
                eprintln!("unexpected argument {arg:?}\n{usage}");
                std::process::exit(2);
            };
            let Some(value) = args.next() else {
                eprintln!("--{key} needs a value\n{usage}");
                std::process::exit(2);
            };
            values.insert(key.to_owned(), value);
        }
        Args { values }
    }

    /// The value of `--key`, or `default`.
    pub fn get<T: FromStr>(&self, key: &str, default: T) -> T {
        match self.values.get(key) {
            None => default,
            Some(raw) => raw.parse().unwrap_or_else(|_| {
                eprintln!("invalid value {raw:?} for --{key}");
                std::process::exit(2);
            }),
        }
    }

    /// `--cores N`, defaulting to one core per available CPU.
    pub fn cores(&self) -> usize {
        self.get(
            "cores",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        )
    }
}
