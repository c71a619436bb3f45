"""mgrit-train: parallel-in-time training with MGRIT, launched with mpirun.

    mpirun -n 4 mgrit-train info
"""
import platform
import sys

import click

import pyxbraid
from pyxbraid import MPI


def _rank0_echo(message):
    if MPI.COMM_WORLD.rank == 0:
        click.echo(message)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(pyxbraid.__version__, prog_name="mgrit-train")
def main():
    """Parallel-in-time training of neural networks with MGRIT (XBraid's algorithm)."""


@main.command()
def info():
    """Versions, the MPI library, the braid library in use and the number of ranks."""
    import mpi4py
    import numpy

    comm = MPI.COMM_WORLD
    library = " ".join(MPI.Get_library_version().split("\n")[0].split())
    major, minor = MPI.Get_version()
    lines = [
        f"pyxbraid      {pyxbraid.__version__}",
        f"braid library {pyxbraid.BRAID_LIBRARY} "
        + ("(vendor/xbraid, this project's implementation of XBraid v3.1)"
           if pyxbraid.BRAID_LIBRARY == "vendored" else "(LLNL XBraid, XBRAID_DIR)"),
        f"python        {platform.python_version()} ({sys.executable})",
        f"numpy         {numpy.__version__}",
        f"mpi4py        {mpi4py.__version__}",
        f"MPI           {library} (MPI {major}.{minor})",
        f"ranks         {comm.size}",
    ]
    _rank0_echo("\n".join(lines))


if __name__ == "__main__":
    main()
