//! The live table of `dags trigger --wait` on a terminal: one frame redrawn in place. Every
//! line is cut to the terminal's width and the frame to its height, so nothing wraps or
//! scrolls and moving the cursor back up always lands on the frame's first line; that is what
//! keeps stale lines off the screen. Cursor movement and colours come from crossterm rather
//! than hand-written escapes.

use std::io::Write;

use airlock_protocol::api::{RunDetails, TaskInstanceSummary};
use airlock_protocol::state::TaskInstanceState;
use crossterm::style::{Color, Stylize};
use crossterm::{cursor, queue, terminal};

use super::progress::state_name;
use super::table;

/// A frame on screen: how many lines to move back over.
#[derive(Debug, Default)]
pub struct LiveTable {
    drawn: u16,
    colour: bool,
}

/// One row per task (mapped tasks folded), in the run's order: dependency order.
struct Row {
    name: String,
    state: String,
    colour_of: Option<TaskInstanceState>,
    tries: i64,
    took: String,
}

fn rows(d: &RunDetails) -> Vec<Row> {
    let mut groups: Vec<(&str, Vec<&TaskInstanceSummary>)> = Vec::new();
    for ti in &d.task_instances {
        match groups.last_mut() {
            Some((task, tis)) if *task == ti.task_id => tis.push(ti),
            _ => groups.push((&ti.task_id, vec![ti])),
        }
    }
    groups
        .into_iter()
        .map(|(task, tis)| {
            let mapped = tis.len() > 1 || tis[0].map_index >= 0;
            let mut counts: Vec<(&str, usize)> = Vec::new();
            for ti in &tis {
                let s = state_name(ti.state);
                match counts.iter_mut().find(|(n, _)| *n == s) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((s, 1)),
                }
            }
            let state = if mapped {
                counts
                    .iter()
                    .map(|(s, n)| format!("{n} {s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                state_name(tis[0].state).to_owned()
            };
            // A mapped row takes the colour of its least finished instance.
            let colour_of = tis
                .iter()
                .map(|t| t.state)
                .min_by_key(|s| urgency(*s))
                .flatten();
            let secs: f64 = tis.iter().filter_map(|t| t.duration).fold(0.0, f64::max);
            Row {
                name: if mapped {
                    format!("{task} ×{}", tis.len())
                } else {
                    task.to_owned()
                },
                state,
                colour_of,
                tries: tis.iter().map(|t| t.try_number).max().unwrap_or(1),
                took: if secs > 0.0 {
                    table::duration(secs)
                } else {
                    String::new()
                },
            }
        })
        .collect()
}

/// Lower is shown first: what is failing or running matters more than what is done.
fn urgency(s: Option<TaskInstanceState>) -> u8 {
    use TaskInstanceState as S;
    match s {
        Some(S::Failed | S::UpstreamFailed) => 0,
        Some(S::Running | S::Restarting | S::UpForRetry) => 1,
        Some(S::Queued | S::Scheduled | S::Deferred | S::UpForReschedule | S::AwaitingInput) => 2,
        None => 3,
        Some(S::Success | S::Skipped | S::Removed) => 4,
    }
}

fn colour(s: Option<TaskInstanceState>) -> Option<Color> {
    use TaskInstanceState as S;
    match s? {
        S::Success => Some(Color::Green),
        S::Failed | S::UpstreamFailed => Some(Color::Red),
        S::Running | S::Restarting => Some(Color::Cyan),
        S::UpForRetry | S::UpForReschedule | S::Deferred | S::AwaitingInput => Some(Color::Yellow),
        S::Skipped | S::Removed => Some(Color::DarkGrey),
        S::Queued | S::Scheduled => None,
    }
}

/// `text` cut to `width` characters (with an ellipsis when cut).
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

impl LiveTable {
    /// A table that colours states when `colour` (a terminal, and `NO_COLOR` unset).
    pub fn new(colour: bool) -> Self {
        Self { drawn: 0, colour }
    }

    /// Ends the frame on screen with a newline, so that other output goes below it and the
    /// next frame is drawn there.
    pub fn detach(&mut self, out: &mut impl Write) {
        if self.drawn > 0 {
            let _ = write!(out, "\r\n");
            let _ = out.flush();
        }
        self.drawn = 0;
    }

    /// Draws `d` over the previous frame, within a terminal of `cols` × `rows`.
    pub fn draw(&mut self, out: &mut impl Write, d: &RunDetails, cols: u16, rows: u16) {
        let width = usize::from(cols.max(10)) - 1;
        // The cursor stays at the end of the frame's last line (no newline after it), and a
        // line above it stays free, so the frame's first line is always on screen.
        let height = usize::from(rows.max(4)) - 1;
        let all = self::rows(d);
        let name_w = all
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        let name_w = name_w.min(width / 2);
        let mut lines: Vec<(String, Option<TaskInstanceState>)> =
            vec![(fit(&format!("{}: {}", d.run_id, d.state), width), None)];
        let room = height - 1;
        let shown = if all.len() > room {
            room - 1
        } else {
            all.len()
        };
        for r in &all[..shown] {
            let line = format!(
                "{:<name_w$}  {:<7} try {}  {}",
                fit(&r.name, name_w),
                r.state,
                r.tries,
                r.took
            );
            lines.push((fit(line.trim_end(), width), r.colour_of));
        }
        if shown < all.len() {
            let hidden = &all[shown..];
            let done = hidden.iter().filter(|r| urgency(r.colour_of) == 4).count();
            let more = format!("… {} more tasks ({done} finished)", hidden.len());
            lines.push((fit(&more, width), None));
        }
        // Each line is overwritten and cleared to its end; nothing clears the screen, which
        // some terminals (tmux) would copy into their scrollback.
        let _ = queue!(out, cursor::MoveToColumn(0));
        if self.drawn > 1 {
            let _ = queue!(out, cursor::MoveUp(self.drawn - 1));
        }
        for (i, (line, state)) in lines.iter().enumerate() {
            if i > 0 {
                let _ = write!(out, "\r\n");
            }
            match colour(*state).filter(|_| self.colour) {
                Some(c) => {
                    let _ = write!(out, "{}", line.as_str().with(c));
                }
                None => {
                    let _ = write!(out, "{line}");
                }
            }
            let _ = queue!(out, terminal::Clear(terminal::ClearType::UntilNewLine));
        }
        // A shorter frame than the last: blank the lines left below, then come back.
        let now = u16::try_from(lines.len()).unwrap_or(u16::MAX);
        if self.drawn > now {
            let extra = self.drawn - now;
            for _ in 0..extra {
                let _ = write!(out, "\r\n");
                let _ = queue!(out, terminal::Clear(terminal::ClearType::CurrentLine));
            }
            let last = lines.last().map_or(0, |(l, _)| l.chars().count());
            let _ = queue!(
                out,
                cursor::MoveUp(extra),
                cursor::MoveToColumn(u16::try_from(last).unwrap_or(0))
            );
        }
        let _ = out.flush();
        self.drawn = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    }
}

/// The terminal's size, or 80 × 24 when it cannot be asked.
pub fn terminal_size() -> (u16, u16) {
    terminal::size().unwrap_or((80, 24))
}
