//! Starting an engine: binding its addresses, one runtime core per loop,
//! and each loop's accept tasks, ticker and idle sweep.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::hash::{Hash, Hasher};
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::future;
use runtime_executor::channel::mpsc::{unbounded, UnboundedReceiver};
use runtime_executor::time::Instant;
use runtime_executor::{Handle, Runtime};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::addr::{parse, EngineAddr};
use super::control::EngineInner;
use super::event_loop::{call_done, Loop};
use super::handle::{closed_error, Command, StreamKind};
use super::{Action, Engine, EventHandler, LoadBalancing, Options};
use crate::tcp::{TcpListener, TcpListenerBuilder};
use crate::unix::path::SocketFile;
use crate::unix::UnixListener;

use crate::accept::{ACCEPT_BATCH, FIRST_BACKOFF, MAX_BACKOFF};

/// A socket bound for one loop.
enum Bound {
    /// This loop's own `SO_REUSEPORT` listener.
    Tcp(Socket),
    /// The one listener, whose connections this loop spreads.
    TcpAcceptor(Socket, LoadBalancing),
    UnixAcceptor(
        std::os::unix::net::UnixListener,
        Option<SocketFile>,
        LoadBalancing,
    ),
    Udp(Socket),
}

struct LoopSetup<H> {
    handler: H,
    receiver: UnboundedReceiver<Command>,
    bound: Vec<Bound>,
}

/// Everything bound and built, ready to run on a runtime.
pub(crate) struct Prepared<H> {
    pub(crate) engine: Engine,
    setups: Vec<LoopSetup<H>>,
    options: Arc<Options>,
}

fn bind_ip(
    addr: std::net::SocketAddr,
    ty: Type,
    options: &Options,
    reuse_port: bool,
) -> io::Result<Socket> {
    if ty == Type::STREAM {
        return TcpListenerBuilder::default()
            .backlog(options.backlog)
            .reuse_address(options.reuse_addr)
            .reuse_port(reuse_port)
            .bind_socket(addr);
    }
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM.nonblocking().cloexec(),
        Some(Protocol::UDP),
    )?;
    if options.reuse_addr {
        socket.set_reuse_address(true)?;
    }
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if let Some(size) = options.socket_recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    if let Some(size) = options.socket_send_buffer {
        socket.set_send_buffer_size(size)?;
    }
    socket.bind(&addr.into())?;
    Ok(socket)
}

fn bound_addr(socket: &Socket) -> io::Result<std::net::SocketAddr> {
    socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("bound socket has no IP address"))
}

/// Binds `addr` once per loop with `SO_REUSEPORT` (UDP on a single loop
/// binds without it), port 0 resolved by the first bind and shared by the
/// rest; returns the address bound.
fn bind_on_every_loop(
    bound: &mut [Vec<Bound>],
    addr: std::net::SocketAddr,
    ty: Type,
    options: &Options,
    wrap: fn(Socket) -> Bound,
) -> io::Result<std::net::SocketAddr> {
    let reuse_port = ty == Type::STREAM || bound.len() > 1;
    let first = bind_ip(addr, ty, options, reuse_port)?;
    let actual = bound_addr(&first)?;
    bound[0].push(wrap(first));
    for share in bound.iter_mut().skip(1) {
        share.push(wrap(join_ip(actual, ty, options)?));
    }
    Ok(actual)
}

/// Binds `addr` beside the first loop's socket: a TCP listener joins it
/// (the first bind was exclusive, so no other program shares the address).
fn join_ip(addr: std::net::SocketAddr, ty: Type, options: &Options) -> io::Result<Socket> {
    if ty == Type::STREAM {
        return TcpListenerBuilder::default()
            .backlog(options.backlog)
            .reuse_address(options.reuse_addr)
            .join_socket(addr);
    }
    bind_ip(addr, ty, options, true)
}

