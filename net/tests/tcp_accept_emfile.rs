//! Accepting when the process is out of file descriptors (`EMFILE`). Its
//! own test binary: it lowers the process's fd limit.

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

        let mut saved = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut saved) },
            0
        );
        let low = libc::rlimit {
            rlim_cur: 256.min(saved.rlim_max),
            rlim_max: saved.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
        let mut hogs = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            hogs.push(f);
            assert!(hogs.len() < 100_000, "the fd limit did not apply");
        }
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
        // SAFETY: as above.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &saved) }, 0);
    });
}
