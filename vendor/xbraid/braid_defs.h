/*
 * braid_defs.h -- the basic types and constants of the public interface
 * (upstream XBraid keeps them in a header of this name; braid.h includes it).
 */
#ifndef braid_defs_HEADER
#define braid_defs_HEADER

#include <limits.h>
#include <mpi.h>

typedef int    braid_Int;
typedef double braid_Real;
typedef char   braid_Byte;

#define braid_Int_Max INT_MAX
#define braid_Int_Min INT_MIN

#define braid_MPI_REAL MPI_DOUBLE
#define braid_MPI_INT  MPI_INT

#endif
