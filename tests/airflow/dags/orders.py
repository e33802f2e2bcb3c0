"""An unmodified Airflow 3 DAG file: TaskFlow tasks passing XComs, a BashOperator, a trigger
rule and retries. It imports only Airflow (airflow.sdk and the standard provider)."""

from datetime import datetime, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1), tags=["airflow"], description="Orders, the Airflow way")
def orders():
    @task(retries=2, retry_delay=timedelta(seconds=5))
    def extract():
        return {"orders": 5, "cents": [1250, 3000]}

    @task
    def load(data):
        print(f"loading {data['orders']} orders")
        return data["orders"] * 2

    announce = BashOperator(
        task_id="announce",
        bash_command="echo hello from bash",
        trigger_rule="all_done",
        execution_timeout=timedelta(minutes=5),
    )
    load(extract()) >> announce


orders()