/// Parses and binds `addrs` (every loop's share), and builds the handlers
/// and inboxes. Errors here are the caller's: bad addresses, ports in use.
pub(crate) fn prepare<H: EventHandler + Clone>(
    handler: H,
    addrs: &[&str],
    options: Options,
) -> io::Result<Prepared<H>> {
    let loops = options.num_loops();
    let mut bound: Vec<Vec<Bound>> = (0..loops).map(|_| Vec::new()).collect();
    let mut names = Vec::new();
    for addr in addrs {
        match parse(addr)? {
            EngineAddr::Tcp(addr) if options.load_balancing == LoadBalancing::ReusePort => {
                let actual =
                    bind_on_every_loop(&mut bound, addr, Type::STREAM, &options, Bound::Tcp)?;
                names.push(format!("tcp://{actual}"));
            }
            EngineAddr::Tcp(addr) => {
                let socket = bind_ip(addr, Type::STREAM, &options, false)?;
                names.push(format!("tcp://{}", bound_addr(&socket)?));
                bound[0].push(Bound::TcpAcceptor(socket, options.load_balancing));
            }
            EngineAddr::Udp(addr) => {
                let actual =
                    bind_on_every_loop(&mut bound, addr, Type::DGRAM, &options, Bound::Udp)?;
                names.push(format!("udp://{actual}"));
            }
            EngineAddr::Unix(name) => {
                let (listener, file) = UnixListener::bind_std(&name)?;
                let lb = match options.load_balancing {
                    LoadBalancing::ReusePort => LoadBalancing::RoundRobin,
                    other => other,
                };
                names.push(EngineAddr::Unix(name).to_string());
                bound[0].push(Bound::UnixAcceptor(listener, file, lb));
            }
        }
    }
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..loops).map(|_| unbounded()).unzip();
    let engine = Engine {
        inner: Arc::new(EngineInner::new(senders, options.max_connections, names)),
    };
    let setups = receivers
        .into_iter()
        .zip(bound)
        .map(|(receiver, bound)| LoopSetup {
            handler: handler.clone(),
            receiver,
            bound,
        })
        .collect();
    Ok(Prepared {
        engine,
        setups,
        options: Arc::new(options),
    })
}

std::thread_local! {
    /// The engines whose loops run on this thread (their `Arc` addresses):
    /// several, when engines share a runtime ([`serve_on`]).
    static LOOPS_OF: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

fn engine_id(engine: &Engine) -> usize {
    Arc::as_ptr(&engine.inner) as usize
}

/// The index of the engine loop running on this thread, if any: for
/// loop-wide callbacks (`on_boot`, `on_tick`) that act on one loop only.
/// A connection's loop is also [`Conn::loop_index`](super::Conn::loop_index).
pub fn current_loop() -> Option<usize> {
    if LOOPS_OF.with_borrow(Vec::is_empty) {
        return None;
    }
    runtime_executor::try_current_core()
}

/// Whether the current thread runs a loop of `engine`.
pub(crate) fn on_loop_of(engine: &Engine) -> bool {
    let id = engine_id(engine);
    LOOPS_OF.with_borrow(|ids| ids.contains(&id))
}

/// Runs every loop of `prepared` on the cores of an existing runtime, one
/// loop per core, as tasks beside that runtime's own; returns at once.
/// The engine is finished once every loop has returned (or the runtime has
/// stopped).
pub(crate) fn spawn_loops<H: EventHandler>(runtime: &Handle, prepared: Prepared<H>) -> Engine {
    let Prepared {
        engine,
        setups,
        options,
    } = prepared;
    let running = Arc::new(LoopsRunning {
        engine: engine.clone(),
        left: AtomicUsize::new(setups.len()),
    });
    for (index, setup) in setups.into_iter().enumerate() {
        let (engine, options) = (engine.clone(), options.clone());
        // Owned by the task from the start: a loop whose task never runs
        // (the runtime stopped first) still counts as returned.
        let running = LoopDone(running.clone());
        drop(runtime.spawn_on(index, move || async move {
            let _running = running;
            loop_main(index, setup, engine, options).await;
        }));
    }
    engine
}

/// The loops of a [`spawn_loops`] engine not yet returned.
struct LoopsRunning {
    engine: Engine,
    left: AtomicUsize,
}

/// One loop of a [`spawn_loops`] engine: the last one to return (or to be
/// dropped unrun) finishes the engine.
struct LoopDone(Arc<LoopsRunning>);

impl Drop for LoopDone {
    fn drop(&mut self) {
        if self.0.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.engine.inner.set_finished();
        }
    }
}

