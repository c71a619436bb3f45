/*
 * braid_test.h -- the wrapper tests: check an app's callbacks one by one,
 * before a solve, with the names and signatures of XBraid v3.1's braid_test.h.
 *
 * Every test calls the given callbacks in a fixed order, prints what it does
 * and each check's result to fp (rank 0 of comm_x; stdout when fp is NULL),
 * and returns 1 when every check passed, 0 otherwise.  comm_x is the spatial
 * communicator of the app: all its ranks call the test together, and all of
 * them return the same result.
 *
 * The status handed to a callback reads as a solve's would at a single step:
 * time t (tstop = t + dt for a step), index 0, level 0 (level 1 for a coarse
 * vector), iteration 0, not done, no residual yet (-1), calling function -1,
 * one time step in all, one time rank.
 *
 * Differences from upstream, on purpose:
 * - Every callback's return code is checked: a non-zero code (or init, clone,
 *   bufunpack, coarsen or refine giving no vector) fails the test with a
 *   message naming the callback; the test then frees what it holds and
 *   returns 0.  A test never leaks a vector or a buffer.
 * - Every test returns the flag above.  Upstream's TestInitAccess, TestClone,
 *   TestSum and TestResidual always return 0 and leave the judgement to the
 *   reader of the log; here they return 1 when their callbacks succeeded and
 *   (TestResidual) the residual check passed, and TestAll counts them.
 * - Checks added to upstream's: TestSpatialNorm also checks
 *   ||-3 u|| = 3 ||u||; TestBuf sends only the bytes bufpack reported (as a
 *   solve does) and fails when bufpack reports more than bufsize allowed;
 *   TestResidual has a pass/fail threshold; TestAll also checks, with sum and
 *   spatialnorm, that clone makes an independent copy, that sum uses both
 *   coefficients, and the triangle inequality for init(t) and init(fdt).
 */
#ifndef braid_test_HEADER
#define braid_test_HEADER

#include <stdio.h>
#include "braid.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * u = init(t), access(u) (skipped when access is NULL), free(u).
 * Checks only that the callbacks succeed; what access writes is for the user
 * to read.
 */
braid_Int braid_TestInitAccess(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t,
                               braid_PtFcnInit init, braid_PtFcnAccess access,
                               braid_PtFcnFree free);

/*
 * u = init(t), v = clone(u), access(u), access(v), free both.
 * Checks that clone succeeds and gives a new vector (not u itself); that v
 * holds u's values is for the user to read in access's output (TestAll checks
 * it in norm).
 */
braid_Int braid_TestClone(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t,
                          braid_PtFcnInit init, braid_PtFcnAccess access, braid_PtFcnFree free,
                          braid_PtFcnClone clone);

/*
 * u = init(t), v = clone(u), v = u - v (access(v): zero), v = 2u + v
 * (access(v), access(u): v = 2u), free both.  Checks that the callbacks
 * succeed; the values are for the user to read (TestAll checks them in norm).
 */
braid_Int braid_TestSum(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t,
                        braid_PtFcnInit init, braid_PtFcnAccess access, braid_PtFcnFree free,
                        braid_PtFcnClone clone, braid_PtFcnSum sum);

/*
 * With u = init(t): ||u - clone(u)|| = 0, ||u + u|| / ||u|| = 2,
 * ||0.5 u|| / ||u|| = 0.5 and ||-3 u|| / ||u|| = 3, to 1e-12; every norm
 * must be a number >= 0.  The ratios fail when u = 0 (a warning says so).
 */
braid_Int braid_TestSpatialNorm(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t,
                                braid_PtFcnInit init, braid_PtFcnFree free,
                                braid_PtFcnClone clone, braid_PtFcnSum sum,
                                braid_PtFcnSpatialNorm spatialnorm);

/*
 * u = init(t1) normalized with inner_prod must have <u, u> = 1; v = init(t2)
 * minus its component along u must have <u, v> = 0 (to 1e-12).  A check is
 * inconclusive (not failed) when u = 0, or when v = 0 or v is orthogonal to u.
 * Needs no feature beyond the callbacks, so it runs completely here.
 */
braid_Int braid_TestInnerProd(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t1,
                              braid_Real t2, braid_PtFcnInit init, braid_PtFcnFree free,
                              braid_PtFcnSum sum, braid_PtFcnInnerProd inner_prod);

