//! Socket files on disk: clearing a stale one before binding, and removing
//! our own when the socket that bound it goes away.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A Unix socket's name: a path on disk, or a Linux abstract name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UnixName {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

/// The socket file a socket bound, removed on drop if it is still the file we
/// bound (same device and inode, still a socket): never something that
/// replaced it.
pub(crate) struct SocketFile {
    path: PathBuf,
    /// `(st_dev, st_ino)` of our file; `None` once kept, or if it could not
    /// be read after binding.
    id: Option<(u64, u64)>,
}

impl SocketFile {
    /// Removes a stale socket file at `path`, then binds there with `bind`.
    ///
    /// A path that is not a socket is never removed: `AlreadyExists`. A
    /// socket some live socket is bound to is left alone: `AddrInUse`.
    pub(crate) fn bind<'a, S>(
        path: &'a Path,
        bind: impl FnOnce(&'a Path) -> io::Result<S>,
    ) -> io::Result<(S, SocketFile)> {
        remove_stale_socket(path)?;
        let socket = bind(path)?;
        let id = std::fs::symlink_metadata(path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        let file = SocketFile {
            path: path.to_owned(),
            id,
        };
        Ok((socket, file))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves the file on disk: its socket lives on elsewhere.
    pub(crate) fn keep(mut self) {
        self.id = None;
    }
}

/// Removes `path` if it is a socket file no live socket is bound to.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; not removing it",
                path.display()
            ),
        ));
    }
    // Probe with a datagram socket: its `connect` sends nothing, never blocks
    // and leaves no connection behind for a live listener to accept. A live
    // socket of the other type answers `EPROTOTYPE`, a datagram socket
    // connected elsewhere `EPERM`; only a file nobody is bound to answers
    // `ECONNREFUSED`.
    let probe = std::os::unix::net::UnixDatagram::unbound()?;
    match probe.connect(path) {
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            match std::fs::remove_file(path) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
                _ => Ok(()),
            }
        }
        Err(err) if !matches!(err.raw_os_error(), Some(libc::EPROTOTYPE | libc::EPERM)) => Err(err),
        _ => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is in use by a live socket", path.display()),
        )),
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == id);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
