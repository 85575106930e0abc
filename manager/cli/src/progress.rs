//! Drawing pull and push progress like docker: on a terminal one line per
//! blob, redrawn in place with a bar; otherwise one plain line per state
//! change (no byte counts), which suits logs and CI.

use berth_docker::humanize;
use berth_proto::v1::progress_event::Event;
use berth_proto::v1::{LayerProgress, ProgressEvent, TransferDone};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};

/// Renders a stream of progress events to stdout.
pub struct ProgressRenderer {
    tty: bool,
    quiet: bool,
    order: Vec<String>,
    blobs: HashMap<String, LayerProgress>,
    drawn: usize,
    /// The text last printed per blob in plain mode.
    printed: HashMap<String, String>,
    /// The final event, once seen.
    pub done: Option<TransferDone>,
}

fn short(digest: &str) -> String {
    berth_docker::short_id::short_id(digest)
}

/// Docker's word for a state in its listing.
fn state_text(state: &str) -> &str {
    match state {
        "Waiting" => "Pulling fs layer",
        other => other,
    }
}

fn bar(current: i64, total: i64) -> String {
    if total <= 0 {
        return String::new();
    }
    let width = 50usize;
    let filled = ((current.clamp(0, total) as f64 / total as f64) * width as f64) as usize;
    let mut b = String::with_capacity(width + 2);
    b.push('[');
    for i in 0..width {
        b.push(if i < filled {
            '='
        } else if i == filled {
            '>'
        } else {
            ' '
        });
    }
    b.push(']');
    format!("{b}  {}/{}", humanize::size(current), humanize::size(total))
}

impl ProgressRenderer {
    /// A renderer; `quiet` prints nothing but the final name.
    pub fn new(quiet: bool) -> ProgressRenderer {
        ProgressRenderer {
            tty: std::io::stdout().is_terminal(),
            quiet,
            order: Vec::new(),
            blobs: HashMap::new(),
            drawn: 0,
            printed: HashMap::new(),
            done: None,
        }
    }

    /// Handles one event.
    pub fn event(&mut self, ev: ProgressEvent) {
        let Some(ev) = ev.event else { return };
        match ev {
            Event::Done(d) => self.done = Some(d),
            _ if self.quiet => {}
            Event::Status(s) => {
                if self.tty {
                    self.clear();
                    println!("{s}");
                    self.redraw();
                } else {
                    println!("{s}");
                }
            }
            Event::Layer(l) => {
                if !self.blobs.contains_key(&l.digest) {
                    self.order.push(l.digest.clone());
                }
                if self.tty {
                    self.blobs.insert(l.digest.clone(), l);
                    self.clear();
                    self.redraw();
                } else {
                    let text = state_text(&l.state).to_string();
                    if self.printed.get(&l.digest) != Some(&text) {
                        println!("{}: {text}", short(&l.digest));
                        self.printed.insert(l.digest.clone(), text);
                    }
                    self.blobs.insert(l.digest.clone(), l);
                }
            }
        }
        let _ = std::io::stdout().flush();
    }

    fn clear(&mut self) {
        if self.drawn > 0 {
            print!("\x1b[{}A", self.drawn);
            for _ in 0..self.drawn {
                println!("\x1b[2K");
            }
            print!("\x1b[{}A", self.drawn);
            self.drawn = 0;
        }
    }

    fn redraw(&mut self) {
        for d in &self.order {
            let l = &self.blobs[d];
            let progress = match l.state.as_str() {
                "Downloading" | "Extracting" | "Pushing" => bar(l.current, l.total),
                _ => String::new(),
            };
            println!("\x1b[2K{}: {} {progress}", short(d), state_text(&l.state));
        }
        self.drawn = self.order.len();
    }
}
