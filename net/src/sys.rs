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
    let flags = libc::MSG_TRUNC | if peek { libc::MSG_PEEK } else { 0 };
    let fd = sock.as_raw_fd();
    // SAFETY: `try_init` passes a zeroed `sockaddr_storage` and its size;
    // `recvfrom` writes at most that many bytes of address into it, and at
    // most `buf.len()` bytes into `buf`, which we borrow mutably.
    let (len, addr) = unsafe {
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
    }?;
    let addr = addr
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP sender address"))?;
    Ok((len, addr))
}
