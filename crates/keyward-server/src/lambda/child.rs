//! Ties a function's process to the server's life. Dropping a worker kills its process,
//! but a server killed with `SIGKILL` drops nothing: on Linux the kernel then sends the
//! process `SIGKILL` itself (`PR_SET_PDEATHSIG`), so no function outlives its server.
//!
//! The death signal follows the *thread* that forked the child. Processes are spawned from
//! async code, on the runtime's worker threads, which live as long as the runtime (the
//! server never uses `block_in_place`, which could retire one); when the runtime ends,
//! the server is ending and its workers kill their processes anyway.
#![allow(unsafe_code)]

use tokio::process::Command;

/// Arranges for the process `command` starts to be killed when the server exits.
#[cfg(target_os = "linux")]
pub(super) fn die_with_server(command: &mut Command) {
    use rustix::process::{getpid, getppid, set_parent_process_death_signal, Signal};
    let server = getpid();
    // SAFETY: `pre_exec` closures run in the child between fork and exec, where only
    // async-signal-safe work is sound, since other threads' locks and allocator state were
    // copied mid-use. This closure makes two raw system calls through rustix
    // (`prctl(PR_SET_PDEATHSIG, SIGKILL)` and `getppid`), allocates nothing, takes no
    // lock, and reads only `server`, a `Copy` pid captured by value. An error is built
    // from an errno (`std::io::Error::from_raw_os_error` allocates nothing).
    unsafe {
        command.pre_exec(move || {
            set_parent_process_death_signal(Some(Signal::KILL))
                .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))?;
            // The server may have died before the signal was armed: then exit now.
            if getppid() != Some(server) {
                return Err(std::io::Error::from_raw_os_error(
                    rustix::io::Errno::SRCH.raw_os_error(),
                ));
            }
            Ok(())
        });
    }
}

/// Elsewhere processes end with their workers only.
#[cfg(not(target_os = "linux"))]
pub(super) fn die_with_server(_command: &mut Command) {}
