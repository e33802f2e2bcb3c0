"""A DAG file with a syntax error."""

from airflow.sdk import dag

def broken(:
    pass
