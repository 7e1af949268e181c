//! Accepting on a Unix socket when the process is out of file descriptors
//! (`EMFILE`). Its own test binary: it lowers the process's fd limit.

mod util;

use std::time::Duration;

use runtime_executor::{time, Runtime};
use runtime_net::UnixListener;

#[test]
fn unix_accept_survives_fd_exhaustion() {
    let dir = util::temp_dir("unix-emfile");
    let path = dir.join("server.sock");
    let rt = Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        let client = std::os::unix::net::UnixStream::connect(&path).unwrap();

        let (saved, hogs) = util::exhaust_fds();
        // accept fails with EMFILE now: it must back off, not spin or fail.
        let res = time::timeout(Duration::from_millis(250), listener.accept()).await;
        assert!(res.is_err(), "accept returned while no fd was free");
        drop(hogs);
        let (conn, _) = time::timeout(Duration::from_secs(3), listener.accept())
            .await
            .expect("accept resumed after fds were freed")
            .unwrap();
        assert_eq!(
            conn.peer_addr().unwrap().as_pathname(),
            client.local_addr().unwrap().as_pathname()
        );
        drop(conn);
        util::restore_fd_limit(&saved);
    });
}
