//! The raw socket calls that neither std nor socket2 offer.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::SockAddr;

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

/// Asks a TCP socket to report, with every `recvmsg`, how many bytes are
/// left to read (`TCP_INQ`, Linux 4.18+). `false` where unsupported.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn enable_tcp_inq(sock: &impl AsRawFd) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a live `c_int` and we pass its exact size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_TCP,
            libc::TCP_INQ,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn enable_tcp_inq(_sock: &impl AsRawFd) -> bool {
    false
}

/// `recvmsg(2)` into up to two buffers on a socket with `TCP_INQ` on.
/// Returns the bytes read and whether the socket is now drained: nothing
/// left to read *and* no end of stream pending (the kernel reports a pending
/// FIN as a non-zero count, so a reader never misses it).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn recv_inq(
    sock: &impl AsRawFd,
    front: &mut [u8],
    back: &mut [u8],
) -> io::Result<(usize, bool)> {
    let mut iov = [
        libc::iovec {
            iov_base: front.as_mut_ptr().cast(),
            iov_len: front.len(),
        },
        libc::iovec {
            iov_base: back.as_mut_ptr().cast(),
            iov_len: back.len(),
        },
    ];
    // Room for one `cmsghdr` carrying a `c_int`, aligned as a `cmsghdr`.
    let mut control = [0u64; 4];
    // SAFETY: `msghdr` is plain data for which all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = if back.is_empty() { 1 } else { 2 };
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` refers to a live local or to the
    // mutably borrowed buffers, with their exact lengths; the kernel writes
    // within those bounds only.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut drained = false;
    // SAFETY: `msg` was filled by a successful `recvmsg`: its control
    // pointer and length describe `control`, which the CMSG macros walk
    // without leaving it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_TCP && (*cmsg).cmsg_type == libc::TCP_CM_INQ {
                let inq = libc::CMSG_DATA(cmsg).cast::<libc::c_int>().read_unaligned();
                drained = inq == 0;
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n as usize, drained))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn recv_inq(
    sock: &impl AsRawFd,
    front: &mut [u8],
    back: &mut [u8],
) -> io::Result<(usize, bool)> {
    // Never reached: `enable_tcp_inq` is false here.
    let _ = (sock.as_raw_fd(), front, back);
    Err(io::ErrorKind::Unsupported.into())
}
