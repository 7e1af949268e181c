//! Signals are delivered through the reactor. This file is its own test
//! binary, so raising SIGTERM and SIGINT here touches no other test.

use runtime::signal::{Signal, SignalKind};
use runtime::Runtime;

fn raise(signum: libc::c_int) {
    // SAFETY: `raise` has no memory-safety preconditions; a handler for
    // `signum` is installed by the caller first.
    assert_eq!(unsafe { libc::raise(signum) }, 0);
}

#[test]
fn sigterm_sent_to_self_is_delivered() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        let mut term = Signal::new(SignalKind::terminate()).unwrap();
        assert_eq!(term.kind(), SignalKind::terminate());
        raise(libc::SIGTERM);
        term.recv().await.unwrap();
        // A second delivery on the same listener.
        raise(libc::SIGTERM);
        term.recv().await.unwrap();
    });
}

#[test]
fn sigint_is_delivered_to_a_listener_on_another_core() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        // Listen on core 1, raise from core 0.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let waiter = runtime::spawn_on(1, move || async move {
            let mut sig = Signal::new(SignalKind::interrupt()).unwrap();
            ready_tx.send(()).unwrap();
            sig.recv().await
        });
        runtime::spawn_blocking(move || ready_rx.recv().unwrap())
            .await
            .unwrap();
        raise(libc::SIGINT);
        waiter.await.unwrap().unwrap();
    });
}

#[test]
fn uncatchable_signal_is_an_error() {
    let rt = Runtime::builder().cores(1).build().unwrap();
    rt.block_on(async {
        for signum in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV] {
            let err = Signal::new(SignalKind::from_raw(signum)).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        }
    });
}
