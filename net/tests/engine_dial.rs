//! `Client::dial_async`: a dial that blocks nothing, from a callback's
//! task into the caller's own loop, with a context set before `on_open`;
//! a name that does not resolve, a connect that stalls (a listener with a
//! full backlog) when the client stops, and a dialed connection's
//! panicking `on_open`.

mod engine_util;
mod util;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use engine_util::socket_addr;
use runtime_executor::Runtime;
use runtime_net::engine::{self, Action, Client, Conn, EventHandler, Options};

const TIMEOUT: Duration = Duration::from_secs(10);

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// A loopback address whose connects stall: a listener with a full
/// accept queue drops new SYNs, so a connect neither succeeds nor fails
/// until the dialer gives up. The returned sockets fill its queue.
fn stalling_address() -> (TcpListener, Vec<socket2::Socket>, SocketAddr) {
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let fillers = (0..4)
        .map(|_| {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            s.set_nonblocking(true).unwrap();
            let _ = s.connect(&addr.into());
            s
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    (listener.into(), fillers, addr)
}

/// Echoes; a line `dial` makes a callback task dial the stalling address
/// with a 2 s deadline and report how it ended.
#[derive(Clone)]
struct EchoAndDial {
    client: Arc<Mutex<Option<Arc<Client>>>>,
    target: String,
    ended: Arc<Mutex<mpsc::Sender<io::Result<()>>>>,
}

impl EventHandler for EchoAndDial {
    fn on_traffic(&mut self, conn: &mut Conn) -> Action {
        let data = conn.next(usize::MAX).to_vec();
        if data == b"dial" {
            let client = self.client.lock().unwrap().clone().unwrap();
            let (target, ended) = (self.target.clone(), self.ended.clone());
            drop(runtime_executor::spawn(async move {
                let dialed = runtime_executor::time::timeout(
                    Duration::from_secs(2),
                    client.dial_async(&target),
                )
                .await;
                let result = match dialed {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(err)) => Err(err),
                    Err(_) => Err(io::Error::from(io::ErrorKind::TimedOut)),
                };
                let _ = ended.lock().unwrap().send(result);
            }));
            let _ = conn.write(b"dialing");
        } else {
            let _ = conn.write(&data);
        }
        Action::None
    }
}

#[derive(Clone)]
struct Quiet;

impl EventHandler for Quiet {}

#[test]
fn a_callback_dials_a_stalled_address_and_the_loop_keeps_serving() {
    let (_listener, _fillers, stalled) = stalling_address();
    let rt = Runtime::builder().cores(1).build().unwrap();
    let client = Arc::new(Client::serve_on(&rt.handle(), Quiet, Options::new()).unwrap());
    let (ended_tx, ended) = mpsc::channel();
    let engine = engine::serve_on(
        &rt.handle(),
        EchoAndDial {
            client: Arc::new(Mutex::new(Some(client.clone()))),
            target: format!("tcp://{stalled}"),
            ended: Arc::new(Mutex::new(ended_tx)),
        },
        &["tcp://127.0.0.1:0"],
        Options::new(),
    )
    .unwrap();
    let addr = socket_addr(&engine.addrs()[0]);
    // One core: the loop, the dial and this check all share it.
    let served = rt.block_on(runtime_executor::spawn_blocking(move || {
        let mut dialer = connect(addr);
        dialer.write_all(b"dial").unwrap();
        let mut ack = [0; 7];
        dialer.read_exact(&mut ack).unwrap();
        assert_eq!(&ack, b"dialing");
        // The dial is pending now; the loop must go on serving.
        let mut echoes = 0;
        for i in 0..50u8 {
            let mut other = connect(addr);
            other.write_all(&[i; 8]).unwrap();
            let mut back = [0; 8];
            other.read_exact(&mut back).unwrap();
            assert_eq!(back, [i; 8]);
            echoes += 1;
        }
        let still_pending = matches!(ended.try_recv(), Err(mpsc::TryRecvError::Empty));
        let outcome = ended.recv_timeout(TIMEOUT).expect("the dial ends");
        (echoes, still_pending, outcome)
    }));
    let (echoes, still_pending, outcome) = served.unwrap();
    assert_eq!(echoes, 50);
    assert!(
        still_pending,
        "the dial ended before the echoes: this test proves nothing"
    );
    assert_eq!(
        outcome
            .expect_err("a stalled connect cannot succeed")
            .kind(),
        io::ErrorKind::TimedOut
    );
    engine.stop();
    client.stop();
    rt.block_on(async {
        engine.finished().await;
        client.engine().finished().await;
    });
}

/// The context each connection had in `on_open`, and its loop.
type Opened = Arc<Mutex<Vec<(Option<String>, usize)>>>;

/// Records every connection's [`Opened`] entry.
#[derive(Clone)]
struct SeesContext(Opened);

impl EventHandler for SeesContext {
    fn on_open(&mut self, conn: &mut Conn) -> (Option<engine::Bytes>, Action) {
        let context = conn.context::<String>().cloned();
        self.0.lock().unwrap().push((context, conn.loop_index()));
        (None, Action::None)
    }
}

#[test]
fn dial_async_resolves_names_off_the_loop_and_sets_the_context_before_on_open() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepter = thread::spawn(move || {
        (0..2)
            .map(|_| listener.accept().unwrap().0)
            .collect::<Vec<_>>()
    });
    let rt = Runtime::builder().cores(2).build().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = Client::serve_on(&rt.handle(), SeesContext(seen.clone()), Options::new()).unwrap();
    let loops = rt.block_on(async {
        // `localhost` is a name: resolved on the blocking pool.
        let named = client
            .dial_context_async(
                &format!("tcp://localhost:{port}"),
                Some("backend".to_owned()),
            )
            .await
            .expect("dial by name");
        let plain = client
            .dial_async(&format!("tcp://127.0.0.1:{port}"))
            .await
            .expect("dial by address");
        let core = runtime_executor::current_core();
        let _ = named.close();
        let _ = plain.close();
        client.stop();
        client.engine().finished().await;
        core
    });
    let _peers = accepter.join().unwrap();
    // Both on the dialing task's own core: not the loops in turn.
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(Some("backend".to_owned()), loops), (None, loops)],
        "the context is there in on_open, and the caller's loop serves both"
    );
}

