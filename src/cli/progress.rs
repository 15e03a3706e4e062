//! Prints what the library reports while a command runs: notes on standard
//! output, information and warnings on standard error, pull progress as
//! indicatif bars (on a terminal) — or every event as a JSON line on
//! standard output (`pull --progress=json`). One thread receives them all,
//! so they come out in the order they were sent.

use crate::report::{Event, Reporter};
use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::io::Write;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

/// How events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Lines of text; progress bars if `bars` and standard error is a terminal.
    Text { bars: bool },
    /// One JSON object a line on standard output.
    Json,
}

/// The thread printing events, and the sending end of its channel.
pub struct Printer {
    tx: Sender<Event>,
    thread: JoinHandle<std::io::Result<()>>,
}

impl Printer {
    pub fn start(mode: Mode) -> Printer {
        let (tx, rx) = channel();
        let thread = std::thread::spawn(move || match mode {
            Mode::Json => json_lines(rx),
            Mode::Text { bars } => text(rx, bars && std::io::stderr().is_terminal()),
        });
        Printer { tx, thread }
    }

    /// Where the library sends its events.
    pub fn reporter(&self) -> Reporter {
        Reporter::new(self.tx.clone())
    }

    /// Waits until every event sent so far is printed; fails if they could
    /// not be (a reader that went away, as `| head` does, is not a failure).
    /// Every reporter must be gone by then.
    pub fn finish(self) -> Result<()> {
        drop(self.tx);
        match self.thread.join() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Ok(Err(e)) => Err(e).context("writing the output"),
            Err(_) => bail!("the output printer panicked"),
        }
    }
}

fn json_lines(rx: Receiver<Event>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for e in rx {
        writeln!(out, "{}", serde_json::to_string(&e)?)?;
        out.flush()?;
    }
    Ok(())
}

fn text(rx: Receiver<Event>, bars: bool) -> std::io::Result<()> {
    let multi = MultiProgress::with_draw_target(if bars {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style =
        ProgressStyle::with_template("{msg:20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    let mut layers: HashMap<String, ProgressBar> = HashMap::new();
    let line = |to_stderr: bool, text: &str| -> std::io::Result<()> {
        multi.suspend(|| {
            if to_stderr {
                writeln!(std::io::stderr().lock(), "{text}")
            } else {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{text}")?;
                out.flush()
            }
        })
    };
    for e in rx {
        match e {
            Event::Note { text } => line(false, &text)?,
            Event::Info { text } => line(true, &text)?,
            Event::Warning { text } => line(true, &format!("warning: {text}"))?,
            Event::LayerStarted { layer, size } => {
                let bar = multi.add(ProgressBar::new(size));
                bar.set_style(style.clone());
                let hex = layer.strip_prefix("sha256:").unwrap_or(&layer);
                bar.set_message(hex[..12.min(hex.len())].to_string());
                layers.insert(layer, bar);
            }
            Event::LayerBytes { layer, bytes } => {
                if let Some(bar) = layers.get(&layer) {
                    bar.inc(bytes);
                }
            }
            Event::LayerDone { layer } => {
                if let Some(bar) = layers.remove(&layer) {
                    bar.finish();
                }
            }
            Event::LayerReused { .. } => {}
        }
    }
    Ok(())
}
