//! For the engine examples' tests: runs a handler on an ephemeral
//! 127.0.0.1 port for the length of one test.

use std::net::SocketAddr;

use runtime::net::engine::{self, Engine, EventHandler, Options};

/// Stops the engine when the test ends, however it ends.
struct Running(Engine);

impl Drop for Running {
    fn drop(&mut self) {
        // No grace period: the test is over, its connections with it.
        let _ = self.0.shutdown(std::time::Duration::ZERO);
    }
}

/// Starts `handler` on `tcp://127.0.0.1:0` (its own loop threads), runs
/// `test` with the bound address, then stops the engine, even if `test`
/// panics.
pub fn with_engine<H: EventHandler + Clone>(
    handler: H,
    options: Options,
    test: impl FnOnce(SocketAddr),
) {
    let engine = engine::start(handler, &["tcp://127.0.0.1:0"], options).unwrap();
    let addr = engine.addrs()[0]
        .trim_start_matches("tcp://")
        .parse()
        .unwrap();
    let _running = Running(engine);
    test(addr);
}
