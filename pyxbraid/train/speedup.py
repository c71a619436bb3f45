"""The model speed-up of Schroder 2017: sequential step applications on
MGRIT's critical path, with one rank per coarse interval of the fine grid
(N/m ranks), against the N steps of serial training.  Communication is free
in this model; every step costs the same on every level."""


def _per_level(value, level, default):
    if isinstance(value, dict):
        return value.get(level, value.get(-1, default))
    return value


def hierarchy(ntime, nlevels, cfactor=2):
    """(points, factors): the last index G_l of every level and the
    coarsening factors m_l of the levels above the coarsest."""
    points, factors = [ntime], []
    for level in range(nlevels - 1):
        factors.append(_per_level(cfactor, level, 2))
        points.append(points[-1] // factors[-1])
    return points, factors


def replay_cycle(nlevels, niter, relax, restrict, interpolate, fmg=False, nfmg=-1,
                 nfmg_vcyc=1, skip=True):
    """Sum the costs of the actions of `niter` iterations of the braid core's
    cycle (V-cycles, or F-cycles with fmg): relax(l) and restrict(l) on the
    way down, interpolate(l) on the way up (the coarsest level's is its
    sequential solve)."""
    coarsest = nlevels - 1
    total, iteration, level, down, try_refine, fmg_v = 0, 0, 0, True, False, 0
    if skip:
        level = coarsest
    fmglevel = coarsest if (fmg and nfmg != 0) else 0
    while iteration < niter:
        if down and level == coarsest:
            down = False
        if not down:
            if level > 0:
                if level < fmglevel:
                    fmg_v += 1
                    if fmg_v == nfmg_vcyc:
                        fmg_v, fmglevel = 0, fmglevel - 1
                    down = True
            elif not try_refine:
                try_refine = True
            else:
                if fmg and nfmg != iteration:
                    fmglevel = coarsest
                try_refine, down = False, True
        if down:
            total += relax(level) + restrict(level)
            level += 1
        elif level > 0:
            total += interpolate(level)
            level -= 1
        else:
            iteration += 1
    return total


def critical_path(ntime, nlevels, niter, cfactor=2, nrelax=1, fmg=False, nfmg=-1,
                  nfmg_vcyc=1, skip=True, nranks=None):
    """Steps on the critical path of a solve of `niter` iterations (XBraid's
    count, the skipped iteration 0 included) on `nranks` ranks (default: one
    rank per coarse interval of the fine grid, N/m ranks, as in Schroder 2017).

    On a level with coarsening factor m where each rank holds k points, a
    sweep costs about max(k, m) steps: a rank steps its points one after the
    other, and an interval spread over several ranks is a pipeline of m
    steps.  One F-C relaxation sweep costs that; restriction F-relaxes, then
    computes the residuals at the C-points and the coarse right-hand sides
    (max(k/m, 1) each); interpolation F-relaxes; the coarsest level is a
    sequential solve over all its points; the final F-sweep before access
    is one more F-relaxation of the fine level."""
    if nlevels <= 1:
        return ntime
    points, factors = hierarchy(ntime, nlevels, cfactor)
    nranks = nranks or max(1, ntime // factors[0])
    coarsest = nlevels - 1

    def sweep(level):
        return max(-(-points[level] // nranks), factors[level])

    def cpoints(level):
        return max(-(-points[level] // (nranks * factors[level])), 1)

    path = replay_cycle(
        nlevels, niter,
        relax=lambda level: _per_level(nrelax, level, 1) * sweep(level),
        restrict=lambda level: sweep(level) + cpoints(level),
        interpolate=lambda level: points[coarsest] if level == coarsest
        else sweep(level) - cpoints(level),
        fmg=fmg, nfmg=nfmg, nfmg_vcyc=nfmg_vcyc, skip=skip)
    return path + sweep(0) - cpoints(0)


def layer_parallel_speedup(n_layers, nlevels, forward_iterations, adjoint_iterations,
                           cfactor=2, nrelax=1, nranks=None, adjoint_nlevels=None,
                           adjoint_cfactor=None, adjoint_nrelax=None):
    """Layer-parallel training's model speed-up: the layer evaluations of
    serial training (N forward steps, N adjoint steps, N layer gradients) over
    the critical path of the forward and adjoint solves (warm-started: no
    skipped cycle) and of each rank's layer gradients, on `nranks` ranks
    (default: one rank per coarse interval of the forward solve).  nlevels,
    cfactor and nrelax are the forward solve's; the adjoint's default to
    them."""
    nranks = nranks or max(1, n_layers // _per_level(cfactor, 0, 2))
    solves = ((nlevels, forward_iterations, cfactor, nrelax),
              (nlevels if adjoint_nlevels is None else adjoint_nlevels, adjoint_iterations,
               cfactor if adjoint_cfactor is None else adjoint_cfactor,
               nrelax if adjoint_nrelax is None else adjoint_nrelax))
    path = sum(critical_path(n_layers, levels, iterations, cfactor=m, nrelax=nu, skip=False,
                             nranks=nranks)
               for levels, iterations, m, nu in solves)
    return 3 * n_layers / (path + -(-n_layers // nranks))
