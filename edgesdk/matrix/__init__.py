"""`edgesdk matrix`: many builds (manifests x targets x runtimes x precisions x overrides) from one
matrix file, each an ordinary build in a process of its own, on local processes or Ray (docs/matrix.md)."""

from edgesdk.matrix.run import MatrixResult, run_matrix
from edgesdk.matrix.spec import Cell, Matrix, load_matrix

__all__ = ["Cell", "Matrix", "MatrixResult", "load_matrix", "run_matrix"]
