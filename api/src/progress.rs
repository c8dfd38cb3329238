//! The batch commands' one progress display on standard error: indicatif's `MultiProgress`,
//! through which the logger writes too (so a log line never leaves a stale bar behind), bars
//! in whole numbers and human units, and the final phases of a command as steps of their own.

use std::io::{IsTerminal, Write};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use indicatif::{
    HumanCount, HumanDuration, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState,
    ProgressStyle,
};

/// The display every bar of the process is drawn in. Drawn only when standard error is a
/// terminal; otherwise hidden (log lines still pass through).
static DISPLAY: LazyLock<MultiProgress> = LazyLock::new(|| {
    MultiProgress::with_draw_target(if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    })
});

/// Standard error as the logger's writer: each log line is written with the bars cleared and
/// drawn again below it.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        DISPLAY.suspend(|| std::io::stderr().lock().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Writes a line to standard error above the bars.
pub fn eprint_line(line: &str) {
    DISPLAY.suspend(|| {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    });
}

/// A progress display for one command; `quiet` hides it.
#[derive(Clone, Copy, Debug)]
pub struct Display {
    quiet: bool,
}

impl Display {
    /// The process's display, hidden when `quiet`.
    pub fn new(quiet: bool) -> Display {
        Display { quiet }
    }

    fn add(&self, bar: ProgressBar) -> ProgressBar {
        if self.quiet {
            bar.set_draw_target(ProgressDrawTarget::hidden());
            bar
        } else {
            DISPLAY.add(bar)
        }
    }

    /// A bar counting `unit` (records, pairs) up to `len` (which may be corrected later): the
    /// count, the rate as a whole number per second, and the time left.
    pub fn counter(&self, label: &str, unit: &'static str, len: u64) -> ProgressBar {
        self.counter_at(label, unit, len, 0)
    }

    /// A counting bar that starts at `done` (a resumed job, or work finished before the first
    /// report): the rate counts from there, so a jump to `done` never shows as a burst.
    pub fn counter_at(&self, label: &str, unit: &'static str, len: u64, done: u64) -> ProgressBar {
        // Hidden until added to the display: nothing is drawn before the style is set.
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        bar.set_position(done);
        bar.reset_eta();
        let template = format!(
            "{{prefix:>10}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} {{rate}} {{eta_or_done}}"
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(
                style
                    .with_key("rate", rate)
                    .with_key("eta_or_done", eta)
                    .progress_chars("=> "),
            );
        }
        bar.set_prefix(label.to_owned());
        self.add(bar)
    }

    /// Starts a phase with no count (vacuum, checkpoint): a spinner with the time it has taken.
    /// [`Step::done`] leaves a line saying how long it took.
    pub fn step(&self, label: &str, what: &str) -> Step {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template("{prefix:>10} {spinner} {msg} ({elapsed})")
        {
            bar.set_style(style);
        }
        bar.set_prefix(label.to_owned());
        bar.set_message(what.to_owned());
        let bar = self.add(bar);
        bar.enable_steady_tick(Duration::from_millis(200));
        Step {
            bar,
            started: Instant::now(),
            quiet: self.quiet,
        }
    }

    /// Ends a counting bar, leaving a line with its count, its time and its average rate.
    pub fn finish_counter(&self, bar: &ProgressBar, unit: &str) {
        let elapsed = bar.elapsed();
        let done = bar.position();
        bar.finish_and_clear();
        if !self.quiet && !bar.is_hidden() {
            eprint_line(&format!(
                "{:>10} {} {unit} in {} ({}/s)",
                bar.prefix(),
                HumanCount(done),
                HumanDuration(elapsed),
                HumanCount(per_second(done, elapsed)),
            ));
        }
    }
}

/// A phase in progress; see [`Display::step`].
pub struct Step {
    bar: ProgressBar,
    started: Instant,
    quiet: bool,
}

impl Step {
    /// Ends the phase, leaving a line with its duration.
    pub fn done(self) {
        let shown = !self.quiet && !self.bar.is_hidden();
        self.bar.finish_and_clear();
        if shown {
            eprint_line(&format!(
                "{:>10} {} done in {:.1} s",
                self.bar.prefix(),
                self.bar.message(),
                self.started.elapsed().as_secs_f64()
            ));
        }
    }
}

/// Whole units per second over `elapsed`.
fn per_second(count: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        (count as f64 / secs).round() as u64
    } else {
        0
    }
}

/// `{rate}`: the recent rate as a whole number per second, in human units (`12,345/s`).
fn rate(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let per_sec = state.per_sec();
    let per_sec = if per_sec.is_finite() && per_sec > 0.0 {
        per_sec.round() as u64
    } else {
        0
    };
    let _ = write!(w, "{}/s", HumanCount(per_sec));
}

/// `{eta_or_done}`: the time left at the recent rate, or nothing before there is a rate.
fn eta(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    if state.pos() == 0 || state.per_sec() <= 0.0 {
        let _ = write!(w, "ETA -");
    } else {
        let _ = write!(w, "ETA {}", HumanDuration(state.eta()));
    }
}
