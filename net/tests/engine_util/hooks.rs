//! A handler made of closures ([`Hooks`]), so each engine test says only
//! what it changes, and the client-side helpers those tests share.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use runtime_net::engine::{self, Action, Conn, Engine, EventHandler, Options};

use super::{wait_until, Peer, WAIT};

pub type OpenFn = dyn Fn(&mut Conn) -> (Option<Bytes>, Action) + Send + Sync;
pub type ConnFn = dyn Fn(&mut Conn) -> Action + Send + Sync;
pub type CloseFn = dyn Fn(&mut Conn, Option<io::Error>) -> Action + Send + Sync;
pub type TickFn = dyn Fn() -> (Duration, Action) + Send + Sync;
pub type ShutdownFn = dyn Fn() + Send + Sync;
pub type BootFn = dyn Fn(&Engine) -> Action + Send + Sync;

#[derive(Clone, Default)]
pub struct Hooks {
    open: Option<Arc<OpenFn>>,
    traffic: Option<Arc<ConnFn>>,
    writable: Option<Arc<ConnFn>>,
    close: Option<Arc<CloseFn>>,
    tick: Option<Arc<TickFn>>,
    shutdown: Option<Arc<ShutdownFn>>,
    boot: Option<Arc<BootFn>>,
}

impl Hooks {
    pub fn new() -> Self {
        Hooks::default()
    }

    pub fn on_open(
        mut self,
        f: impl Fn(&mut Conn) -> (Option<Bytes>, Action) + Send + Sync + 'static,
    ) -> Self {
        self.open = Some(Arc::new(f));
        self
    }

    pub fn on_traffic(mut self, f: impl Fn(&mut Conn) -> Action + Send + Sync + 'static) -> Self {
        self.traffic = Some(Arc::new(f));
        self
    }

    pub fn on_writable(mut self, f: impl Fn(&mut Conn) -> Action + Send + Sync + 'static) -> Self {
        self.writable = Some(Arc::new(f));
        self
    }

    pub fn on_close(
        mut self,
        f: impl Fn(&mut Conn, Option<io::Error>) -> Action + Send + Sync + 'static,
    ) -> Self {
        self.close = Some(Arc::new(f));
        self
    }

    pub fn on_tick(mut self, f: impl Fn() -> (Duration, Action) + Send + Sync + 'static) -> Self {
        self.tick = Some(Arc::new(f));
        self
    }

    pub fn on_shutdown(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.shutdown = Some(Arc::new(f));
        self
    }

    pub fn on_boot(mut self, f: impl Fn(&Engine) -> Action + Send + Sync + 'static) -> Self {
        self.boot = Some(Arc::new(f));
        self
    }
}

/// The error kind of every `on_close` (`None`: a clean close), in order.
#[derive(Clone, Default)]
pub struct CloseLog(pub Arc<Mutex<Vec<Option<io::ErrorKind>>>>);

impl CloseLog {
    /// An `on_close` hook that records into this log.
    pub fn hook(&self) -> impl Fn(&mut Conn, Option<io::Error>) -> Action + Send + Sync + 'static {
        let log = self.0.clone();
        move |_, err| {
            log.lock().unwrap().push(err.map(|e| e.kind()));
            Action::None
        }
    }

    pub fn kinds(&self) -> Vec<Option<io::ErrorKind>> {
        self.0.lock().unwrap().clone()
    }
}

/// Takes everything that arrived once it ends with a newline (a whole
/// request, in these tests); says whether it did.
pub fn took_line(conn: &mut Conn) -> bool {
    let whole = conn.peek(usize::MAX).ends_with(b"\n");
    if whole {
        conn.next(usize::MAX);
    }
    whole
}

/// Echoes what arrived (the default `on_traffic` of [`Hooks`]).
pub fn echo(conn: &mut Conn) -> Action {
    let (inbound, outbound) = conn.split();
    let data = inbound.next(usize::MAX);
    if !data.is_empty() {
        outbound.write(data).expect("echo write");
    }
    Action::None
}

impl EventHandler for Hooks {
    fn on_boot(&mut self, engine: &Engine) -> Action {
        match &self.boot {
            Some(f) => f(engine),
            None => Action::None,
        }
    }

    fn on_open(&mut self, conn: &mut Conn) -> (Option<Bytes>, Action) {
        match &self.open {
            Some(f) => f(conn),
            None => (None, Action::None),
        }
    }

    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        match &self.traffic {
            Some(f) => f(conn),
            None => echo(conn),
        }
    }

    fn on_writable(&mut self, conn: &mut Conn) -> Action {
        match &self.writable {
            Some(f) => f(conn),
            None => Action::None,
        }
    }

    fn on_close(&mut self, conn: &mut Conn, err: Option<io::Error>) -> Action {
        match &self.close {
            Some(f) => f(conn, err),
            None => Action::None,
        }
    }

    fn on_tick(&mut self) -> (Duration, Action) {
        match &self.tick {
            Some(f) => f(),
            None => (Duration::from_secs(1), Action::None),
        }
    }

    fn on_shutdown(&mut self, _engine: &Engine) {
        if let Some(f) = &self.shutdown {
            f();
        }
    }
}

pub fn tcp(hooks: Hooks, options: Options) -> Engine {
    engine::start(hooks, &["tcp://127.0.0.1:0"], options).expect("engine::start")
}

pub fn connect(engine: &Engine) -> Peer {
    Peer::connect(&engine.addrs()[0]).expect("connect")
}

/// Sends `msg` and reads exactly as many bytes back.
pub fn round_trip(peer: &mut Peer, msg: &[u8]) -> Vec<u8> {
    peer.write_all(msg).expect("write");
    peer.read_n(msg.len()).expect("read the echo")
}

/// A counter the hooks bump, and a way to wait for a value.
#[derive(Clone, Default)]
pub struct Count(pub Arc<AtomicUsize>);

impl Count {
    pub fn bump(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    pub fn wait_for(&self, n: usize, what: &str) {
        wait_until(WAIT, what, || self.get() == n);
    }
}

/// Whether the peer saw the connection end: end of stream or a reset.
pub fn peer_sees_end(peer: &mut Peer) -> bool {
    let mut buf = [0; 256];
    loop {
        match peer.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(err) => {
                return matches!(
                    err.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                )
            }
        }
    }
}
