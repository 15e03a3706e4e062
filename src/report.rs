//! What the library tells the user while it works, as events on a channel:
//! the CLI prints them, draws pull progress with indicatif, or writes them
//! as JSON lines. Library code never prints.

use serde::Serialize;
use std::sync::mpsc::Sender;

/// `s` with its control characters (terminal escapes, newlines) shown as
/// `\xNN`: what an image says is printed, never obeyed by the terminal.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// One thing to tell the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A line of the command's output (standard output).
    Note { text: String },
    /// A line about what the tool does besides its output (standard error).
    Info { text: String },
    /// Something the user should look at (standard error).
    Warning { text: String },
    /// A layer begins downloading; `size` is its blob size.
    LayerStarted { layer: String, size: u64 },
    /// `bytes` more of a layer's blob arrived.
    LayerBytes { layer: String, bytes: u64 },
    /// A layer is in the repository.
    LayerDone { layer: String },
    /// A layer was already in the repository and is not fetched again.
    LayerReused { layer: String },
}

/// Where events go: a channel, or nowhere.
#[derive(Debug, Clone, Default)]
pub struct Reporter(Option<Sender<Event>>);

impl Reporter {
    /// Events go to `tx`.
    pub fn new(tx: Sender<Event>) -> Reporter {
        Reporter(Some(tx))
    }

    /// Events are dropped.
    pub fn silent() -> Reporter {
        Reporter(None)
    }

    /// Sends `event`; a receiver that went away is not an error (the user
    /// is not listening any more, the work goes on).
    pub fn send(&self, event: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event);
        }
    }

    pub fn note(&self, text: impl Into<String>) {
        self.send(Event::Note { text: text.into() });
    }

    pub fn info(&self, text: impl Into<String>) {
        self.send(Event::Info { text: text.into() });
    }

    pub fn warn(&self, text: impl Into<String>) {
        self.send(Event::Warning { text: text.into() });
    }
}
