//! Accepting when the process is out of file descriptors (`EMFILE`). Its
//! own test binary: it lowers the process's fd limit.

mod util;

use runtime_executor::Runtime;
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

        let (_conn, peer) = util::accept_through_fd_exhaustion(|| listener.accept()).await;
        assert_eq!(peer, client.local_addr().unwrap());
    });
}
