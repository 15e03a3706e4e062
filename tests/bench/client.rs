//! A client of the greeter that keeps asking while a test changes the
//! service under it, and counts what was refused or cut short.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A client asking the greeter on `port` every few milliseconds on its own
/// thread; counts the answers and what was refused or cut short.
pub struct Client {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Client {
    pub fn start(port: u16) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let (s, a, f) = (stop.clone(), answered.clone(), failed.clone());
        let thread = std::thread::spawn(move || {
            let mut errors = Vec::new();
            while !s.load(Ordering::Relaxed) {
                let r = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut c| {
                    c.set_read_timeout(Some(Duration::from_secs(10)))?;
                    let mut line = String::new();
                    c.read_to_string(&mut line)?;
                    Ok(line)
                });
                match r {
                    Ok(line) if line.starts_with("Hi ") => {
                        a.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        f.fetch_add(1, Ordering::Relaxed);
                        errors.push(format!("{other:?}"));
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            errors
        });
        Client {
            stop,
            answered,
            failed,
            thread: Some(thread),
        }
    }

    /// Stops it: (answered, failed, the first errors).
    pub fn finish(mut self) -> (usize, usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let errors = self.thread.take().unwrap().join().unwrap();
        (
            self.answered.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            errors.into_iter().take(5).collect(),
        )
    }
}