/// Builds the runtime and runs every loop on it until the engine stops.
/// `started` hears whether the runtime could be built.
pub(crate) fn run_loops<H: EventHandler>(
    prepared: Prepared<H>,
    started: Option<std::sync::mpsc::Sender<io::Result<()>>>,
) -> io::Result<()> {
    let Prepared {
        engine,
        setups,
        options,
    } = prepared;
    let runtime = Runtime::builder()
        .cores(setups.len())
        .pin_cores(options.pin_loops)
        .thread_name("engine-loop")
        .build();
    let runtime = match runtime {
        Ok(rt) => {
            if let Some(started) = started {
                let _ = started.send(Ok(()));
            }
            rt
        }
        Err(err) => {
            engine.inner.set_finished();
            match started {
                Some(started) => {
                    let _ = started.send(Err(err));
                    return Ok(());
                }
                None => return Err(err),
            }
        }
    };
    let setups = Arc::new(Mutex::new(setups.into_iter().map(Some).collect::<Vec<_>>()));
    let entry_engine = engine.clone();
    let results = runtime.try_run_on_all_cores(move || {
        let index = runtime_executor::current_core();
        let setup = setups.lock().unwrap_or_else(|e| e.into_inner())[index].take();
        let engine = entry_engine.clone();
        let options = options.clone();
        async move {
            if let Some(setup) = setup {
                loop_main(index, setup, engine, options).await;
            }
        }
    });
    // A loop's panic outside its entry future is reported here, not
    // resumed by the runtime's drop (which would leave `wait` hanging).
    let late_panic = runtime.shutdown().is_err();
    engine.inner.set_finished();
    if late_panic {
        return Err(io::Error::other("an engine loop panicked"));
    }
    for result in results {
        if let Err(err) = result {
            if err.is_panic() {
                return Err(io::Error::other("an engine loop panicked"));
            }
        }
    }
    Ok(())
}

async fn loop_main<H: EventHandler>(
    index: usize,
    setup: LoopSetup<H>,
    engine: Engine,
    options: Arc<Options>,
) {
    LOOPS_OF.with_borrow_mut(|ids| ids.push(engine_id(&engine)));
    let LoopSetup {
        handler,
        receiver,
        bound,
    } = setup;
    let lp = Loop::new(
        index,
        engine.inner.senders[index].clone(),
        handler,
        engine.clone(),
        options.clone(),
    );
    let mut end = LoopEnd {
        lp: lp.clone(),
        inbox: receiver,
    };
    let receiver = &mut end.inbox;
    // Before any listener is served: no connection or datagram comes first.
    let action = lp.guarded("on_boot", |h| h.on_boot(&engine));
    lp.apply_loop_action(action);
    // The accept tasks, which the stop ends at once, and the others.
    let mut accepting = Vec::new();
    let mut tasks = Vec::new();
    for socket in bound {
        let started = match socket {
            Bound::Tcp(socket) => TcpListener::from_socket(socket).map(|l| {
                accepting.push(runtime_executor::spawn(accept_loop(
                    lp.clone(),
                    Acceptor::Tcp(l),
                    None,
                )))
            }),
            Bound::TcpAcceptor(socket, lb) => TcpListener::from_socket(socket).map(|l| {
                accepting.push(runtime_executor::spawn(accept_loop(
                    lp.clone(),
                    Acceptor::Tcp(l),
                    Some(Balancer::new(lb)),
                )))
            }),
            Bound::UnixAcceptor(listener, file, lb) => UnixListener::from_parts(listener, file)
                .map(|l| {
                    accepting.push(runtime_executor::spawn(accept_loop(
                        lp.clone(),
                        Acceptor::Unix(l),
                        Some(Balancer::new(lb)),
                    )))
                }),
            Bound::Udp(socket) => lp.add_datagram_socket(socket).map(drop),
        };
        if let Err(err) = started {
            log::error!("engine loop {index}: cannot serve a listener: {err}");
        }
    }
    if options.handle_signals && index == 0 {
        let engine = engine.clone();
        tasks.push(runtime_executor::spawn(async move {
            if runtime_executor::signal::shutdown().await.is_ok() {
                engine.stop();
            }
        }));
    }
    if options.ticker {
        tasks.push(runtime_executor::spawn(ticker(lp.clone())));
    }
    if let Some(timeout) = options.first_read_timeout {
        tasks.push(runtime_executor::spawn(first_frame_sweep(
            lp.clone(),
            timeout,
        )));
    }
    if let Some(timeout) = options.idle_timeout {
        tasks.push(runtime_executor::spawn(idle_sweep(lp.clone(), timeout)));
    }
    let stop = loop {
        match receiver.recv().await {
            Some(Command::Stop(deadline)) => break deadline,
            Some(command) => lp.command(command),
            None => break Some(Instant::now()),
        }
    };
    // Stop accepting at once: an aborted accept task drops its listener.
    for task in &accepting {
        task.abort();
    }
    drop(accepting);
    lp.close_datagrams();
    let deadline = stop.unwrap_or_else(|| Instant::now() + options.shutdown_timeout);
    serve_until_quiet(&lp, receiver, deadline).await;
    for task in &tasks {
        task.abort();
    }
    drop(tasks);
    // Past the deadline, `end`'s drop closes what is still open (what is
    // still being sent is cut once the engine has finished), calls
    // `on_shutdown` and fails what is still in the inbox.
}

