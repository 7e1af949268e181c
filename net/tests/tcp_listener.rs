//! `TcpListener` over real sockets on 127.0.0.1.

use std::time::Duration;

use futures_lite::{AsyncReadExt, StreamExt};
use runtime_executor::{time, Runtime};
use runtime_net::{TcpListener, TcpStream};

#[test]
fn connections_spread_over_reuseport_listeners() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let total = 200;
    let client = std::thread::spawn(move || {
        // Wait until both cores listen.
        std::thread::sleep(Duration::from_millis(100));
        for i in 0..total {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            std::io::Write::write_all(&mut s, &[i as u8]).unwrap();
            let mut b = [0u8; 1];
            std::io::Read::read_exact(&mut s, &mut b).unwrap();
            assert_eq!(b[0], i as u8);
        }
    });
    let per_core = rt.run_on_all_cores(move || async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let mut served = 0usize;
        let mut incoming = listener.incoming();
        while let Ok(Some(conn)) =
            time::timeout(Duration::from_millis(1_000), incoming.next()).await
        {
            let mut conn = conn.unwrap();
            let mut b = [0u8; 1];
            conn.read_exact(&mut b).await.unwrap();
            conn.write_all(&b).await.unwrap();
            served += 1;
        }
        served
    });
    client.join().unwrap();
    assert_eq!(per_core.iter().sum::<usize>(), total);
    assert!(
        per_core.iter().all(|&n| n > 0),
        "the kernel spread nothing: {per_core:?}"
    );
}

#[test]
fn dropped_accept_future_loses_no_connection() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // An accept that is cancelled before any connection arrives.
        let res = time::timeout(Duration::from_millis(10), listener.accept()).await;
        assert!(res.is_err());
        let client = runtime_executor::spawn(async move { TcpStream::connect(addr).await });
        let (_conn, peer) = listener.accept().await.unwrap();
        let client = client.await.unwrap().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
    });
}
