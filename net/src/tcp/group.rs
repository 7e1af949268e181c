//! The per-core listeners of one bind.
//!
//! A thread-per-core server binds one listener per core to the same address
//! with `SO_REUSEPORT`. Were every one of them bound with `SO_REUSEPORT`
//! from the start, a second bind of that address (a second copy of the
//! server in this program, or another program of the same user) would join
//! them silently and take a share of the traffic. So the first listener of
//! an address binds without `SO_REUSEPORT`, which the kernel refuses with
//! `AddrInUse` if anything holds the address, and turns the option on only
//! after the bind, before `listen`: the other cores' listeners can then
//! join it, and nothing needs a probe that could race. This registry
//! remembers, per runtime, which cores have joined which address, so that
//! a second bind on a core that already listens there is refused rather
//! than joined.

use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use runtime_executor::Handle;

use super::listener::TcpListenerBuilder;
use super::stream::socket_addr;
use socket2::Socket;

/// The listeners of one bind on the cores of one runtime.
struct Group {
    id: u64,
    runtime: u64,
    /// What the first bind asked for: with port 0, the later cores' binds
    /// of port 0 join this group and so share its port.
    requested: SocketAddr,
    bound: SocketAddr,
    /// The cores that have a listener in this group.
    cores: Vec<usize>,
}

struct Groups {
    next_id: u64,
    groups: Vec<Group>,
}

static GROUPS: Mutex<Groups> = Mutex::new(Groups {
    next_id: 1,
    groups: Vec::new(),
});

fn groups() -> MutexGuard<'static, Groups> {
    // Every critical section leaves the registry consistent.
    GROUPS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A listener's place in its group; leaving it (on drop) lets that core
/// bind the address again.
#[derive(Debug)]
pub(crate) struct Membership {
    group: u64,
    core: usize,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut groups = groups();
        if let Some(index) = groups.groups.iter().position(|g| g.id == self.group) {
            let group = &mut groups.groups[index];
            group.cores.retain(|&core| core != self.core);
            if group.cores.is_empty() {
                groups.groups.swap_remove(index);
            }
        }
    }
}

/// Binds and listens on `addr` for the current core: joins the listeners
/// that other cores of this runtime bound for the same address (port 0
/// included), or binds it anew, refusing an address already in use.
///
/// # Errors
///
/// `AddrInUse` if the address is bound (by this core, by another runtime,
/// or by another program) other than by a listener of this runtime that
/// this core may join; otherwise as `bind(2)`/`listen(2)`.
pub(crate) fn bind(
    builder: &TcpListenerBuilder,
    addr: SocketAddr,
    call: &str,
) -> io::Result<(Socket, Option<Membership>)> {
    let (runtime, core) = match (Handle::try_current(), runtime_executor::try_current_core()) {
        (Some(handle), Some(core)) => (handle.id(), core),
        _ => return Err(crate::outside_runtime(call)),
    };
    let mut groups = groups();
    if builder.reuses_port() {
        let joinable = groups.groups.iter_mut().find(|group| {
            group.runtime == runtime
                && (group.bound == addr || (addr.port() == 0 && group.requested == addr))
                && !group.cores.contains(&core)
        });
        if let Some(group) = joinable {
            let socket = builder.join_socket(group.bound)?;
            group.cores.push(core);
            let membership = Membership {
                group: group.id,
                core,
            };
            return Ok((socket, Some(membership)));
        }
    }
    let socket = builder.bind_socket(addr).map_err(|err| in_use(err, addr))?;
    if !builder.reuses_port() {
        return Ok((socket, None));
    }
    let id = groups.next_id;
    groups.next_id += 1;
    groups.groups.push(Group {
        id,
        runtime,
        requested: addr,
        bound: socket_addr(socket.local_addr()?)?,
        cores: vec![core],
    });
    Ok((socket, Some(Membership { group: id, core })))
}

/// Says which address is in use, keeping the kind.
pub(crate) fn in_use(err: io::Error, addr: SocketAddr) -> io::Error {
    if err.kind() == io::ErrorKind::AddrInUse {
        io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("address {addr} is already in use"),
        )
    } else {
        err
    }
}
