//! A TCP proxy on the callback engine: every client connection gets a
//! backend connection on the same loop, and callbacks forward between the
//! two. Nothing blocks a loop: `on_open` spawns a local task that dials the
//! backend with `Client::dial_context_async` (names resolved on the blocking
//! pool, the connect through the loop's reactor), and the server engine and
//! the client share one runtime (`engine::serve_on`, `Client::serve_on`), so
//! the backend connection lands on its client's loop and forwarding never
//! crosses threads.
//!
//! ```text
//! cargo run --release --example echo -- --port 7000
//! cargo run --release --example engine_proxy -- --port 7100 --backend 127.0.0.1:7000 --cores 2
//! cargo run --release --example echo_client -- --port 7100 --connections 50
//! cargo test --example engine_proxy
//! ```
//!
//! Bytes that arrive before the backend is connected wait in the client's
//! inbound buffer. Each direction has at most [`IN_FLIGHT`] bytes handed to
//! the other side and not yet sent; past that, a side stops consuming its
//! input until the other catches up, and a peer that keeps sending then
//! meets the inbound maximum (`Options::max_read_buffer`) and is closed:
//! memory stays bounded whichever side never reads. Ctrl-c or SIGTERM stops
//! it.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use runtime::net::engine::Options;
use runtime::net::engine::{self, Action, Bytes, Client, Conn, ConnHandle, Engine, EventHandler};

#[path = "support/args.rs"]
mod args;

const USAGE: &str = "engine_proxy [--port 7100] [--backend 127.0.0.1:7000] [--cores N]";

/// Bytes one side may have handed to the other and not yet seen sent.
const IN_FLIGHT: usize = 256 * 1024;

/// One handler for both faces of the proxy: the server engine's client
/// connections and the client's backend connections. A connection's
/// context says which it is.
#[derive(Clone)]
struct Proxy {
    backend: Arc<str>,
    /// Set once the client exists (it needs a handler to be made).
    client: Arc<OnceLock<Arc<Client>>>,
}

/// The other side of a connection, and what is in flight towards it.
struct Link {
    /// Filled by the dialing task on a client connection; set from the
    /// start on a backend connection.
    peer: Rc<RefCell<Option<ConnHandle>>>,
    in_flight: Arc<AtomicUsize>,
}

/// What a backend dial carries to its connection's `on_open`: the client
/// connection to answer (`Send`, unlike [`Link`]).
struct Backend {
    front: ConnHandle,
    in_flight: Arc<AtomicUsize>,
    front_loop: usize,
}

impl Proxy {
    /// Hands what `conn` has read to its peer, unless too much is in flight
    /// already (then it waits for a wake from the write's callback).
    fn forward(conn: &mut Conn) -> Action {
        let this = conn.handle();
        let Some(link) = conn.context::<Link>() else {
            return Action::Close;
        };
        let Some(peer) = link.peer.borrow().clone() else {
            return Action::None; // not connected yet: the bytes wait
        };
        let in_flight = link.in_flight.clone();
        if in_flight.load(Ordering::Acquire) >= IN_FLIGHT {
            return Action::None;
        }
        let data = Bytes::copy_from_slice(conn.next(usize::MAX));
        if data.is_empty() {
            return Action::None;
        }
        let len = data.len();
        in_flight.fetch_add(len, Ordering::AcqRel);
        peer.async_write(data, move |sent| {
            let before = in_flight.fetch_sub(len, Ordering::AcqRel);
            if sent.is_err() {
                let _ = this.close();
            } else if before >= IN_FLIGHT && before - len < IN_FLIGHT {
                // Under the bound again: read what waited.
                let _ = this.wake();
            }
        });
        Action::None
    }
}

impl EventHandler for Proxy {
    fn on_open(&mut self, conn: &mut Conn) -> (Option<Bytes>, Action) {
        if let Some(backend) = conn.take_context::<Backend>() {
            // A backend connection: its client connection is known, and
            // served by this same loop (the tests check it).
            debug_assert_eq!(conn.loop_index(), backend.front_loop);
            conn.set_context(Link {
                peer: Rc::new(RefCell::new(Some(backend.front))),
                in_flight: backend.in_flight,
            });
            return (None, Action::None);
        }
        let slot = Rc::new(RefCell::new(None));
        let in_flight = Arc::new(AtomicUsize::new(0));
        conn.set_context(Link {
            peer: slot.clone(),
            in_flight: in_flight.clone(),
        });
        let Some(client) = self.client.get().cloned() else {
            return (None, Action::Close);
        };
        let (front, backend) = (conn.handle(), self.backend.clone());
        let front_loop = conn.loop_index();
        // A local task on this loop: the dial blocks nothing.
        drop(runtime::spawn(async move {
            let dialed = client
                .dial_context_async(
                    &format!("tcp://{backend}"),
                    Some(Backend {
                        front: front.clone(),
                        in_flight: Arc::new(AtomicUsize::new(0)),
                        front_loop,
                    }),
                )
                .await;
            match dialed {
                Ok(back) => {
                    *slot.borrow_mut() = Some(back);
                    // Forward what arrived meanwhile.
                    let _ = front.wake();
                }
                Err(err) => {
                    log::warn!("engine_proxy: backend {backend}: {err}");
                    let _ = front.close();
                }
            }
        }));
        (None, Action::None)
    }

    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        Proxy::forward(conn)
    }

    fn on_close(&mut self, conn: &mut Conn, _err: Option<io::Error>) -> Action {
        if let Some(link) = conn.context::<Link>() {
            if let Some(peer) = link.peer.borrow_mut().take() {
                let _ = peer.close();
            }
        }
        Action::None
    }
}