#[test]
fn a_name_that_does_not_resolve_fails_the_dial() {
    let client = Client::new(Quiet, Options::new().loops(1)).unwrap();
    // `.invalid` never resolves (RFC 2606).
    let err = client
        .dial("tcp://no-such-host.invalid:80")
        .expect_err("a blocking dial of a name that does not resolve");
    assert_ne!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    let rt = Runtime::builder().cores(1).build().unwrap();
    let err = rt
        .block_on(async {
            runtime_executor::time::timeout(
                TIMEOUT,
                client.dial_async("tcp://no-such-host.invalid:80"),
            )
            .await
        })
        .expect("the dial ends")
        .expect_err("an async dial of a name that does not resolve");
    assert_ne!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert_eq!(client.engine().count_connections(), 0);
    client.stop();
}

#[test]
fn a_dial_in_flight_when_its_client_stops_ends_with_the_stop() {
    let (_listener, _fillers, stalled) = stalling_address();
    let rt = Runtime::builder().cores(1).build().unwrap();
    let client = Arc::new(Client::serve_on(&rt.handle(), Quiet, Options::new()).unwrap());
    let dialer = client.clone();
    let (outcome, waited) = rt.block_on(async move {
        let dial =
            runtime_executor::spawn(
                async move { dialer.dial_async(&format!("tcp://{stalled}")).await },
            );
        runtime_executor::time::sleep(Duration::from_millis(100)).await;
        assert!(!dial.is_finished(), "the connect is stalled");
        client.stop();
        client.engine().finished().await;
        let started = std::time::Instant::now();
        // Without the stop, the dial gives up after 30 s.
        let outcome = runtime_executor::time::timeout(TIMEOUT, dial).await;
        (outcome, started.elapsed())
    });
    let outcome = outcome
        .unwrap_or_else(|_| panic!("the dial went on {waited:?} after its client stopped"))
        .unwrap();
    let err = outcome.expect_err("a dial into a stopped client");
    assert_eq!(err.kind(), io::ErrorKind::NotConnected, "{err}");
}

/// Panics in `on_open` of a dialed connection, on the first only.
#[derive(Clone)]
struct PanicsOnFirstOpen(Arc<std::sync::atomic::AtomicUsize>);

impl EventHandler for PanicsOnFirstOpen {
    fn on_open(&mut self, _: &mut Conn) -> (Option<engine::Bytes>, Action) {
        if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            panic!("boom in a dialed connection's on_open");
        }
        (Some(engine::Bytes::from_static(b"hi")), Action::None)
    }
}

#[test]
fn a_dialed_connections_panicking_on_open_closes_it_and_the_client_goes_on() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepter = thread::spawn(move || {
        let mut peers: Vec<TcpStream> = (0..2).map(|_| listener.accept().unwrap().0).collect();
        for peer in &mut peers {
            peer.set_read_timeout(Some(TIMEOUT)).unwrap();
        }
        let mut first = Vec::new();
        peers[0]
            .read_to_end(&mut first)
            .expect("the first one's end");
        let mut second = [0; 2];
        peers[1].read_exact(&mut second).unwrap();
        (first, second)
    });
    let opens = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = Client::new(PanicsOnFirstOpen(opens.clone()), Options::new().loops(1)).unwrap();
    let target = format!("tcp://{addr}");
    // Either way the dial ends: closed at once, or a handle to a closed
    // connection.
    if let Ok(handle) = client.dial(&target) {
        let _ = handle;
    }
    let second = client.dial(&target).expect("the next dial");
    let (first, greeting) = accepter.join().unwrap();
    assert!(first.is_empty(), "the first connection was closed unused");
    assert_eq!(&greeting, b"hi");
    assert_eq!(opens.load(std::sync::atomic::Ordering::SeqCst), 2);
    drop(second);
    client.stop();
}