/// Ends a loop when its task ends, after a stop or not: closes its
/// connections, calls `on_shutdown`, fails what is still in its inbox, and
/// takes it off its thread's [`LOOPS_OF`]. On a shared runtime
/// (`serve_on`) the runtime may stop first, dropping the loop's task where
/// it waits: each connection, which holds its loop, would keep its socket
/// open for good, the inbox's write callbacks would never be called, and
/// the thread (core 0's is the application's own) would go on counting as
/// a loop of that engine.
struct LoopEnd<H: EventHandler> {
    lp: Rc<Loop<H>>,
    inbox: UnboundedReceiver<Command>,
}

impl<H: EventHandler> Drop for LoopEnd<H> {
    fn drop(&mut self) {
        let lp = &self.lp;
        let index = lp.index();
        lp.close_all();
        lp.guarded("on_shutdown", |h| h.on_shutdown(&lp.engine));
        // Every write callback is called, every handed-over connection
        // gives back its slot.
        self.inbox.close();
        while let Ok(command) = self.inbox.try_recv() {
            match command {
                Command::Write { done, .. } => {
                    call_done(index, done, Err(closed_error()));
                }
                Command::Adopt { reply, .. } => {
                    lp.engine.inner.connection_closed(index);
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(closed_error()));
                    }
                }
                Command::AdoptDatagram { reply, .. } => {
                    let _ = reply.send(Err(closed_error()));
                }
                _ => {}
            }
        }
        let id = engine_id(&lp.engine);
        let _ = LOOPS_OF.try_with(|ids| ids.borrow_mut().retain(|&other| other != id));
    }
}

/// How often a stopping loop looks whether its last connection has gone.
const QUIET_CHECK: Duration = Duration::from_millis(10);

/// The graceful part of a stop: serves the loop's connections and commands
/// until every connection has closed (and sent what it had queued) or
/// `deadline` passes. A later `Stop` may bring the deadline forward.
async fn serve_until_quiet<H: EventHandler>(
    lp: &Rc<Loop<H>>,
    receiver: &mut UnboundedReceiver<Command>,
    mut deadline: Instant,
) {
    while lp.busy() && Instant::now() < deadline {
        let check = runtime_executor::time::sleep_until(deadline.min(Instant::now() + QUIET_CHECK));
        let next = future::or(
            async { poll_fn(|cx| receiver.poll_recv(cx)).await },
            async {
                check.await;
                None
            },
        );
        match next.await {
            Some(Command::Stop(Some(sooner))) => deadline = deadline.min(sooner),
            Some(Command::Stop(None)) => {}
            Some(command) => lp.command(command),
            // The check's period, or an inbox closed (never, while the
            // engine holds its senders).
            None => {}
        }
    }
}

async fn ticker<H: EventHandler>(lp: Rc<Loop<H>>) {
    loop {
        let (delay, action) = lp
            .guarded("on_tick", |h| h.on_tick())
            .unwrap_or((Duration::from_secs(1), Action::None));
        lp.apply_loop_action(Some(action));
        runtime_executor::time::sleep(delay).await;
    }
}