fn options() -> Options {
    Options::new().max_read_buffer(4 * IN_FLIGHT)
}

/// Starts the proxy on `rt`: the server engine on `listen`, and the client
/// that dials `backend`, both with a loop on every core.
fn start(rt: &runtime::Handle, listen: &str, backend: &str) -> io::Result<(Engine, Arc<Client>)> {
    let proxy = Proxy {
        backend: backend.into(),
        client: Arc::new(OnceLock::new()),
    };
    let client = Arc::new(Client::serve_on(rt, proxy.clone(), options())?);
    let _ = proxy.client.set(client.clone());
    let engine = engine::serve_on(rt, proxy, &[listen], options())?;
    Ok((engine, client))
}

fn main() -> io::Result<()> {
    let args = args::Args::parse(USAGE);
    let port: u16 = args.get("port", 7100);
    let backend: String = args.get("backend", "127.0.0.1:7000".to_owned());
    let rt = runtime::Runtime::builder().cores(args.cores()).build()?;
    let (engine, client) = start(&rt.handle(), &format!("tcp://127.0.0.1:{port}"), &backend)?;
    eprintln!("engine_proxy: listening on 127.0.0.1:{port}, forwarding to {backend}");
    rt.block_on(async {
        let _ = runtime::signal::shutdown().await;
        engine.stop();
        client.stop();
        engine.finished().await;
        client.engine().finished().await;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::thread;
    use std::time::Duration;

    use super::*;

    /// A blocking echo backend for `connections` connections.
    fn echo_backend(connections: usize) -> (String, thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = thread::spawn(move || {
            let peers: Vec<_> = (0..connections)
                .map(|_| {
                    let (mut stream, _) = listener.accept().unwrap();
                    thread::spawn(move || {
                        let mut buf = [0; 16 * 1024];
                        loop {
                            match stream.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => stream.write_all(&buf[..n]).unwrap(),
                            }
                        }
                    })
                })
                .collect();
            peers.into_iter().for_each(|p| p.join().unwrap());
        });
        (addr, server)
    }

    #[test]
    fn forwards_both_ways_through_the_same_loop() {
        const CONNECTIONS: usize = 4;
        const BYTES: usize = 1024 * 1024;
        let (backend, server) = echo_backend(CONNECTIONS);
        let rt = runtime::Runtime::builder().cores(2).build().unwrap();
        let (engine, client) = start(&rt.handle(), "tcp://127.0.0.1:0", &backend).unwrap();
        let addr = engine.addrs()[0].trim_start_matches("tcp://").to_owned();
        // Core 0 serves while this thread drives the runtime.
        let echoed = rt.block_on(runtime::spawn_blocking(move || {
            let clients: Vec<_> = (0..CONNECTIONS)
                .map(|i| {
                    let addr = addr.clone();
                    thread::spawn(move || {
                        let mut stream = TcpStream::connect(&addr).unwrap();
                        stream
                            .set_read_timeout(Some(Duration::from_secs(10)))
                            .unwrap();
                        let payload: Vec<u8> = (0..BYTES).map(|b| (b * 7 + i) as u8).collect();
                        let writer = {
                            let mut stream = stream.try_clone().unwrap();
                            let payload = payload.clone();
                            thread::spawn(move || stream.write_all(&payload).unwrap())
                        };
                        let mut back = vec![0; BYTES];
                        stream.read_exact(&mut back).unwrap();
                        writer.join().unwrap();
                        back == payload
                    })
                })
                .collect();
            clients
                .into_iter()
                .map(|c| c.join().unwrap())
                .collect::<Vec<_>>()
        }));
        assert_eq!(
            echoed.unwrap(),
            vec![true; CONNECTIONS],
            "every byte came back"
        );
        engine.stop();
        client.stop();
        rt.block_on(async {
            engine.finished().await;
            client.engine().finished().await;
        });
        server.join().unwrap();
    }

    #[test]
    fn an_unreachable_backend_closes_the_client() {
        // A port nobody listens on: the dial fails at once.
        let unused = TcpListener::bind("127.0.0.1:0").unwrap();
        let backend = unused.local_addr().unwrap().to_string();
        drop(unused);
        let rt = runtime::Runtime::builder().cores(1).build().unwrap();
        let (engine, client) = start(&rt.handle(), "tcp://127.0.0.1:0", &backend).unwrap();
        let addr = engine.addrs()[0].trim_start_matches("tcp://").to_owned();
        let got = rt.block_on(runtime::spawn_blocking(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).map(|_| rest.len())
        }));
        assert_eq!(got.unwrap().unwrap(), 0, "closed without a byte");
        engine.stop();
        client.stop();
        rt.block_on(engine.finished());
    }
}
