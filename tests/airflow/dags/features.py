"""Airflow features a DAG file uses every day, in plain Airflow 3 syntax: branching,
short-circuit, explicit XCom push and pull, Variables, Connections, run conf and params,
templated fields, and a retry."""

from datetime import datetime, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Variable, task
from airflow.sdk.bases.hook import BaseHook


def push_explicitly(ti):
    ti.xcom_push(key="batch", value={"rows": 42})


def pull_explicitly(ti):
    batch = ti.xcom_pull(task_ids="push", key="batch")
    return batch["rows"] + 1


with DAG(
    "features",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    params={"greeting": "hello", "limit": 3},
    tags=["airflow"],
):

    @task.branch
    def choose(**context):
        return "chosen" if context["params"]["limit"] > 2 else "passed_over"

    @task
    def chosen():
        return "chosen ran"

    @task
    def passed_over():
        return "should be skipped"

    @task.short_circuit
    def gate():
        return False

    @task
    def behind_gate():
        return "should be skipped"

    @task
    def settings():
        conn = BaseHook.get_connection("warehouse")
        return {
            "region": Variable.get("region"),
            "missing": Variable.get("no_such_variable", default="fallback"),
            "host": conn.host,
            "login": conn.login,
        }

    @task
    def from_conf(**context):
        return {"who": context["dag_run"].conf.get("who"), "limit": context["params"]["limit"]}

    @task(retries=1, retry_delay=timedelta(seconds=1))
    def flaky(**context):
        if context["ti"].try_number < 2:
            raise RuntimeError("first try fails on purpose")
        return context["ti"].try_number

    push = PythonOperator(task_id="push", python_callable=push_explicitly)
    pull = PythonOperator(task_id="pull", python_callable=pull_explicitly)
    greet = BashOperator(
        task_id="greet",
        bash_command="echo '{{ params.greeting }}, {{ dag_run.conf.get(\"who\", \"nobody\") }}'",
    )

    choose() >> [chosen(), passed_over()]
    gate() >> behind_gate()
    push >> pull
    settings()
    from_conf()
    flaky()
    greet