/*
 * u = init(t); size = bufsize(); bufpack(u) into a buffer of that size;
 * the bytes a solve would send (size, or fewer if bufpack called
 * braid_BufferStatusSetSize) are kept, the rest overwritten; v = bufunpack();
 * checks ||u - v|| <= 1e-12, and that size > 0 and bufpack reported no more
 * than size bytes.
 */
braid_Int braid_TestBuf(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t,
                        braid_PtFcnInit init, braid_PtFcnFree free, braid_PtFcnSum sum,
                        braid_PtFcnSpatialNorm spatialnorm, braid_PtFcnBufSize bufsize,
                        braid_PtFcnBufPack bufpack, braid_PtFcnBufUnpack bufunpack);

/*
 * Spatial coarsening and refinement are not used by this library's solver,
 * but the callbacks can be checked on their own: uc = coarsen(u),
 * access(uc) (level 1) and access(u) (level 0); coarsen must be deterministic
 * (coarsen(clone(u)) = uc exactly) and so must refine; ||u - refine(uc)|| is
 * printed for the user to judge.  The status handed to coarsen and refine is
 * one of this library's (braid_CoarsenRefStatus getters do not exist here).
 */
braid_Int braid_TestCoarsenRefine(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t,
                                  braid_Real fdt, braid_Real cdt, braid_PtFcnInit init,
                                  braid_PtFcnAccess access, braid_PtFcnFree free,
                                  braid_PtFcnClone clone, braid_PtFcnSum sum,
                                  braid_PtFcnSpatialNorm spatialnorm,
                                  braid_PtFcnSCoarsen coarsen, braid_PtFcnSRefine refine);

/*
 * Step and residual must agree: with u = init(t) and fstop = 2u,
 * r = fstop - residual(step(u, fstop), u) over [t, t + dt] must be ~0.
 * Passes when ||r|| <= 1e-8 ||fstop||.  The step status reports tolerance
 * 1e-16 (as upstream), so a step that solves to braid_StepStatusGetTol solves
 * tightly.  access(r) is called when access is given.
 */
braid_Int braid_TestResidual(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t,
                             braid_Real dt, braid_PtFcnInit init, braid_PtFcnAccess access,
                             braid_PtFcnFree free, braid_PtFcnClone clone, braid_PtFcnSum sum,
                             braid_PtFcnSpatialNorm spatialnorm, braid_PtFcnResidual residual,
                             braid_PtFcnStep step);

/*
 * All of the above (without access) at t and at fdt, as upstream: InitAccess,
 * Clone, Sum, SpatialNorm, Buf twice each; CoarsenRefine when coarsen and
 * refine are given; Residual (dt = fdt) when step and residual are given.
 * Then the checks that need several callbacks (see the top of this file).
 * Returns 1 when every test passed.
 */
braid_Int braid_TestAll(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t, braid_Real fdt,
                        braid_Real cdt, braid_PtFcnInit init, braid_PtFcnFree free,
                        braid_PtFcnClone clone, braid_PtFcnSum sum,
                        braid_PtFcnSpatialNorm spatialnorm, braid_PtFcnBufSize bufsize,
                        braid_PtFcnBufPack bufpack, braid_PtFcnBufUnpack bufunpack,
                        braid_PtFcnSCoarsen coarsen, braid_PtFcnSRefine refine,
                        braid_PtFcnResidual residual, braid_PtFcnStep step);

/*
 * Delta correction is not implemented by this library.  What can be checked
 * without it is: braid_TestInnerProd at t and t + dt, and that the `rank`
 * basis vectors init_basis(t, i) are linearly independent (Gram-Schmidt with
 * inner_prod).  The check of step's propagation of the basis needs the basis
 * in the step status, which does not exist here; so the test prints why and
 * always returns 0.  access, clone, bufsize, bufpack, bufunpack and step are
 * not called.
 */
braid_Int braid_TestDelta(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t, braid_Real dt,
                          braid_Int rank, braid_PtFcnInit init, braid_PtFcnInitBasis init_basis,
                          braid_PtFcnAccess access, braid_PtFcnFree free, braid_PtFcnClone clone,
                          braid_PtFcnSum sum, braid_PtFcnBufSize bufsize,
                          braid_PtFcnBufPack bufpack, braid_PtFcnBufUnpack bufunpack,
                          braid_PtFcnInnerProd inner_prod, braid_PtFcnStep step);

#ifdef __cplusplus
}
#endif

#endif
