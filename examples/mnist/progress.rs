//! A small progress bar on stderr (hand-written: a crate for it would cost more build time than
//! these lines). On a terminal it redraws one line in place at most ten times a second; when
//! stderr is a file or a pipe it prints a plain line at each quarter of the epoch instead.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    label: String,
    total: usize,
    tty: bool,
    last_draw: Option<Instant>,
    next_quarter: usize,
    enabled: bool,
}

/// What the bar shows after each step.
pub struct Stats {
    pub step: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub images_per_s: f64,
    pub eta: Duration,
}

impl Progress {
    /// A bar for `total` steps, labelled e.g. `epoch 1/3`. `enabled = false` draws nothing.
    pub fn new(label: String, total: usize, enabled: bool) -> Self {
        Progress {
            label,
            total: total.max(1),
            tty: std::io::stderr().is_terminal(),
            last_draw: None,
            next_quarter: 1,
            enabled,
        }
    }

    fn line(&self, s: &Stats) -> String {
        const WIDTH: usize = 30;
        let filled = (s.step * WIDTH) / self.total;
        let bar: String = (0..WIDTH)
            .map(|i| if i < filled { '#' } else { '-' })
            .collect();
        let eta = s.eta.as_secs();
        format!(
            "{} [{bar}] {:>w$}/{}  loss {:.4}  acc {:6.2}%  {:5.0} img/s  eta {}:{:02}",
            self.label,
            s.step,
            self.total,
            s.loss,
            100.0 * s.accuracy,
            s.images_per_s,
            eta / 60,
            eta % 60,
            w = self.total.to_string().len(),
        )
    }

    /// Shows the state after a step.
    pub fn update(&mut self, s: &Stats) {
        if !self.enabled {
            return;
        }
        let mut err = std::io::stderr().lock();
        if self.tty {
            let due = self
                .last_draw
                .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
            if due || s.step == self.total {
                let _ = write!(err, "\r{}\x1b[K", self.line(s));
                let _ = err.flush();
                self.last_draw = Some(Instant::now());
            }
        } else if s.step * 4 >= self.next_quarter * self.total && self.next_quarter < 4 {
            let _ = writeln!(err, "{}", self.line(s));
            self.next_quarter = (s.step * 4 / self.total) + 1;
        }
    }

    /// The final state of the epoch: on a terminal the bar is redrawn complete and kept.
    pub fn finish(&mut self, s: &Stats) {
        if !self.enabled {
            return;
        }
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = writeln!(err, "\r{}\x1b[K", self.line(s));
        } else {
            let _ = writeln!(err, "{}", self.line(s));
        }
    }
}
