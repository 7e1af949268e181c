//! Accepting on a Unix socket when the process is out of file descriptors
//! (`EMFILE`). Its own test binary: it lowers the process's fd limit.

mod util;

use runtime_executor::Runtime;
use runtime_net::UnixListener;

#[test]
fn unix_accept_survives_fd_exhaustion() {
    let dir = util::temp_dir("unix-emfile");
    let path = dir.join("server.sock");
    let rt = Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        let client = std::os::unix::net::UnixStream::connect(&path).unwrap();

        let (conn, _) = util::accept_through_fd_exhaustion(|| listener.accept()).await;
        assert_eq!(
            conn.peer_addr().unwrap().as_pathname(),
            client.local_addr().unwrap().as_pathname()
        );
    });
}
