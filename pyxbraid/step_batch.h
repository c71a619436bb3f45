/* The batched step (vendor/xbraid's braid_SetStepBatch, our extension of
 * XBraid's interface) under names the bindings use with either library.
 * Upstream XBraid, and our library built as its stand-in, have none: there
 * PYXBRAID_STEP_BATCH is 0, the setter refuses and every solve steps point by
 * point. */
#ifndef PYXBRAID_STEP_BATCH_H
#define PYXBRAID_STEP_BATCH_H

#include "braid.h"

#if !PYXBRAID_UPSTREAM

#define PYXBRAID_STEP_BATCH 1
typedef braid_StepBatchStatus pyxbraid_BatchStatus;
typedef braid_PtFcnStepBatch  pyxbraid_PtFcnStepBatch;
#define pyxbraid_SetStepBatch           braid_SetStepBatch
#define pyxbraid_BatchGetSize           braid_StepBatchStatusGetSize
#define pyxbraid_BatchGetTstartTstop    braid_StepBatchStatusGetTstartTstop
#define pyxbraid_BatchGetTIndex         braid_StepBatchStatusGetTIndex
#define pyxbraid_BatchGetLevel          braid_StepBatchStatusGetLevel
#define pyxbraid_BatchGetCallingFunction braid_StepBatchStatusGetCallingFunction
#define pyxbraid_BatchGetIter           braid_StepBatchStatusGetIter
#define pyxbraid_BatchGetRNorms         braid_StepBatchStatusGetRNorms
#define pyxbraid_BatchGetCFactor        braid_StepBatchStatusGetCFactor

#else

#define PYXBRAID_STEP_BATCH 0
typedef struct _pyxbraid_NoBatch *pyxbraid_BatchStatus;
typedef braid_Int (*pyxbraid_PtFcnStepBatch)(braid_App, braid_Int, braid_Vector *, braid_Vector *,
                                           braid_Vector *, pyxbraid_BatchStatus);
static braid_Int pyxbraid_SetStepBatch(braid_Core c, pyxbraid_PtFcnStepBatch f, braid_Int m)
{ (void) c; (void) f; (void) m; return braid_ERROR_GENERIC; }
static braid_Int pyxbraid_NoBatchInt(pyxbraid_BatchStatus s, braid_Int *v)
{ (void) s; *v = -1; return braid_ERROR_GENERIC; }
static braid_Int pyxbraid_BatchGetTstartTstop(pyxbraid_BatchStatus s, braid_Int i,
                                              braid_Real *a, braid_Real *b)
{ (void) s; (void) i; *a = *b = 0.0; return braid_ERROR_GENERIC; }
static braid_Int pyxbraid_BatchGetTIndex(pyxbraid_BatchStatus s, braid_Int i, braid_Int *v)
{ (void) i; return pyxbraid_NoBatchInt(s, v); }
static braid_Int pyxbraid_BatchGetCFactor(pyxbraid_BatchStatus s, braid_Int *v, braid_Int l)
{ (void) l; return pyxbraid_NoBatchInt(s, v); }
static braid_Int pyxbraid_BatchGetRNorms(pyxbraid_BatchStatus s, braid_Int *n, braid_Real *r)
{ (void) s; (void) r; *n = 0; return braid_ERROR_GENERIC; }
#define pyxbraid_BatchGetSize            pyxbraid_NoBatchInt
#define pyxbraid_BatchGetLevel           pyxbraid_NoBatchInt
#define pyxbraid_BatchGetCallingFunction pyxbraid_NoBatchInt
#define pyxbraid_BatchGetIter            pyxbraid_NoBatchInt

#endif

#endif
