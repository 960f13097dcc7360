"""Run the teaching notebooks and store them with their outputs.

A student browsing ``examples/`` on GitHub sees the plots and numbers without
running anything. Each notebook is executed top to bottom in a fresh kernel
(nbclient, as nbmake does in CI) and written back in place; execution counts
are renumbered from 1 and no timing metadata is kept, so a rerun changes only
what the outputs changed.

    python tools/execute_notebooks.py                  # every examples/*.ipynb
    python tools/execute_notebooks.py examples/05_semi_supervised.ipynb
"""

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def execute(path, timeout):
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    # the notebooks' own folder as working directory, as nbmake runs them
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}},
                   record_timing=False).execute()
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        default=sorted((ROOT / "examples").glob("*.ipynb")))
    parser.add_argument("--timeout", type=int, default=900,
                        help="seconds a cell may take (default: %(default)s)")
    args = parser.parse_args()
    # figures as outputs, even where MPLBACKEND=Agg is set (as CI sets it)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    for path in args.notebooks:
        seconds = execute(path.resolve(), args.timeout)
        print(f"{path}: {seconds:.0f} s, {path.stat().st_size / 1024:.0f} KiB",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
