//! Platform code: the few raw calls the executor makes.

use std::io;

/// Calls a libc function and turns a `-1` return into the thread's `errno`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        #[allow(unused_unsafe)]
        // SAFETY: every use passes arguments that satisfy the libc function's contract.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

/// The monotonic clock in nanoseconds: `CLOCK_MONOTONIC`, which is what
/// `Instant` reads on Linux. See `TimerDriver::now_tick`.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
pub(crate) fn monotonic_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live local that the call only writes. It cannot
    // fail for this clock and a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// The CPUs this process may run on, in ascending order (respects `taskset`).
#[cfg(target_os = "linux")]
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: `cpu_set_t` is a plain bit array; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    syscall!(sched_getaffinity(0, size, &mut set))?;
    let cpus = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below `CPU_SETSIZE`, the set's size in bits.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    Ok(cpus)
}

/// Pins the calling thread to one CPU.
#[cfg(target_os = "linux")]
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<()> {
    set_current_thread_cpus(&[cpu])
}

/// Restores the calling thread's affinity to a set of CPUs.
#[cfg(target_os = "linux")]
pub(crate) fn set_current_thread_cpus(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: as above, an all-zero `cpu_set_t` is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("CPU {cpu} is out of range"),
            ));
        }
        // SAFETY: `cpu` is below `CPU_SETSIZE`, checked above.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    let size = std::mem::size_of::<libc::cpu_set_t>();
    syscall!(sched_setaffinity(0, size, &set))?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok((0..n).collect())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn pin_current_thread(_cpu: usize) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "pinning threads to cores is only supported on Linux",
    ))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn set_current_thread_cpus(_cpus: &[usize]) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn pin_and_restore() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        let handle = std::thread::spawn(move || {
            pin_current_thread(cpus[0]).unwrap();
            assert_eq!(allowed_cpus().unwrap(), vec![cpus[0]]);
            set_current_thread_cpus(&cpus).unwrap();
            assert_eq!(allowed_cpus().unwrap(), cpus);
        });
        handle.join().unwrap();
    }
}
