"""An Airlock bundle for a folder of unmodified Airflow 3 DAG files.

    python airlock_airflow.py --dags-folder DIR --bundle NAME dags   # Airlock's DAG definitions
    python airlock_airflow.py --dags-folder DIR --bundle NAME run    # one try: Airflow's runner

``dags`` loads the folder with Airflow's own DAG parsing and prints the bundle definition Airlock
registers (JSON on stdout). A file that cannot be imported, or a DAG that Airlock cannot run as
written, is left out and reported as an ``error: `` line on stderr naming the file, or the DAG,
the task and the feature; Airlock registers the other DAGs and reports those lines (``airlock
dags sync`` prints them and exits 1; a worker logs them), so nothing is dropped silently.

``run`` hands the try to Airflow's own task runner
(``airflow.sdk.execution_time.task_runner.main``), which speaks the Task SDK frames with
Airlock's supervisor over fd 0.

Both commands point Airflow at the folder as a local DAG bundle named NAME and keep Airflow's
home out of the way (see ``configure``).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

# Airflow's trigger rules that Airlock evaluates the same way.
TRIGGER_RULES = {
    "all_success",
    "all_failed",
    "all_done",
    "one_success",
    "one_failed",
    "none_failed",
    "none_skipped",
    "always",
}


class Unsupported(Exception):
    """A DAG or task feature Airlock cannot run as written."""


def configure(dags_folder: Path, bundle: str, command: str) -> None:
    """Points Airflow at the folder (as the bundle NAME) before anything of Airflow is imported."""
    os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
        [
            {
                "name": bundle,
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(dags_folder)},
            }
        ]
    )
    # Airflow writes its home (a default airflow.cfg, logs) on import: a try keeps it in the
    # working directory its supervisor made for it; `dags` in a directory of its own, removed
    # when it ends.
    if "AIRFLOW_HOME" not in os.environ:
        if command == "run":
            os.environ["AIRFLOW_HOME"] = str(Path.cwd() / ".airflow")
        else:
            home = tempfile.mkdtemp(prefix="airlock-airflow-")
            atexit.register(shutil.rmtree, home, ignore_errors=True)
            os.environ["AIRFLOW_HOME"] = home
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def schedule_of(dag) -> dict:
    """The DAG's schedule, start date and catchup, as Airlock's definition spells them."""
    schedule = getattr(dag, "schedule", None)
    out: dict = {"catchup": bool(getattr(dag, "catchup", False))}
    if schedule is None:
        return out
    if isinstance(schedule, str):
        out["schedule"] = schedule
    elif isinstance(schedule, timedelta):
        out["schedule"] = {"every": schedule.total_seconds()}
    else:
        raise Unsupported(
            f"DAG {dag.dag_id!r}: schedule {type(schedule).__name__} (only cron strings, presets "
            "and timedeltas are supported)"
        )
    if dag.start_date is not None:
        out["start_date"] = dag.start_date.isoformat()
    return out


def task_of(dag, task) -> dict:
    """One task as Airlock's task definition."""
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    where = f"DAG {dag.dag_id!r}, task {task.task_id!r}"
    if isinstance(task, MappedOperator):
        raise Unsupported(f"{where}: dynamic task mapping (.expand) is not supported yet")
    rule = str(getattr(task.trigger_rule, "value", task.trigger_rule))
    if rule not in TRIGGER_RULES:
        raise Unsupported(f"{where}: trigger rule {rule!r} is not supported")
    backoff = task.retry_exponential_backoff
    definition = {
        "task_id": task.task_id,
        "operator": task.task_type,
        "upstream": sorted(task.upstream_task_ids),
        "trigger_rule": rule,
        "retries": int(task.retries or 0),
        "retry_delay": seconds(task.retry_delay) or 0.0,
        "retry_exponential_backoff": bool(backoff),
        "max_retry_delay": seconds(task.max_retry_delay),
        "execution_timeout": seconds(task.execution_timeout),
        "queue": task.queue or "default",
        "pool": task.pool or "default_pool",
        "pool_slots": int(task.pool_slots or 1),
        "priority_weight": int(task.priority_weight),
    }
    group = getattr(task, "task_group", None)
    if group is not None and getattr(group, "group_id", None):
        definition["task_group_id"] = group.group_id
    return definition


def import_error(path: Path, error: str, dags_folder: Path) -> str:
    """A file's import error in one line: the file, the exception and the line it points at
    (Airflow keeps the whole traceback)."""
    name = path.relative_to(dags_folder) if path.is_absolute() else path
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "unknown error"
    at = re.findall(rf'File "[^"]*{re.escape(name.name)}", line (\d+)', error)
    where = f" (line {at[-1]})" if at else ""
    return f"{name}: cannot be imported: {last}{where}"


def dags(dags_folder: Path, bundle: str) -> int:
    # Airflow logs to stdout; the definition must be all that stdout carries. Keep a copy of
    # stdout for it and send everything else written to fd 1 to stderr.
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    # Parsed as Airflow's task runner parses it for a try, so both see the same DAGs.
    from airflow.dag_processing.dagbag import BundleDagBag

    bag = BundleDagBag(
        dag_folder=str(dags_folder),
        safe_mode=False,
        load_op_links=False,
        bundle_path=dags_folder,
        bundle_name=bundle,
    )
    problems = [
        f"{import_error(Path(path), str(error), dags_folder)}"
        for path, error in sorted(bag.import_errors.items())
    ]
    definitions = []
    for dag_id in sorted(bag.dags):
        dag = bag.dags[dag_id]
        try:
            definition = {
                "dag_id": dag_id,
                "description": dag.description,
                "tags": sorted(dag.tags or []),
                "relative_fileloc": os.path.relpath(dag.fileloc, dags_folder),
                "tasks": [task_of(dag, t) for t in dag.tasks],
                **schedule_of(dag),
            }
            if dag.max_active_runs is not None:
                definition["max_active_runs"] = int(dag.max_active_runs)
            if dag.dagrun_timeout is not None:
                definition["dagrun_timeout"] = seconds(dag.dagrun_timeout)
        except Unsupported as e:
            problems.append(f"{e}; the DAG is not registered")
            continue
        definitions.append(definition)
    json.dump({"bundle": bundle, "dags": definitions}, out)
    out.write("\n")
    out.flush()
    for problem in problems:
        # One line each: Airlock reads `error: ` lines as the bundle's problems.
        print("error: " + " ".join(problem.split()), file=sys.stderr)
    return 0


def run() -> int:
    # Imported, not run as __main__: Airflow's modules reach the runner's globals through
    # ``airflow.sdk.execution_time.task_runner``.
    from airflow.sdk.execution_time.task_runner import main

    main()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags-folder", required=True, type=Path)
    parser.add_argument("--bundle", required=True)
    parser.add_argument("command", choices=["dags", "run"])
    args = parser.parse_args(argv)
    folder = args.dags_folder.resolve()
    configure(folder, args.bundle, args.command)
    if args.command == "dags":
        return dags(folder, args.bundle)
    return run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
