//! Small tokio programs ported to `runtime`, with `runtime` as their only
//! runtime dependency: each is what a tokio user would write, with
//! `tokio::` replaced by `runtime::`. Real sockets on 127.0.0.1; every
//! program runs under a deadline so a hang fails instead of blocking CI.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use runtime::io::{copy_bidirectional, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use runtime::net::{TcpListener, TcpStream};
use runtime::sync::{broadcast, watch, Mutex, Semaphore};
use runtime::task::JoinSet;
use runtime::time::{interval, sleep, timeout};

/// Every program gets this long; they take milliseconds.
const DEADLINE: Duration = Duration::from_secs(30);

fn run<F: std::future::Future<Output = io::Result<()>>>(program: F) {
    let rt = runtime::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        timeout(DEADLINE, program)
            .await
            .expect("the program finished before its deadline")
    })
    .unwrap();
}

/// Reads one `\n`-terminated line. `read_until` appends to `buf` as it
/// reads, so it is cancel safe in `select!` (futures-lite's `read_line`
/// keeps partial input inside its future: not cancel safe).
async fn read_line<R: AsyncBufReadExt + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    Ok(r.read_until(b'\n', buf).await? > 0)
}

// ---------------------------------------------------------------------------
// 1. A chat server: `broadcast` fan-out, `select!` over a read and a receive.
// ---------------------------------------------------------------------------

async fn chat_connection(
    stream: TcpStream,
    addr: SocketAddr,
    tx: broadcast::Sender<(SocketAddr, String)>,
) -> io::Result<()> {
    let mut rx = tx.subscribe();
    let (read, mut write) = stream.into_split();
    write.write_all(b"welcome\n").await?;
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        runtime::select! {
            n = read.read_until(b'\n', &mut line) => {
                if n? == 0 {
                    return Ok(()); // the client left
                }
                if line.ends_with(b"\n") {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    let _ = tx.send((addr, text));
                    line.clear();
                }
            }
            msg = rx.recv() => match msg {
                Ok((from, text)) if from != addr => write.write_all(text.as_bytes()).await?,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    write.write_all(format!("*** you missed {n} messages\n").as_bytes()).await?
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
        }
    }
}

#[test]
fn port_chat_server() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        const CLIENTS: usize = 3;
        let server = runtime::spawn(async move {
            let (tx, _) = broadcast::channel(64);
            let mut connections = JoinSet::new();
            for _ in 0..CLIENTS {
                let (stream, peer) = listener.accept().await?;
                connections.spawn_local(chat_connection(stream, peer, tx.clone()));
            }
            while let Some(res) = connections.join_next().await {
                res.expect("connection task")?;
            }
            io::Result::Ok(())
        });

        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let stream = TcpStream::connect(addr).await?;
            let (read, write) = stream.into_split();
            clients.push((BufReader::new(read), write));
        }
        // Everyone is subscribed once welcomed: only then does anyone speak.
        let mut buf = Vec::new();
        for (read, _) in clients.iter_mut() {
            assert!(read_line(read, &mut buf).await?);
            assert_eq!(buf, b"welcome\n");
        }
        for (i, (_, write)) in clients.iter_mut().enumerate() {
            write
                .write_all(format!("hello from {i}\n").as_bytes())
                .await?;
        }
        let mut heard = Vec::new();
        for (read, _) in clients.iter_mut() {
            let mut got = BTreeSet::new();
            let mut buf = Vec::new();
            for _ in 0..CLIENTS - 1 {
                assert!(read_line(read, &mut buf).await?);
                got.insert(String::from_utf8(buf.clone()).unwrap());
            }
            heard.push(got);
        }
        for (i, got) in heard.iter().enumerate() {
            let expected: BTreeSet<_> = (0..CLIENTS)
                .filter(|&j| j != i)
                .map(|j| format!("hello from {j}\n"))
                .collect();
            assert_eq!(got, &expected, "client {i}");
        }
        drop(clients);
        server.await.expect("server task")
    });
}

// ---------------------------------------------------------------------------
// 2. A `JoinSet` fan-out: ask every replica, keep the first answer, abort
//    the rest.
// ---------------------------------------------------------------------------

/// A replica answers `name\n` after `delay`.
async fn replica(name: &'static str, delay: Duration) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    runtime::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            runtime::spawn(async move {
                sleep(delay).await;
                let _ = stream.write_all(format!("{name}\n").as_bytes()).await;
            });
        }
    });
    Ok(addr)
}

async fn ask(addr: SocketAddr) -> io::Result<String> {
    let stream = TcpStream::connect(addr).await?;
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    read_line(&mut reader, &mut buf).await?;
    Ok(String::from_utf8(buf).unwrap().trim_end().to_string())
}