/// Periods of a quarter of the timeout; a connection unused for five of
/// them is closed, so never before the timeout and at most 25% after it.
async fn idle_sweep<H: EventHandler>(lp: Rc<Loop<H>>, timeout: Duration) {
    let period = (timeout / 4).max(Duration::from_millis(1));
    loop {
        runtime_executor::time::sleep(period).await;
        lp.sweep_idle(5);
    }
}

/// Periods of a quarter of the timeout; a connection's first frame is due
/// five periods after it opened (see `ConnCell::first_frame_due`).
async fn first_frame_sweep<H: EventHandler>(lp: Rc<Loop<H>>, timeout: Duration) {
    let period = (timeout / 4).max(Duration::from_millis(1));
    loop {
        runtime_executor::time::sleep(period).await;
        lp.sweep_first_frames();
    }
}

enum Acceptor {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Acceptor {
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Socket, SockAddr)>> {
        match self {
            Acceptor::Tcp(l) => l.poll_accept_socket(cx),
            Acceptor::Unix(l) => l.poll_accept_socket(cx),
        }
    }

    fn kind(&self) -> StreamKind {
        match self {
            Acceptor::Tcp(_) => StreamKind::Tcp,
            Acceptor::Unix(_) => StreamKind::Unix,
        }
    }
}

/// Picks the loop for each connection of a single acceptor.
struct Balancer {
    mode: LoadBalancing,
    next: Cell<usize>,
}

impl Balancer {
    fn new(mode: LoadBalancing) -> Self {
        Balancer {
            mode,
            next: Cell::new(0),
        }
    }

    fn pick(&self, engine: &EngineInner, peer: &SockAddr) -> usize {
        let loops = engine.senders.len();
        let round_robin = || {
            let i = self.next.get() % loops;
            self.next.set(i + 1);
            i
        };
        match self.mode {
            LoadBalancing::ReusePort | LoadBalancing::RoundRobin => round_robin(),
            LoadBalancing::LeastConnections => {
                (0..loops).min_by_key(|&i| engine.loop_load(i)).unwrap_or(0)
            }
            LoadBalancing::SourceAddrHash => match peer.as_socket() {
                Some(addr) => {
                    let mut hasher = std::collections::hash_map::DefaultHasher::new();
                    addr.ip().hash(&mut hasher);
                    (hasher.finish() % loops as u64) as usize
                }
                None => round_robin(),
            },
        }
    }
}

/// Accepts forever: serves each connection here or hands it to the loop the
/// balancer picks. Never gives up: errors are logged and retried after a
/// back-off (the listeners already back off on `EMFILE` themselves).
async fn accept_loop<H: EventHandler>(
    lp: Rc<Loop<H>>,
    acceptor: Acceptor,
    balancer: Option<Balancer>,
) {
    let kind = acceptor.kind();
    let mut backoff = FIRST_BACKOFF;
    let mut in_a_row = 0;
    loop {
        match poll_fn(|cx| acceptor.poll_accept(cx)).await {
            Ok((socket, peer)) => {
                backoff = FIRST_BACKOFF;
                let inner = &lp.engine.inner;
                if !inner.reserve() {
                    // Over the limit: reset at once rather than leave it hanging.
                    let _ = socket.set_linger(Some(Duration::ZERO));
                    drop(socket);
                } else {
                    let target = balancer
                        .as_ref()
                        .map_or(lp.index(), |b| b.pick(inner, &peer));
                    inner.assign(target);
                    if target == lp.index() {
                        lp.open(socket, kind, peer, None, None, None);
                    } else {
                        let command = Command::Adopt {
                            socket,
                            kind,
                            peer,
                            reply: None,
                            context: None,
                            tls: None,
                        };
                        if inner.senders[target].send(command).is_err() {
                            inner.connection_closed(target);
                        }
                    }
                }
                in_a_row += 1;
                if in_a_row >= ACCEPT_BATCH {
                    in_a_row = 0;
                    runtime_executor::yield_now().await;
                }
            }
            Err(err) => {
                if backoff == FIRST_BACKOFF {
                    log::error!(
                        "engine loop {}: accept failed ({err}); backing off and retrying",
                        lp.index()
                    );
                }
                runtime_executor::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
