"""A DAG that registers although its neighbours in the folder cannot."""

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG("fine", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False):
    EmptyOperator(task_id="nothing")
