//! The socket-activated greeter: answers every connection with one line
//! naming the receiver, this container and its UUID, on the listening
//! socket systemd passed (`LISTEN_FDS`, the first at fd 3; runc hands it on
//! into the container), else on `$PORT` of its own. Only the standard
//! library, so that `rustc -C target-feature=+crt-static` makes one static
//! binary for the image. SIGTERM stops it accepting: the connection it is
//! answering is answered, those waiting stay in the socket's queue for the
//! next instance.

use std::io::Write;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicI32, Ordering};

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn close(fd: i32) -> i32;
}

/// The listening socket, for the signal handler.
static LISTENING: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_term(_: i32) {
    // Closing this process's descriptor ends the accept loop; the socket
    // itself stays open in systemd. SAFETY: close is async-signal-safe.
    unsafe { close(LISTENING.load(Ordering::SeqCst)) };
}

fn main() {
    // SAFETY: installing a handler that only calls _exit. As the
    // container's PID 1 the greeter would otherwise ignore SIGTERM.
    unsafe {
        signal(15, on_term);
        signal(2, on_term);
    }
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let line = format!(
        "Hi {} from container {} with UUID={}\n",
        var("RECEIVER"),
        var("NAME"),
        var("UUID")
    );
    let activated = var("LISTEN_FDS").parse::<i32>().is_ok_and(|n| n >= 1)
        && var("LISTEN_PID") == std::process::id().to_string();
    let listener = if activated {
        // SAFETY: systemd passed fd 3 as a listening socket (LISTEN_FDS).
        unsafe { TcpListener::from_raw_fd(3) }
    } else {
        TcpListener::bind(("0.0.0.0", var("PORT").parse().unwrap_or(8081)))
            .unwrap_or_else(|e| panic!("binding port {}: {e}", var("PORT")))
    };
    LISTENING.store(listener.as_raw_fd(), Ordering::SeqCst);
    eprintln!(
        "greeter {}: {}",
        var("NAME"),
        if activated { "listening on the socket systemd passed" } else { "listening on a port of its own" }
    );
    // An error is the handler's doing (the descriptor closed): done.
    while let Ok((mut c, _)) = listener.accept() {
        let _ = c.write_all(line.as_bytes());
    }
    std::mem::forget(listener);
}
