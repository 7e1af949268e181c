//! The raw socket calls that neither std nor socket2 offer.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::{SockAddr, Socket};

/// `recvfrom(2)` with `MSG_TRUNC`: copies at most `buf.len()` bytes of the
/// next datagram and returns its *full* length (larger than `buf` when it was
/// truncated) and its sender. With `peek`, the datagram stays queued.
pub(crate) fn recv_from_trunc(
    sock: &impl AsRawFd,
    buf: &mut [u8],
    peek: bool,
) -> io::Result<(usize, SocketAddr)> {
    let (len, addr) = recv_from_trunc_raw(sock, buf, peek)?;
    let addr = addr
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP sender address"))?;
    Ok((len, addr))
}

/// [`recv_from_trunc`] for a Unix datagram socket: the sender may be a path,
/// an abstract name or unnamed.
pub(crate) fn recv_from_trunc_unix(
    sock: &impl AsRawFd,
    buf: &mut [u8],
    peek: bool,
) -> io::Result<(usize, std::os::unix::net::SocketAddr)> {
    let (len, addr) = recv_from_trunc_raw(sock, buf, peek)?;
    Ok((len, unix_socket_addr(&addr)?))
}

fn recv_from_trunc_raw(
    sock: &impl AsRawFd,
    buf: &mut [u8],
    peek: bool,
) -> io::Result<(usize, SockAddr)> {
    let flags = libc::MSG_TRUNC | if peek { libc::MSG_PEEK } else { 0 };
    let fd = sock.as_raw_fd();
    // SAFETY: `try_init` passes a zeroed `sockaddr_storage` and its size;
    // `recvfrom` writes at most that many bytes of address into it, and at
    // most `buf.len()` bytes into `buf`, which we borrow mutably.
    unsafe {
        SockAddr::try_init(|storage, addr_len| {
            let n = libc::recvfrom(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags,
                storage.cast(),
                addr_len,
            );
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        })
    }
}

/// Converts a Unix socket address, including the abstract and unnamed ones
/// that `SockAddr::as_unix` leaves out.
pub(crate) fn unix_socket_addr(addr: &SockAddr) -> io::Result<std::os::unix::net::SocketAddr> {
    use std::os::unix::net::SocketAddr;
    // Linux reports an unnamed sender with a zero-length address.
    if addr.len() == 0 || addr.is_unnamed() {
        // std has no constructor for it; an empty path is how std (and mio)
        // spell the unnamed address.
        return SocketAddr::from_pathname("");
    }
    if let Some(path) = addr.as_pathname() {
        return SocketAddr::from_pathname(path);
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(name) = addr.as_abstract_namespace() {
        use std::os::linux::net::SocketAddrExt;
        return SocketAddr::from_abstract_name(name);
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "not a Unix socket address",
    ))
}

/// accept(2) of a non-blocking, close-on-exec connection: socket2's
/// `accept4` with both flags where there is one (one call, where `accept` +
/// `fcntl` took three), else `accept` (close-on-exec) and the flag after.
pub(crate) fn accept(listener: &Socket) -> io::Result<(Socket, SockAddr)> {
    #[cfg(any(
        target_os = "android",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "fuchsia",
        target_os = "illumos",
        target_os = "linux",
        target_os = "netbsd",
        target_os = "openbsd",
    ))]
    return listener.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    #[allow(unreachable_code)]
    {
        let (socket, addr) = listener.accept()?;
        socket.set_nonblocking(true)?;
        Ok((socket, addr))
    }
}

/// `recv(2)` into `buf`: the engine's read, without the layers of
/// `std::io::Read` over socket2 (it runs once per message). Always
/// inlined, as [`send`] is.
#[inline(always)]
pub(crate) fn recv(sock: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`,
    // which we borrow mutably for the call.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `send(2)` of `buf` with `flags`: the engine's write (see [`recv`]).
/// Always inlined, as `recv` is by its one caller: a call per message.
#[inline(always)]
pub(crate) fn send(sock: &impl AsRawFd, buf: &[u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`, which
    // we borrow for the call.
    let n = unsafe { libc::send(sock.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Asks the C allocator to hand the free pages it keeps back to the OS
/// (`malloc_trim(3)`: glibc releases whole free pages anywhere in its heaps,
/// not only at the top). Ring storage freed by an idle sweep sits between
/// live per-connection state, where glibc never returns it by itself.
/// Another allocator (musl's, or a `#[global_allocator]` such as jemalloc)
/// purges on its own schedule: there this does nothing.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes glibc's arena locks itself and may be
    // called from any thread at any time; it only releases free pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Type};
    use std::os::fd::AsRawFd;

    #[test]
    fn an_accepted_socket_is_non_blocking_and_close_on_exec() {
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        listener
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
        listener.listen(1).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let _peer = std::net::TcpStream::connect(addr).unwrap();
        let (socket, _) = accept(&listener).unwrap();
        assert!(socket.nonblocking().unwrap());
        // SAFETY: F_GETFD on a descriptor this test owns reads its flags.
        let flags = unsafe { libc::fcntl(socket.as_raw_fd(), libc::F_GETFD) };
        assert!(
            flags >= 0 && flags & libc::FD_CLOEXEC != 0,
            "flags {flags:#x}"
        );
    }
}
