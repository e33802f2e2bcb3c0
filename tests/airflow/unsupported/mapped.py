"""An Airflow DAG using dynamic task mapping, which the Airflow bundle reports it cannot run yet."""

from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def mapped():
    @task
    def numbers():
        return [1, 2, 3]

    @task
    def double(x):
        return 2 * x

    double.expand(x=numbers())


mapped()
