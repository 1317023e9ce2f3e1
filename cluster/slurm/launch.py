"""Start seisbatch GPU workers on SLURM with dask-jobqueue and run a command against them.

    python cluster/slurm/launch.py --jobs 4 -- seisbatch denoise /scratch/survey.zarr
    python cluster/slurm/launch.py --jobs 4 --print-job-script

The scheduler runs here (a login or batch node); each SLURM job runs one worker on one GPU, as
configured in jobqueue.yaml beside this file (override values with DASK_JOBQUEUE__SLURM__...).
The command gets the scheduler's address through --scheduler, appended for you.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import dask.config
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))


def load_config(path: str = os.path.join(HERE, "jobqueue.yaml")) -> None:
    """Make the file's values the defaults: they replace dask-jobqueue's own defaults, while any
    value the user set (their Dask config files, DASK_JOBQUEUE__... variables) still wins."""
    with open(path) as fh:
        dask.config.update_defaults(yaml.safe_load(fh))


def make_cluster(**overrides):
    from dask_jobqueue import SLURMCluster

    load_config()
    return SLURMCluster(**overrides)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=1, help="SLURM jobs (= GPUs = workers) to start (default 1)")
    p.add_argument("--print-job-script", action="store_true", help="print the job script and exit")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command to run against the cluster, after --")
    a = p.parse_args()
    cluster = make_cluster()
    if a.print_job_script:
        print(cluster.job_script())
        return
    cluster.scale(jobs=a.jobs)
    from distributed import Client

    with Client(cluster) as client:
        client.wait_for_workers(1)
        cmd = [c for c in a.command if c != "--"]
        if cmd:
            sys.exit(subprocess.call(cmd + ["--scheduler", cluster.scheduler_address]))


if __name__ == "__main__":
    main()
