//! A bundle of well- and badly-behaved tasks for the end-to-end suites (not an example to
//! follow: several tasks attack the protocol or the supervisor on purpose).

use std::io::Write;
use std::os::fd::FromRawFd;
use std::time::Duration;

use airlock_protocol::comms::{GetVariable, RetryTask, ToSupervisor};
use airlock_sdk::{
    Bundle, Context, Dag, Deferral, Notifier, Operator, Task, TaskError, TaskResult, Trigger,
    TriggerRule,
};
use serde_json::{Map, Value, json};

fn ok(_: &mut Context<'_>) -> TaskResult {
    Ok(json!({"ok": true}))
}

/// Prints `conf.per_sec` lines a second on stdout for `conf.secs` seconds; returns the count.
fn chatty(ctx: &mut Context<'_>) -> TaskResult {
    let conf = ctx.conf();
    let num = |k: &str, default: u64| conf.get(k).and_then(Value::as_u64).unwrap_or(default);
    let (secs, per_sec) = (
        num("secs", 5).min(600),
        num("per_sec", 100).clamp(1, 10_000),
    );
    let lines = secs * per_sec;
    let pace = Duration::from_secs(1) / per_sec as u32;
    let started = std::time::Instant::now();
    for i in 0..lines {
        println!("chatty line {i}");
        // Paced against the start, so that slow writes do not stretch the task.
        if let Some(wait) = (pace * (i as u32 + 1)).checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    Ok(json!({ "lines": lines }))
}

fn report_traceparent(ctx: &mut Context<'_>) -> TaskResult {
    Ok(json!({ "traceparent": ctx.traceparent() }))
}

fn produce(ctx: &mut Context<'_>) -> TaskResult {
    ctx.xcom_push("extra", &json!({"side": "channel"}))?;
    Ok(json!([1, 2, 3]))
}

fn consume(ctx: &mut Context<'_>) -> TaskResult {
    let values: Vec<i64> = ctx
        .xcom_pull("produce")?
        .ok_or_else(|| TaskError::fail("no input"))?;
    let extra: Value = ctx
        .xcom_pull_key("produce", "extra")?
        .unwrap_or(Value::Null);
    Ok(json!({"sum": values.iter().sum::<i64>(), "extra": extra}))
}

fn fail(_: &mut Context<'_>) -> TaskResult {
    Err(TaskError::fail("this task always fails"))
}

fn skip(_: &mut Context<'_>) -> TaskResult {
    Err(TaskError::skip("nothing to do"))
}

fn reschedule(_: &mut Context<'_>) -> TaskResult {
    Err(TaskError::reschedule_at(
        chrono::Utc::now() + chrono::TimeDelta::minutes(5),
    ))
}

fn var_conn(ctx: &mut Context<'_>) -> TaskResult {
    let var = ctx.variable("greeting")?;
    let missing = ctx.variable("no-such-variable")?;
    let conn = ctx.connection("warehouse")?;
    let no_conn = ctx.connection("no-such-connection")?;
    if let Some(c) = &conn {
        // The password must not reach the task log.
        ctx.log().info(&format!(
            "connecting with password {}",
            c.password.clone().unwrap_or_default()
        ));
    }
    Ok(json!({
        "greeting": var,
        "missing": missing,
        "conn_host": conn.as_ref().and_then(|c| c.host.clone()),
        "conn_password_len": conn.as_ref().and_then(|c| c.password.as_ref()).map(|p| p.len()),
        "no_conn": no_conn.is_none(),
    }))
}

/// Tries everything a hostile task would to reach the control plane: the data directory named
/// in the run's conf (`home`), and its ancestor processes (ptrace, environ, mem, cwd, signals),
/// looking for the secrets the conf lists (`needles`). Reports what it got; an isolated task
/// gets nothing.
fn probe_isolation(ctx: &mut Context<'_>) -> TaskResult {
    let conf = ctx.conf();
    let home = conf
        .get("home")
        .and_then(Value::as_str)
        .map(std::path::PathBuf::from)
        .ok_or_else(|| TaskError::fail("conf.home is required"))?;
    let needles: Vec<String> = conf
        .get("needles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut leaked: Vec<String> = Vec::new();
    let mut search = |place: String, bytes: &[u8]| {
        for n in needles.iter().filter(|n| !n.is_empty()) {
            if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                leaked.push(place.clone());
            }
        }
    };
    let mut read = Vec::new();
    for name in [
        "jwt-secret",
        "admin-token",
        "airlock.db",
        "secrets.key",
        "standalone.url",
    ] {
        if let Ok(bytes) = std::fs::read(home.join(name)) {
            search(name.to_owned(), &bytes);
            read.push(name.to_owned());
        }
    }
    let listed = std::fs::read_dir(&home).is_ok();
    let (mut ptraced, mut environ, mut mem, mut cwd, mut signalled) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut pid = nix::unistd::getppid().as_raw();
    for _ in 0..3 {
        if pid <= 1 {
            break;
        }
        // SAFETY: plain system calls on integers.
        let attached =
            unsafe { nix::libc::ptrace(nix::libc::PTRACE_ATTACH, pid, 0usize, 0usize) == 0 };
        if attached {
            ptraced.push(pid);
            // SAFETY: as above.
            unsafe { nix::libc::ptrace(nix::libc::PTRACE_DETACH, pid, 0usize, 0usize) };
        }
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ"))
            && !env.is_empty()
        {
            search(format!("environ of {pid}"), &env);
            environ.push(pid);
        }
        if let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps"))
            && let Ok(f) = std::fs::File::open(format!("/proc/{pid}/mem"))
        {
            use std::os::unix::fs::FileExt;
            for range in maps.lines().filter_map(|l| l.split_whitespace().next()) {
                let Some((a, b)) = range.split_once('-') else {
                    continue;
                };
                let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16))
                else {
                    continue;
                };
                let mut buf = vec![0u8; (b - a).min(4 << 20) as usize];
                if f.read_at(&mut buf, a).is_ok() {
                    search(format!("memory of {pid}"), &buf);
                    if !mem.contains(&pid) {
                        mem.push(pid);
                    }
                }
            }
        }
        if std::fs::read_dir(format!("/proc/{pid}/cwd")).is_ok()
            || std::fs::read(format!("/proc/{pid}/cwd/jwt-secret")).is_ok()
        {
            cwd.push(pid);
        }
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok() {
            signalled.push(pid);
        }
        // The next ancestor.
        pid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|st| {
                st.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0);
    }
    Ok(json!({
        "uid": nix::unistd::getuid().as_raw(),
        "cwd": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
        "read": read,
        "listed_home": listed,
        "ptraced": ptraced,
        "environ": environ,
        "mem": mem,
        "cwd_of_ancestors": cwd,
        "signalled": signalled,
        "leaked": leaked,
    }))
}

