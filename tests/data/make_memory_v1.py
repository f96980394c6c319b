"""Write tests/data/memory_v1.sqlite: a memory database as codebind wrote it at schema version 1
(the codebook set in the column of its former name), for the migration test
(tests/test_memory_migration.py). It was run once, before the schema changed:

    .venv/bin/python tests/data/make_memory_v1.py tests/data/memory_v1.sqlite

Contents (all from seeded generators): two codebook sets, "depth" (K=16, d*=4, m=8) and "audio"
(K=16, d*=4, m=8); 120 "depth" and 40 "audio" observations (positions, sizes, boxes, specific
codes on the depth ones); 4 objects in frame "map" made from two frames of proposals, one
relabelled. Positional arguments only, so that the script reads the same before and after the
field rename.
"""
import sys

import numpy as np

from codebind_core.memory import CodebookSet, MemoryConfig, ObjectConfig, ObjectMemory, ObjectProposal, Observation

K, D_SUB, M = 16, 4, 8
S = 10 ** 9


def codebooks() -> CodebookSet:
    rng = np.random.default_rng(11)
    books = {}
    for name in ("depth", "audio"):
        b = rng.standard_normal((K, D_SUB)).astype(np.float32)
        books[name] = b / np.linalg.norm(b, axis=1, keepdims=True)
    return CodebookSet(books)


def main(db_path: str) -> None:
    rng = np.random.default_rng(12)
    mem = ObjectMemory.open(db_path, codebooks(), MemoryConfig(), ObjectConfig("map"))
    obs = [Observation("depth", "depth", rng.integers(0, K, M), 1000 + i, "map", (float(i), 0.5, 1.0),
                       (0.1, 0.2, 0.3), (1.0, 2.0, 30.0, 40.0), rng.integers(0, 300, 4), "model-a")
           for i in range(120)]
    obs += [Observation("audio", "audio", rng.integers(0, K, M), 5000 + i, "base", None, None, None, None, "model-a")
            for i in range(40)]
    mem.observations.add(obs[:100])
    mem.observations.add(obs[100:])
    protos = rng.standard_normal((4, M * D_SUB))
    centres = [(0.0, 0.0, 0.8), (1.0, 0.0, 0.8), (0.0, 1.0, 0.8), (1.0, 1.0, 0.8)]
    for t in range(2):
        props = [ObjectProposal("depth", (t + 1) * S, tuple(np.add(c, 0.01 * t)), None,
                                protos[j] + 0.05 * rng.standard_normal(M * D_SUB), (0.1, 0.1, 0.1), "camera", "",
                                f"object {j}", "map") for j, c in enumerate(centres)]
        mem.observe(props)
    mem.set_label(1, "renamed label")
    mem.close()


if __name__ == "__main__":
    main(sys.argv[1])
