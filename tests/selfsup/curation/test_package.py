import subprocess
import sys


def test_importing_the_curation_modules_loads_neither_torch_nor_umap_nor_usearch() -> None:
    # A fresh interpreter: umap compiles with numba on import (seconds), and the engine here needs no torch.
    modules = "fewshot, maps, neighbors, quality, search, selection"
    heavy = "{'torch', 'umap', 'usearch'}"
    code = f"import sys\nfrom selfsup.curation import {modules}\nprint(sorted({heavy} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