#[test]
fn port_join_set_fan_out_with_abort() {
    run(async {
        let replicas = [
            replica("slow", Duration::from_secs(3600)).await?,
            replica("fast", Duration::ZERO).await?,
            replica("slower", Duration::from_secs(3600)).await?,
        ];
        let mut set = JoinSet::new();
        for addr in replicas {
            set.spawn(ask(addr));
        }
        let first = set.join_next().await.unwrap().expect("not aborted")?;
        assert_eq!(first, "fast");
        set.abort_all();
        let mut aborted = 0;
        while let Some(res) = set.join_next().await {
            assert!(res.unwrap_err().is_cancelled());
            aborted += 1;
        }
        assert_eq!(aborted, 2);
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// 3. A TCP proxy with `copy_bidirectional`.
// ---------------------------------------------------------------------------

#[test]
fn port_copy_bidirectional_proxy() {
    run(async {
        // Upstream: an echo server.
        let upstream = TcpListener::bind("127.0.0.1:0").await?;
        let upstream_addr = upstream.local_addr()?;
        runtime::spawn(async move {
            while let Ok((stream, _)) = upstream.accept().await {
                runtime::spawn(async move {
                    let (mut r, mut w) = stream.into_split();
                    let _ = runtime::io::copy(&mut r, &mut w).await;
                    let _ = w.close().await;
                });
            }
        });
        // The proxy.
        let proxy = TcpListener::bind("127.0.0.1:0").await?;
        let proxy_addr = proxy.local_addr()?;
        let relayed = Arc::new(AtomicUsize::new(0));
        {
            let relayed = relayed.clone();
            runtime::spawn(async move {
                while let Ok((mut inbound, _)) = proxy.accept().await {
                    let relayed = relayed.clone();
                    runtime::spawn(async move {
                        let mut outbound = TcpStream::connect(upstream_addr).await?;
                        let (up, down) = copy_bidirectional(&mut inbound, &mut outbound).await?;
                        relayed.fetch_add((up + down) as usize, Ordering::SeqCst);
                        io::Result::Ok(())
                    });
                }
            });
        }
        // Clients, concurrently.
        let mut clients = JoinSet::new();
        for id in 0..4u8 {
            clients.spawn(async move {
                let mut stream = TcpStream::connect(proxy_addr).await?;
                let sent = vec![id; 100_000];
                let (mut r, mut w) = stream_halves(&mut stream);
                let (wrote, echoed) = runtime::join!(
                    async {
                        w.write_all(&sent).await?;
                        w.close().await
                    },
                    async {
                        let mut echoed = Vec::new();
                        r.read_to_end(&mut echoed).await?;
                        io::Result::Ok(echoed)
                    },
                );
                wrote?;
                assert!(echoed? == sent, "client {id} got its own bytes back");
                io::Result::Ok(())
            });
        }
        while let Some(res) = clients.join_next().await {
            res.unwrap()?;
        }
        // Each relay counts once both directions closed.
        while relayed.load(Ordering::SeqCst) < 4 * 200_000 {
            sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(relayed.load(Ordering::SeqCst), 4 * 200_000);
        Ok(())
    });
}

/// Borrowed halves of one stream, for two futures of one task. Written
/// with the type's name: with `AsyncBufReadExt` in scope, `stream.split()`
/// would pick that trait's `split(byte)`.
fn stream_halves(
    stream: &mut TcpStream,
) -> (
    runtime::net::tcp::ReadHalf<'_>,
    runtime::net::tcp::WriteHalf<'_>,
) {
    TcpStream::split(stream)
}

// ---------------------------------------------------------------------------
// 4. A `select!` loop with `timeout` and `interval`: a client that sends
//    heartbeats while it waits for the server's word.
// ---------------------------------------------------------------------------

#[test]
fn port_select_loop_with_timeout_and_interval() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // The server waits for three heartbeats, then says bye. A second
        // connection gets no answer at all.
        runtime::spawn(async move {
            let (stream, _) = listener.accept().await?;
            let (read, mut write) = stream.into_split();
            let mut read = BufReader::new(read);
            let mut buf = Vec::new();
            for _ in 0..3 {
                assert!(read_line(&mut read, &mut buf).await?);
                assert_eq!(buf, b"ping\n");
            }
            write.write_all(b"bye\n").await?;
            let (_silent, _) = listener.accept().await?;
            std::future::pending::<()>().await;
            io::Result::Ok(())
        });

        let stream = TcpStream::connect(addr).await?;
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let mut heartbeat = interval(Duration::from_millis(5));
        let mut line = Vec::new();
        let mut pings = 0;
        loop {
            runtime::select! {
                _ = heartbeat.tick() => {
                    write.write_all(b"ping\n").await?;
                    pings += 1;
                }
                n = read.read_until(b'\n', &mut line) => {
                    assert!(n? > 0, "the server closed without a word");
                    if line.ends_with(b"\n") {
                        break;
                    }
                }
            }
        }
        assert_eq!(line, b"bye\n");
        assert!(pings >= 3, "bye comes only after three heartbeats");

        // `timeout` on a read the server never answers.
        let mut silent = TcpStream::connect(addr).await?;
        let mut byte = [0u8; 1];
        let res = timeout(Duration::from_millis(20), silent.read(&mut byte)).await;
        assert!(res.is_err(), "the read timed out");
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// 5. Graceful shutdown driven by `watch`: stop accepting, let connections
//    finish their reply, wait for them.
// ---------------------------------------------------------------------------

async fn serve_until_shutdown(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<usize> {
    let mut connections = JoinSet::new();
    loop {
        runtime::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let mut shutdown = shutdown.clone();
                connections.spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut read = BufReader::new(read);
                    let mut buf = Vec::new();
                    loop {
                        runtime::select! {
                            more = read_line(&mut read, &mut buf) => {
                                if !more? {
                                    return io::Result::Ok(());
                                }
                                // A request in progress is answered in full.
                                sleep(Duration::from_millis(5)).await;
                                write.write_all(b"done\n").await?;
                            }
                            _ = shutdown.changed() => {
                                write.write_all(b"shutting down\n").await?;
                                return Ok(());
                            }
                        }
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener); // stop accepting at once
    let mut finished = 0;
    while let Some(res) = connections.join_next().await {
        res.expect("connection task")?;
        finished += 1;
    }
    Ok(finished)
}

#[test]
fn port_watch_graceful_shutdown() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let server = runtime::spawn(serve_until_shutdown(listener, shutdown_rx));

        let mut busy = BufReader::new(TcpStream::connect(addr).await?);
        let mut idle = BufReader::new(TcpStream::connect(addr).await?);
        busy.get_mut().write_all(b"work\n").await?;
        let mut buf = Vec::new();
        assert!(read_line(&mut busy, &mut buf).await?);
        assert_eq!(buf, b"done\n");

        shutdown_tx.send(true).unwrap();
        let finished = server.await.unwrap()?;
        assert_eq!(finished, 2, "every connection task ended");
        assert!(read_line(&mut idle, &mut buf).await?);
        assert_eq!(buf, b"shutting down\n");
        assert!(!read_line(&mut idle, &mut buf).await?, "then closed");
        let refused = TcpStream::connect(addr).await;
        assert!(refused.is_err(), "no longer accepting");
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// 6. A crawler bounded by a `Semaphore`, against local servers.
// ---------------------------------------------------------------------------

/// A site: `GET <page>\n` answers the page's links, one per line, then
/// closes. Counts how many requests it serves at once.
async fn site(
    pages: HashMap<String, Vec<String>>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let pages = Arc::new(pages);
    runtime::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (pages, in_flight, peak) = (pages.clone(), in_flight.clone(), peak.clone());
            runtime::spawn(async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                let mut buf = Vec::new();
                if read_line(&mut read, &mut buf).await.unwrap_or(false) {
                    let page = String::from_utf8_lossy(&buf[4..buf.len() - 1]).into_owned();
                    sleep(Duration::from_millis(2)).await; // "slow" page
                    for link in pages.get(&page).into_iter().flatten() {
                        let _ = write.write_all(format!("{link}\n").as_bytes()).await;
                    }
                }
                in_flight.fetch_sub(1, Ordering::SeqCst);
                let _ = write.close().await;
            });
        }
    });
    Ok(addr)
}

async fn fetch_links(addr: SocketAddr, page: &str) -> io::Result<Vec<String>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(format!("GET {page}\n").as_bytes()).await?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await?;
    Ok(body.lines().map(str::to_string).collect())
}

#[test]
fn port_semaphore_bounded_crawler() {
    const LIMIT: usize = 2;
    run(async {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        // Two sites; a link is "site/page".
        let mut sites = Vec::new();
        for s in 0..2 {
            let mut pages = HashMap::new();
            for p in 0..6 {
                let links = vec![
                    format!("{}/{}", (s + 1) % 2, (p + 1) % 6),
                    format!("{s}/{}", (p * 2) % 6),
                ];
                pages.insert(format!("{p}"), links);
            }
            sites.push(site(pages, in_flight.clone(), peak.clone()).await?);
        }

        let limit = Arc::new(Semaphore::new(LIMIT));
        let seen = Arc::new(Mutex::new(BTreeSet::from(["0/0".to_string()])));
        let mut crawl = JoinSet::new();
        let mut queue = vec!["0/0".to_string()];
        let mut fetched = 0;
        loop {
            for link in queue.drain(..) {
                let permit = limit.clone().acquire_owned().await.unwrap();
                let (site_index, page) = link.split_once('/').unwrap();
                let addr = sites[site_index.parse::<usize>().unwrap()];
                let page = page.to_string();
                crawl.spawn(async move {
                    let links = fetch_links(addr, &page).await;
                    drop(permit);
                    links
                });
            }
            let Some(res) = crawl.join_next().await else {
                break;
            };
            fetched += 1;
            for link in res.unwrap()? {
                if seen.lock().await.insert(link.clone()) {
                    queue.push(link);
                }
            }
        }
        assert_eq!(fetched, 12, "every page of both sites, once");
        assert_eq!(seen.lock().await.len(), 12);
        let peak = peak.load(Ordering::SeqCst);
        assert!(
            (1..=LIMIT).contains(&peak),
            "at most {LIMIT} requests at once, saw {peak}"
        );
        Ok(())
    });
}
