//! The live table of `dags trigger --wait` in a real terminal (tmux): whatever the terminal's
//! size, the screen ends with one frame, no stale lines, nothing wider than the terminal.

use std::process::Command;
use std::time::Duration;

use airlock_e2e::process::{bin_path, wait_for};
use airlock_e2e::{Backend, Standalone};

/// Runs `airlock dags trigger <dag> --wait` in a `cols` × `rows` tmux pane and returns
/// everything the pane shows, scrollback included, once the command has ended.
fn in_tmux(a: &Standalone, dag: &str, cols: u16, rows: u16) -> String {
    // A private socket directory: a stale or foreign `/tmp/tmux-<uid>` cannot get in the way.
    let sockets = tempfile::tempdir().expect("a temporary directory");
    let socket = format!("airlock-test-{cols}x{rows}");
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null"])
            .args(args)
            .env("TMUX_TMPDIR", sockets.path())
            .env("AIRLOCK_HOME", &a.home)
            .env_remove("NO_COLOR")
            .env_remove("TMUX")
            .output()
            .expect("tmux is installed (scripts/test.sh installs it)")
    };
    let cmd = format!(
        "{} dags trigger {dag} --wait; echo EXITED=$?; sleep 600",
        bin_path("airlock").display()
    );
    let (cols, rows) = (cols.to_string(), rows.to_string());
    let new_session = [
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        &cols,
        "-y",
        &rows,
        &cmd,
    ];
    // tmux's server can die while it starts ("server exited unexpectedly", a known race CI hit):
    // a fresh server is tried a few times before the test gives up.
    let mut attempts = Vec::new();
    for _ in 0..3 {
        let started = tmux(&new_session);
        if started.status.success() {
            break;
        }
        tmux(&["kill-server"]);
        attempts.push(started);
    }
    assert!(attempts.len() < 3, "tmux would not start: {attempts:?}");
    let screen = wait_for(
        Duration::from_secs(120),
        "the command in tmux to end",
        || {
            let out = tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "t"]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.contains("EXITED=").then_some(text)
        },
    );
    tmux(&["kill-server"]);
    screen
}

/// The screen (wrapped lines joined) holds exactly one frame, whose lines all fit in `cols`.
fn check_one_frame(screen: &str, dag: &str, cols: u16) {
    let run_id = screen
        .lines()
        .find_map(|l| l.strip_prefix(&format!("Triggered {dag}: run ")))
        .unwrap_or_else(|| panic!("no run id on screen:\n{screen}"))
        .trim()
        .to_owned();
    // The frame's first line starts with the run id (cut to the width on a narrow terminal).
    let head: String = run_id.chars().take(20).collect();
    let lines: Vec<&str> = screen.lines().collect();
    let headers: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with(&head))
        .collect();
    assert_eq!(headers.len(), 1, "stale frames on screen:\n{screen}");
    let frame: Vec<&str> = lines[headers[0]..]
        .iter()
        .take_while(|l| !l.starts_with("Run "))
        .copied()
        .collect();
    for line in &frame {
        assert!(
            line.chars().count() < usize::from(cols),
            "too wide: {line:?}\n{screen}"
        );
    }
    assert!(frame.iter().any(|l| l.contains(" success")), "{screen}");
    assert!(screen.contains("EXITED=0"), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_table_keeps_one_frame_at_any_terminal_size() {
    let a = Standalone::start(Backend::Sqlite).await.expect("sqlite");
    // Narrow: every line is cut to 40 columns, so nothing wraps.
    let screen = in_tmux(&a, "fan_out", 40, 24);
    check_one_frame(&screen, "fan_out", 40);
    assert!(screen.contains("process ×24"), "{screen}");
    // Short: the 24-way mapped task folds into one row; the frame fits 10 rows.
    let screen = in_tmux(&a, "fan_out", 120, 10);
    check_one_frame(&screen, "fan_out", 120);
    // More tasks than rows: the frame ends with how many more there are.
    let screen = in_tmux(&a, "wide", 120, 10);
    check_one_frame(&screen, "wide", 120);
    assert!(screen.contains("more tasks"), "{screen}");
    // Dependency order: the task that lists files comes before those that process them.
    let screen = in_tmux(&a, "fan_out", 120, 24);
    let at = |t: &str| {
        screen
            .find(t)
            .unwrap_or_else(|| panic!("{t} not in {screen}"))
    };
    assert!(
        at("discover") < at("process ×24") && at("process ×24") < at("merge"),
        "{screen}"
    );
}
