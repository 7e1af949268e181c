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

/// accept(2) of a non-blocking, close-on-exec connection: `accept4` with
/// both flags where there is one (one call, where `accept` + `fcntl` took
/// three), else `accept` and the flags after.
pub(crate) fn accept(listener: &Socket) -> io::Result<(Socket, SockAddr)> {
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly",
        target_os = "illumos"
    ))]
    {
        use std::os::fd::FromRawFd;
        // SAFETY: `try_init` hands a zeroed storage and its length, which
        // accept4 fills in (within the length) for the address it returns.
        let (fd, addr) = unsafe {
            SockAddr::try_init(|storage, len| {
                let fd = libc::accept4(
                    listener.as_raw_fd(),
                    storage.cast(),
                    len,
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                );
                if fd < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(fd)
                }
            })?
        };
        // SAFETY: accept4 returned a new descriptor that nothing else owns.
        Ok((unsafe { Socket::from_raw_fd(fd) }, addr))
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly",
        target_os = "illumos"
    )))]
    {
        let (socket, addr) = listener.accept()?;
        socket.set_nonblocking(true)?;
        Ok((socket, addr))
    }
}

/// `recv(2)` into `buf`: the engine's read, without the layers of
/// `std::io::Read` over socket2 (it runs once per message).
#[inline]
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
