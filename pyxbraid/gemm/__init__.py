"""A tiled, out-of-core, multi-worker GEMM engine (Wang et al. 2015, BLASX).

    from pyxbraid.gemm import TiledEngine
    with TiledEngine(workers=2, memory=256 * 2**20) as engine:
        engine.gemm(a, b, c, alpha=1.0, beta=0.0, trans_a=False, trans_b=False)

tiles: how a product is cut and the queue of output tiles; cache: a worker's
bounded tile cache; engine: the workers and the engine; outofcore: matrices
kept in files."""
from pyxbraid.gemm.engine import (BudgetError, EngineTotals, ProductStats, TiledEngine,
                                  WorkerStats)

__all__ = ["TiledEngine", "ProductStats", "WorkerStats", "EngineTotals", "BudgetError"]
