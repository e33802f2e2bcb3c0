//! Hostile runners for the frame fuzzer: from a seed, a script of what a broken or malicious
//! runner does on its request socket (valid requests of every kind with odd arguments, mutated
//! frames, garbage, frames cut off, absurd lengths, answers never read) and how it ends (exit
//! codes, a crash, a return). The test bundle's `fuzz` task plays a script; the fuzz suite checks
//! that every try still ends, as the server records it, with no panic anywhere.

use airlock_protocol::comms::{
    DeferTask, DeleteXCom, GetConnection, GetVariable, GetXCom, RequestFrame, RescheduleTask,
    RetryTask, SetRenderedMapIndex, SetXCom, SucceedTask, TaskState, ToSupervisor, encode_request,
};
use airlock_protocol::state::TerminalStateNonSuccess;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// A small deterministic generator (xorshift64*), so that a failing seed replays exactly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One thing a hostile runner does.
#[derive(Debug, Clone)]
pub enum Act {
    /// Sends these bytes; then reads one answer if `read_answer`.
    Send {
        /// The bytes (a frame, a mutated frame or garbage).
        bytes: Vec<u8>,
        /// Whether to wait for an answer.
        read_answer: bool,
    },
    /// Sleeps this many milliseconds.
    Sleep(u64),
    /// Exits with this code.
    Exit(i32),
    /// Crashes (abort: SIGABRT).
    Crash,
    /// Returns from the task successfully (the SDK reports success).
    ReturnOk,
    /// Returns an error (the SDK reports failure or a retry).
    ReturnErr,
}

fn odd_datetime(rng: &mut Rng) -> DateTime<Utc> {
    let secs = *rng.pick(&[
        0i64,
        -62_135_596_800,
        253_402_300_799,
        1_767_225_600,
        i64::from(i32::MAX),
    ]);
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

fn odd_value(rng: &mut Rng) -> Value {
    match rng.below(6) {
        0 => Value::Null,
        1 => json!(rng.next_u64()),
        2 => json!("x".repeat(rng.below(5000) as usize)),
        3 => json!({"nested": [1, {"deep": [true, null]}]}),
        4 => json!(f64::MAX),
        _ => json!([]),
    }
}

fn odd_str(rng: &mut Rng) -> String {
    rng.pick(&["k", "", "a/b/../c", "\u{0}nul", "é ✓", "return_value", "x"])
        .to_string()
        + &"y".repeat(rng.below(3) as usize * 200)
}

/// A request of a random kind with random (often invalid) arguments, for the task instance
/// named by `own` (dag, run, task) half of the time.
fn request(rng: &mut Rng, own: &(String, String, String)) -> ToSupervisor {
    let (dag, run, task) = if rng.chance(50) {
        own.clone()
    } else {
        (odd_str(rng), odd_str(rng), odd_str(rng))
    };
    match rng.below(11) {
        0 => ToSupervisor::GetVariable(GetVariable { key: odd_str(rng) }),
        1 => ToSupervisor::GetConnection(GetConnection {
            conn_id: odd_str(rng),
        }),
        2 => ToSupervisor::SetXCom(SetXCom {
            key: odd_str(rng),
            value: odd_value(rng),
            dag_id: dag,
            run_id: run,
            task_id: task,
            map_index: rng.chance(30).then(|| rng.below(5) as i64 - 2),
            dag_result: rng.chance(10),
            mapped_length: rng.chance(20).then(|| rng.next_u64() as i64),
        }),
        3 => ToSupervisor::GetXCom(GetXCom {
            key: odd_str(rng),
            dag_id: dag,
            run_id: run,
            task_id: task,
            map_index: None,
            include_prior_dates: rng.chance(50),
        }),
        4 => ToSupervisor::DeleteXCom(DeleteXCom {
            key: odd_str(rng),
            dag_id: dag,
            run_id: run,
            task_id: task,
            map_index: None,
        }),
        5 => ToSupervisor::SucceedTask(SucceedTask {
            state: Default::default(),
            end_date: odd_datetime(rng),
            task_outlets: None,
            outlet_events: None,
            rendered_map_index: rng.chance(30).then(|| odd_str(rng)),
        }),
        6 => ToSupervisor::TaskState(TaskState {
            state: *rng.pick(&[
                TerminalStateNonSuccess::Failed,
                TerminalStateNonSuccess::Skipped,
                TerminalStateNonSuccess::Removed,
            ]),
            end_date: Some(odd_datetime(rng)),
            rendered_map_index: None,
        }),
        7 => ToSupervisor::RetryTask(RetryTask {
            state: Default::default(),
            end_date: odd_datetime(rng),
            rendered_map_index: None,
            retry_delay_seconds: rng.chance(50).then(|| rng.next_u64() as f64),
            retry_reason: Some(odd_str(rng)),
        }),
        8 => ToSupervisor::DeferTask(DeferTask {
            state: Default::default(),
            classpath: odd_str(rng),
            trigger_kwargs: Some(odd_value(rng)),
            trigger_timeout: None,
            queue: None,
            next_method: odd_str(rng),
            next_kwargs: None,
            rendered_map_index: None,
        }),
        9 => ToSupervisor::RescheduleTask(RescheduleTask {
            state: Default::default(),
            reschedule_date: odd_datetime(rng),
            end_date: odd_datetime(rng),
        }),
        _ => ToSupervisor::SetRenderedMapIndex(SetRenderedMapIndex {
            rendered_map_index: odd_str(rng),
        }),
    }
}

/// The script of seed `seed` for the task instance `own` = (dag, run, task).
pub fn script(seed: u64, own: &(String, String, String)) -> Vec<Act> {
    let mut rng = Rng::new(seed);
    let mut acts = Vec::new();
    let requests = rng.below(12) + 1;
    for id in 1..=requests as i64 {
        let frame = encode_request(&RequestFrame {
            id,
            body: Some(request(&mut rng, own)),
            context_carrier: None,
        })
        .unwrap_or_default();
        let bytes = match rng.below(10) {
            // Valid.
            0..=4 => frame,
            // A few bytes flipped (the length prefix included, sometimes).
            5 | 6 => {
                let mut f = frame;
                for _ in 0..=rng.below(3) {
                    let at = rng.below(f.len() as u64) as usize;
                    f[at] ^= 1 << rng.below(8);
                }
                f
            }
            // Cut short.
            7 => frame[..rng.below(frame.len() as u64) as usize].to_vec(),
            // An absurd length.
            8 => vec![0xff, 0xff, 0xff, rng.below(256) as u8, 0x93],
            // Garbage.
            _ => (0..rng.below(64)).map(|_| rng.below(256) as u8).collect(),
        };
        acts.push(Act::Send {
            bytes,
            read_answer: rng.chance(70),
        });
        if rng.chance(10) {
            acts.push(Act::Sleep(rng.below(50)));
        }
    }
    acts.push(match rng.below(6) {
        0 => Act::Exit(*rng.pick(&[0, 1, 2, 3, 42, 255])),
        1 => Act::Crash,
        2 | 3 => Act::ReturnOk,
        _ => Act::ReturnErr,
    });
    acts
}