fn panics(_: &mut Context<'_>) -> TaskResult {
    let items: Vec<u8> = Vec::new();
    let index = std::env::var("NO_SUCH_VAR").map(|_| 1).unwrap_or(3);
    Ok(json!(items[index]))
}

fn sleep(ctx: &mut Context<'_>) -> TaskResult {
    ctx.log().info("sleeping");
    println!("sleeping on stdout");
    std::thread::sleep(Duration::from_secs(600));
    Ok(Value::Null)
}

fn ignore_sigterm(ctx: &mut Context<'_>) -> TaskResult {
    // SAFETY: installing SIG_IGN for SIGTERM is async-signal-safe and affects only this process.
    unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGTERM,
            nix::sys::signal::SigHandler::SigIgn,
        )?;
    }
    ctx.log().info("ignoring SIGTERM from now on");
    std::thread::sleep(Duration::from_secs(600));
    Ok(Value::Null)
}

/// The request socket, bypassing the SDK (ManuallyDrop leaves it open for the SDK).
fn raw_socket() -> std::mem::ManuallyDrop<std::fs::File> {
    let fd = airlock_task_runner::request_socket_fd().expect("the request socket");
    // SAFETY: `fd` is the request socket, open for the life of the process.
    std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// Writes raw bytes to the request socket, bypassing the SDK.
fn raw_write(bytes: &[u8]) {
    let mut sock = raw_socket();
    let _ = sock.write_all(bytes);
    let _ = sock.flush();
}

/// One request frame, as a runner would send it.
fn request_frame(id: i64, body: ToSupervisor) -> Vec<u8> {
    airlock_protocol::comms::encode_request(&airlock_protocol::comms::RequestFrame {
        id,
        body: Some(body),
        context_carrier: None,
    })
    .unwrap_or_default()
}

/// Writes requests and never reads an answer: the supervisor must not be blocked by it.
fn flood(_: &mut Context<'_>) -> TaskResult {
    let frame = request_frame(
        1,
        ToSupervisor::GetVariable(GetVariable {
            key: "x".repeat(1000),
        }),
    );
    let mut sock = raw_socket();
    loop {
        if sock.write_all(&frame).is_err() {
            return Err(TaskError::fail("the request socket closed"));
        }
    }
}

/// Waits (at most two minutes) for the file named by `conf.marker` to exist.
fn wait_for_marker(ctx: &Context<'_>) -> Result<(), TaskError> {
    let marker = ctx
        .conf()
        .get("marker")
        .and_then(Value::as_str)
        .map(std::path::PathBuf::from)
        .ok_or_else(|| TaskError::fail_no_retry("conf.marker is required"))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !marker.exists() {
        if std::time::Instant::now() > deadline {
            return Err(TaskError::fail_no_retry("the marker never appeared"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Try 1 writes XCom `k` only once `conf.marker` exists; later tries write it at once. A late
/// write from a fenced try 1 must not replace a later try's value.
fn fenced_write(ctx: &mut Context<'_>) -> TaskResult {
    if ctx.try_number() == 1 {
        wait_for_marker(ctx)?;
    }
    let value = format!("try {}", ctx.try_number());
    ctx.xcom_push("k", &value)?;
    Ok(json!(value))
}

/// Finishes (returning `{"done": true}`) once `conf.marker` exists.
fn finish_on_marker(ctx: &mut Context<'_>) -> TaskResult {
    wait_for_marker(ctx)?;
    Ok(json!({"done": true}))
}

/// Prints `conf.bytes` bytes to stdout, in lines of 1 KiB.
fn print_lots(ctx: &mut Context<'_>) -> TaskResult {
    let total = ctx.conf().get("bytes").and_then(Value::as_u64).unwrap_or(0);
    let line = format!("{}\n", "x".repeat(1023));
    let mut out = std::io::stdout().lock();
    let mut written = 0u64;
    while written < total {
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    out.flush()?;
    Ok(json!({"printed": written}))
}

/// Asks for a retry whatever its retries (a runner that would retry forever).
fn retry_anyway(ctx: &mut Context<'_>) -> TaskResult {
    ctx.request(ToSupervisor::RetryTask(RetryTask {
        state: Default::default(),
        end_date: chrono::Utc::now(),
        rendered_map_index: None,
        retry_delay_seconds: None,
        retry_reason: Some("again".into()),
    }))?;
    std::process::exit(0);
}

/// Starts a daemon (`setsid`, its own session) that sleeps, returns its pid, and ends.
fn spawn_daemon(_: &mut Context<'_>) -> TaskResult {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("sleep");
    cmd.arg("600")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    Ok(json!({"pid": child.id()}))
}

/// Plays the hostile script of `conf.seed` (see `airlock_e2e::hostile`) on the request socket.
fn fuzz(ctx: &mut Context<'_>) -> TaskResult {
    use airlock_e2e::hostile::{Act, script};
    use std::io::Read;
    let seed = ctx.conf().get("seed").and_then(Value::as_u64).unwrap_or(0);
    let ti = ctx.ti();
    let own = (ti.dag_id.clone(), ti.run_id.clone(), ti.task_id.clone());
    // SAFETY: the request socket stays open for the life of the process; ManuallyDrop keeps
    // this handle from closing it.
    let sock = std::mem::ManuallyDrop::new(unsafe {
        std::os::unix::net::UnixStream::from_raw_fd(
            airlock_task_runner::request_socket_fd().ok_or_else(|| TaskError::fail("no socket"))?,
        )
    });
    let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
    let mut sock: &std::os::unix::net::UnixStream = &sock;
    for act in script(seed, &own) {
        match act {
            Act::Send { bytes, read_answer } => {
                if sock.write_all(&bytes).is_err() {
                    return Err(TaskError::fail("the supervisor closed the socket"));
                }
                if read_answer {
                    let mut len = [0u8; 4];
                    if sock.read_exact(&mut len).is_ok() {
                        let mut body = vec![0u8; (u32::from_be_bytes(len) as usize).min(1 << 24)];
                        let _ = sock.read_exact(&mut body);
                    }
                }
            }
            Act::Sleep(ms) => std::thread::sleep(Duration::from_millis(ms)),
            Act::Exit(code) => std::process::exit(code),
            Act::Crash => std::process::abort(),
            Act::ReturnOk => return Ok(json!({"seed": seed})),
            Act::ReturnErr => return Err(TaskError::fail(format!("seed {seed} fails"))),
        }
    }
    Ok(Value::Null)
}

fn garbage_frame(_: &mut Context<'_>) -> TaskResult {
    raw_write(&[0, 0, 0, 5, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1]);
    std::thread::sleep(Duration::from_secs(600));
    Ok(Value::Null)
}

fn truncated_frame(_: &mut Context<'_>) -> TaskResult {
    raw_write(&[0, 0, 0, 100, 0x93, 0x01]);
    std::process::exit(3);
}

fn huge_frame(_: &mut Context<'_>) -> TaskResult {
    raw_write(&[0xff, 0xff, 0xff, 0xff, 0x93]);
    std::thread::sleep(Duration::from_secs(600));
    Ok(Value::Null)
}

fn undecodable_request(ctx: &mut Context<'_>) -> TaskResult {
    // A well-formed frame whose body names no message: the supervisor must answer it.
    let mut payload = vec![0x93, 0x05, 0x81, 0xa4];
    payload.extend_from_slice(b"type\xa7Bogus!!\xc0");
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&payload);
    raw_write(&frame);
    let mut fd0 = raw_socket();
    let mut len = [0u8; 4];
    std::io::Read::read_exact(&mut *fd0, &mut len)?;
    let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
    std::io::Read::read_exact(&mut *fd0, &mut payload)?;
    let answer = airlock_protocol::comms::decode_response(&payload)
        .map_err(|e| TaskError::fail(e.to_string()))?;
    ctx.log()
        .info(&format!("answer to the bogus request: {answer:?}"));
    Ok(
        json!({"id": answer.id, "error": answer.error.map(|e| serde_json::to_value(e.detail).unwrap_or_default())}),
    )
}

/// Looks for a JWT anywhere it could reach: its environment, the supervisor's environment and
/// memory. Returns what it could read and whether anything looked like a token.
fn steal_token(ctx: &mut Context<'_>) -> TaskResult {
    let looks_like_jwt = |bytes: &[u8]| {
        bytes.windows(40).any(|w| {
            w.starts_with(b"eyJ")
                && w[3..]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-' || *b == b'.')
        })
    };
    let env_has_token =
        std::env::vars().any(|(k, v)| k.contains("TOKEN") || looks_like_jwt(v.as_bytes()));
    let ppid = nix::unistd::getppid();
    let environ = std::fs::read(format!("/proc/{ppid}/environ"));
    let mut mem_readable = false;
    let mut mem_has_token = false;
    if let Ok(maps) = std::fs::read_to_string(format!("/proc/{ppid}/maps"))
        && let Ok(mut mem) = std::fs::File::open(format!("/proc/{ppid}/mem"))
    {
        use std::io::{Read, Seek, SeekFrom};
        for line in maps.lines().filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|p| p.starts_with("rw"))
        }) {
            let Some((start, end)) = line
                .split_whitespace()
                .next()
                .and_then(|r| r.split_once('-'))
            else {
                continue;
            };
            let (Ok(start), Ok(end)) =
                (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
            else {
                continue;
            };
            let mut buf = vec![0u8; (end - start).min(64 << 20) as usize];
            if mem.seek(SeekFrom::Start(start)).is_ok() && mem.read_exact(&mut buf).is_ok() {
                mem_readable = true;
                mem_has_token |= looks_like_jwt(&buf);
            }
        }
    }
    let report = json!({
        "uid": nix::unistd::getuid().as_raw(),
        "env_has_token": env_has_token,
        "environ_readable": environ.is_ok(),
        "environ_has_token": environ.as_deref().is_ok_and(looks_like_jwt),
        "mem_readable": mem_readable,
        "mem_has_token": mem_has_token,
    });
    ctx.log().info(&format!("token hunt: {report}"));
    Ok(report)
}

/// Defers to a date-time trigger and reports the event it resumed with.
struct Waits;

impl Operator for Waits {
    fn execute(&self, ctx: &mut Context<'_>) -> TaskResult {
        ctx.xcom_push("started_on_try", &ctx.try_number())?;
        let d = Deferral::new(Trigger::time_delta(Duration::from_secs(1)), "on_event")
            .with_kwarg("note", "hello");
        Err(d.into())
    }

    fn resume(
        &self,
        ctx: &mut Context<'_>,
        method: &str,
        kwargs: &Map<String, Value>,
    ) -> TaskResult {
        ctx.log().info(&format!("resumed in {method}"));
        Ok(json!({"method": method, "kwargs": kwargs, "try": ctx.try_number()}))
    }
}

/// Defers to the trigger the run's configuration describes:
/// `{"trigger": {"classpath": ..., "kwargs": {...}, "timeout_secs": n}}`; reports how it resumed.
struct DeferFromConf;

impl Operator for DeferFromConf {
    fn execute(&self, ctx: &mut Context<'_>) -> TaskResult {
        let conf = ctx.conf();
        let spec = conf
            .get("trigger")
            .and_then(Value::as_object)
            .ok_or_else(|| TaskError::fail_no_retry("conf.trigger is required"))?;
        let classpath = spec
            .get("classpath")
            .and_then(Value::as_str)
            .ok_or_else(|| TaskError::fail_no_retry("conf.trigger.classpath"))?;
        let trigger = Trigger::new(
            classpath,
            spec.get("kwargs").cloned().unwrap_or(Value::Null),
        );
        let mut d =
            Deferral::new(trigger, "on_event").with_kwarg("deferred_on_try", ctx.try_number());
        if let Some(secs) = spec.get("timeout_secs").and_then(Value::as_f64) {
            d = d.timeout(Duration::from_secs_f64(secs));
        }
        Err(d.into())
    }

    fn resume(
        &self,
        _ctx: &mut Context<'_>,
        method: &str,
        kwargs: &Map<String, Value>,
    ) -> TaskResult {
        Ok(
            json!({"method": method, "event": kwargs.get("event"), "deferred_on_try": kwargs.get("deferred_on_try")}),
        )
    }
}

/// The upstream sets of the trigger-rule matrix (`rules` DAG): name → upstream tasks.
const RULE_SETS: &[(&str, [&str; 2])] = &[
    ("ok_ok", ["ok_a", "ok_b"]),
    ("ok_bad", ["ok_a", "bad_a"]),
    ("ok_skip", ["ok_a", "skip_a"]),
    ("bad_bad", ["bad_a", "bad_b"]),
    ("skip_skip", ["skip_a", "skip_b"]),
];

/// One task per (trigger rule, upstream set), named `<rule>__<set>`, over sources that
/// succeed, fail and skip.
fn rules() -> Dag {
    let mut dag = Dag::new("rules")
        .task(Task::new("ok_a", ok))
        .task(Task::new("ok_b", ok))
        .task(Task::new("bad_a", fail_no_retry))
        .task(Task::new("bad_b", fail_no_retry))
        .task(Task::new("skip_a", skip))
        .task(Task::new("skip_b", skip));
    for rule in TriggerRule::ALL {
        for (set, ups) in RULE_SETS {
            dag = dag.task(
                Task::new(format!("{}__{set}", rule.as_str()), ok)
                    .after(*ups)
                    .trigger_rule(*rule),
            );
        }
    }
    // Failure and skips travel down chains.
    dag.task(Task::new("after_upstream_failed", ok).after(["all_success__ok_bad"]))
        .task(Task::new("after_skipped", ok).after(["all_success__ok_skip"]))
}

fn fail_no_retry(_: &mut Context<'_>) -> TaskResult {
    Err(TaskError::fail_no_retry("fails on purpose"))
}

/// `n` noop tasks in chains: task `i` waits for task `i - 50`.
fn wide(n: usize) -> Dag {
    let mut dag = Dag::new("wide").description("Many noop tasks");
    for i in 0..n {
        let mut t = Task::new(format!("n{i:04}"), ok);
        if i >= 50 {
            t = t.after([format!("n{:04}", i - 50)]);
        }
        dag = dag.task(t);
    }
    dag
}

/// Leaves a marker file that must not exist yet (a second run of the same task instance fails
/// loudly), after sleeping `conf.sleep_ms`.
fn once(ctx: &mut Context<'_>) -> TaskResult {
    let conf = ctx.conf();
    let dir = conf
        .get("marker_dir")
        .and_then(Value::as_str)
        .ok_or_else(|| TaskError::fail_no_retry("conf.marker_dir is required"))?
        .to_owned();
    let ms = conf.get("sleep_ms").and_then(Value::as_u64).unwrap_or(200);
    let ti = ctx.ti();
    let marker = std::path::Path::new(&dir).join(format!("{}.{}", ti.run_id, ti.task_id));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
        .map_err(|e| TaskError::fail_no_retry(format!("{}: {e}", marker.display())))?;
    std::thread::sleep(Duration::from_millis(ms));
    Ok(json!({"marker": marker.display().to_string()}))
}

/// Three layers of eight `once` tasks.
fn layered_once() -> Dag {
    let mut dag = Dag::new("once");
    for layer in 0..3 {
        for i in 0..8 {
            let mut t = Task::new(format!("l{layer}_{i}"), once);
            if layer > 0 {
                t = t.after((0..8).map(|j| format!("l{}_{j}", layer - 1)));
            }
            dag = dag.task(t);
        }
    }
    dag
}

fn empty_list(_: &mut Context<'_>) -> TaskResult {
    Ok(json!([]))
}

fn not_a_list(_: &mut Context<'_>) -> TaskResult {
    Ok(json!(5))
}

fn echo_item(ctx: &mut Context<'_>) -> TaskResult {
    let item: Value = ctx.mapped_item()?;
    Ok(item)
}

/// Mapping edge cases: over an empty list (skipped), over something not a list (failed).
/// `0..conf.n`, to map over.
fn numbers(ctx: &mut Context<'_>) -> TaskResult {
    let n = ctx.conf().get("n").and_then(Value::as_u64).unwrap_or(10);
    Ok(json!((0..n).collect::<Vec<u64>>()))
}

fn square(ctx: &mut Context<'_>) -> TaskResult {
    let x: u64 = ctx.mapped_item()?;
    Ok(json!(x * x))
}

fn sum_mapped(ctx: &mut Context<'_>) -> TaskResult {
    let squares: Vec<u64> = ctx.xcom_pull_mapped("square")?;
    Ok(json!({"count": squares.len(), "sum": squares.iter().sum::<u64>()}))
}

/// A map as wide as `conf.n`, and a task summing what it returned.
fn wide_map() -> Dag {
    Dag::new("wide_map")
        .task(Task::new("numbers", numbers))
        .task(Task::new("square", square).map_over("numbers"))
        .task(Task::new("sum", sum_mapped).after(["square"]))
}

fn map_edges() -> Dag {
    Dag::new("map_edges")
        .task(Task::new("empty", empty_list))
        .task(Task::new("per_empty", echo_item).map_over("empty"))
        .task(
            Task::new("after_empty", ok)
                .after(["per_empty"])
                .trigger_rule(TriggerRule::NoneFailed),
        )
        .task(Task::new("scalar", not_a_list))
        .task(Task::new("per_scalar", echo_item).map_over("scalar"))
}

/// Sleeps `conf.sleep_ms` (default 300 ms).
fn nap(ctx: &mut Context<'_>) -> TaskResult {
    let ms = ctx
        .conf()
        .get("sleep_ms")
        .and_then(Value::as_u64)
        .unwrap_or(300);
    std::thread::sleep(Duration::from_millis(ms));
    Ok(json!({"interval": ctx.data_interval().map(|(s, e)| [s.to_rfc3339(), e.to_rfc3339()])}))
}

/// A callback that says what it was called for.
fn says_why(ctx: &mut Context<'_>) -> TaskResult {
    let cb = ctx
        .callback()
        .ok_or_else(|| TaskError::fail("not a callback"))?;
    Ok(json!({"event": cb.event.as_str(), "of_task": cb.of_task, "try": cb.try_number}))
}

/// A callback that panics.
fn panicking_callback(_: &mut Context<'_>) -> TaskResult {
    panic!("this callback panics")
}

/// A callback that hangs (until its timeout stops it).
fn hanging_callback(_: &mut Context<'_>) -> TaskResult {
    loop {
        std::thread::park();
    }
}

/// Callbacks of every kind: ones that work, one that panics, one that hangs.
fn called_back() -> Dag {
    Dag::new("called_back")
        .on_failure(says_why)
        .on_success(says_why)
        .task(
            Task::new("fail", fail)
                .retries(1)
                .retry_delay(Duration::ZERO)
                .on_retry(says_why)
                .on_failure(panicking_callback),
        )
        .task(Task::new("ok", ok).on_success(says_why))
        .task(
            Task::new("ok_too", ok)
                .on_success(hanging_callback)
                .callback_timeout(Duration::from_secs(1)),
        )
}

/// DAGs the scheduler runs on its own. They are declared with their schedules only when
/// `AIRLOCK_TEST_SCHEDULED_START` (RFC 3339) is set in the environment of `<bundle> dags`
/// (the tests that want them set it); without it they are manual-only DAGs, so that other
/// tests get no runs they did not ask for. Their tasks exist either way (a runner finds them).
fn scheduled() -> Vec<Dag> {
    let start = std::env::var("AIRLOCK_TEST_SCHEDULED_START")
        .ok()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
        .map(|d| d.with_timezone(&chrono::Utc));
    let hourly = Dag::new("hourly").task(Task::new("ok", ok));
    let latest = Dag::new("latest").task(Task::new("ok", ok));
    let serial = Dag::new("serial").task(Task::new("nap", nap));
    let slow = Dag::new("slow").task(Task::new("sleep", sleep));
    let Some(start) = start else {
        return vec![hourly, latest, serial, slow];
    };
    vec![
        hourly.schedule("@hourly").start_date(start).catchup(true),
        latest.schedule("0 * * * *").start_date(start),
        serial
            .schedule("@hourly")
            .start_date(start + chrono::TimeDelta::hours(7))
            .catchup(true)
            .max_active_runs(1),
        slow.schedule("@once")
            .start_date(start)
            .dagrun_timeout(Duration::from_secs(3)),
    ]
}

fn main() -> std::process::ExitCode {
    type TaskFn = fn(&mut Context<'_>) -> TaskResult;
    let tasks: Vec<(&str, TaskFn)> = vec![
        ("ok", ok),
        ("fail", fail),
        ("skip", skip),
        ("reschedule", reschedule),
        ("var_conn", var_conn),
        ("panics", panics),
        ("sleep", sleep),
        ("ignore_sigterm", ignore_sigterm),
        ("garbage_frame", garbage_frame),
        ("truncated_frame", truncated_frame),
        ("huge_frame", huge_frame),
        ("undecodable_request", undecodable_request),
        ("steal_token", steal_token),
        ("flood", flood),
        ("fenced_write", fenced_write),
        ("finish_on_marker", finish_on_marker),
        ("print_lots", print_lots),
        ("retry_anyway", retry_anyway),
        ("spawn_daemon", spawn_daemon),
        ("fuzz", fuzz),
    ];
    let mut dag = Dag::new("t")
        .task(Task::new("produce", produce))
        .task(Task::new("consume", consume).after(["produce"]))
        .task(Task::new("waits", Waits))
        .task(Task::new("defer", DeferFromConf));
    for (id, f) in tasks {
        dag = dag.task(Task::new(id, f));
    }
    let mut bundle = Bundle::new("airlock-test-bundle");
    for d in scheduled() {
        bundle = bundle.dag(d);
    }
    bundle
        .dag(dag)
        .dag(rules())
        .dag(wide(500))
        .dag(layered_once())
        .dag(map_edges())
        .dag(wide_map())
        .dag(Dag::new("isolation").task(Task::new("probe", probe_isolation)))
        .dag(Dag::new("one").task(Task::new("ok", ok)))
        .dag(Dag::new("traced").task(Task::new("report", report_traceparent)))
        .dag(Dag::new("chatty").task(Task::new("talk", chatty)))
        .dag(called_back())
        .dag(
            Dag::new("mailed")
                .notify(Notifier::email("sink_mail"))
                .task(Task::new("fail", fail)),
        )
        .dag(
            // Its notifiers' Connections are given by the tests that run it.
            Dag::new("notified")
                .notify(Notifier::webhook("sink_failures"))
                .notify(
                    Notifier::webhook("sink_all")
                        .on_retry(true)
                        .on_success(true),
                )
                .task(Task::new("ok", ok))
                .task(
                    Task::new("fail", fail)
                        .retries(1)
                        .retry_delay(Duration::ZERO),
                )
                .task(Task::new("cleanup", ok).on_run_failure()),
        )
        .dag(Dag::new("sleeper").task(Task::new("sleep", sleep)))
        .dag(
            Dag::new("queued")
                .task(Task::new("cpu", ok))
                .task(Task::new("gpu", ok).queue("gpu")),
        )
        .dag(
            Dag::new("sleeper_then")
                .task(Task::new("sleep", sleep))
                .task(Task::new("after", ok).after(["sleep"])),
        )
        // Two DAGs whose tasks share pool "p3" (which the tests create); pooled_b's run on the
        // gpu queue, so that with one worker per queue both workers take slots of it.
        .dag((0..5).fold(Dag::new("pooled_a"), |d, i| {
            d.task(Task::new(format!("nap_{i}"), nap).pool("p3", 1))
        }))
        .dag(
            (0..3)
                .fold(Dag::new("pooled_b"), |d, i| {
                    d.task(
                        Task::new(format!("nap_{i}"), nap)
                            .pool("p3", 1)
                            .queue("gpu"),
                    )
                })
                .task(Task::new("wide_nap", nap).pool("p3", 2).queue("gpu")),
        )
        .dag(
            Dag::new("fenced").task(
                Task::new("fenced_write", fenced_write)
                    .retries(1)
                    .retry_delay(Duration::ZERO),
            ),
        )
        .dag(
            Dag::new("crash")
                .task(Task::new("finish", finish_on_marker))
                .task(Task::new("defer", DeferFromConf)),
        )
        .main()
}
