"""The Spark session the job runs in: a local one by default, or a cluster's by master URL."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

__all__ = ["DEFAULT_MASTER", "quiet_pandas_warning", "spark_session"]

#: The master used when none is given: two local cores.
DEFAULT_MASTER = "local[2]"


@contextmanager
def quiet_pandas_warning() -> Iterator[None]:
    """Silence pyspark's one warning about pandas >= 3, only around the calls that emit it.

    pyspark 4.3 warns (``FutureWarning``) when a session starts and whenever a pandas UDF
    is declared with pandas 3 installed. The job's UDFs take and return plain numeric, boolean and string
    columns, which convert the same; its agreement with the engine is tested.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        yield


@contextmanager
def spark_session(
    master: str | None = None,
    *,
    app_name: str = "credence-spark",
    shuffle_partitions: int | None = None,
    driver_memory: str | None = None,
    ui_port: int | None = None,
) -> Iterator[SparkSession]:
    """A Spark session for the job; stopped at exit only if it was started here.

    Parameters
    ----------
    master : str, optional
        Spark master URL (default :data:`DEFAULT_MASTER`). Ignored when a session is
        already active in this process: that one is used (and left running).
    app_name : str
        The application's name.
    shuffle_partitions : int, optional
        ``spark.sql.shuffle.partitions`` of a new session (default: twice the local
        cores for a local master, Spark's default otherwise).
    driver_memory : str, optional
        ``spark.driver.memory`` of a new session (e.g. ``"4g"``; in local mode the
        executors live in the driver's JVM).
    ui_port : int, optional
        Serve the web UI and its REST API (``/api/v1``, where the benchmark reads the
        bytes shuffled) on this port of 127.0.0.1; a local session has none otherwise.

    Yields
    ------
    SparkSession

    Notes
    -----
    A local master binds to the loopback address, runs the Python workers with this
    interpreter (so they import the same Credence and numpy) and has no web UI.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    url = master or DEFAULT_MASTER
    builder = SparkSession.builder.master(url).appName(app_name)
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    if url.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false" if ui_port is None else "true")
            .config("spark.sql.shuffle.partitions", str(shuffle_partitions or 2 * (os.cpu_count() or 1)))
        )
        if ui_port is not None:
            builder = builder.config("spark.ui.port", str(ui_port))
    elif shuffle_partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    if driver_memory is not None:
        builder = builder.config("spark.driver.memory", driver_memory)
    with quiet_pandas_warning():  # starting a session checks the pandas version too
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
