//! Accepting when the process is out of file descriptors (`EMFILE`). Its
//! own test binary: it lowers the process's fd limit.

mod util;

use std::time::Duration;

use runtime_executor::{time, Runtime};
use runtime_net::TcpListener;

#[test]
fn accept_survives_fd_exhaustion() {
    // Lower this process's fd limit, fill it, and check that accept backs off
    // and then serves the pending connection once fds are free again.
    let rt = Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();

        let (saved, hogs) = util::exhaust_fds();
        // Now accept fails with EMFILE; it must back off, not spin or error.
        let res = time::timeout(Duration::from_millis(250), listener.accept()).await;
        assert!(res.is_err(), "accept returned while no fd was free");
        drop(hogs);
        let (conn, peer) = time::timeout(Duration::from_secs(3), listener.accept())
            .await
            .expect("accept resumed after fds were freed")
            .unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        drop(conn);
        util::restore_fd_limit(&saved);
    });
}
