/*
 * comm.c -- vectors between neighbouring ranks: the user packs them into a
 * buffer (bufsize, bufpack), we move the bytes, the receiver unpacks them.
 * Messages are non-blocking so that a sweep can send its right-most value
 * before it needs the value from the left.  Buffers come from the user's
 * bufalloc/buffree when set (braid_SetBufAllocFree), else from malloc/free.
 */
#include <stdlib.h>
#include "_braid.h"

static void
_braid_SetBufferStatus(braid_Core core, braid_Int level, braid_Int index)
{
   core->idx         = index;
   core->level       = level;
   core->messagetype = 0;
   core->size_buffer = -1.0;
}

/* The buffer size the user asks for, and a buffer of that size. */
static braid_Int
_braid_BufferAlloc(braid_Core core, braid_Int level, braid_Int index, _braid_Msg *msg,
                   braid_Int *size_ptr)
{
   braid_Int  size = 0, rc;
   braid_Real t0 = _braid_TimerStart(core);

   _braid_SetBufferStatus(core, level, index);
   rc = _braid_UserResult(core->bufsize(core->app, &size, (braid_BufferStatus) core));
   _braid_TimerStop(core, _braid_TIMER_BUFSIZE, t0);
   _braid_Check(rc);
   if (size < 0)
   {
      return braid_ERROR_ARG;
   }
   msg->buffer = NULL;
   if (core->bufalloc != NULL)
   {
      _braid_Check(_braid_UserResult(core->bufalloc(core->app, &msg->buffer, size,
                                                    (braid_BufferStatus) core)));
   }
   else
   {
      msg->buffer = _braid_CAlloc((size_t) size, 1);
   }
   if (msg->buffer == NULL)
   {
      return braid_ERROR_MEMORY;
   }
   *size_ptr = size;
   return 0;
}

static void
_braid_BufferFree(braid_Core core, _braid_Msg *msg)
{
   if (msg->buffer == NULL)
   {
      return;
   }
   if (core->buffree != NULL)
   {
      (void) core->buffree(core->app, &msg->buffer);
   }
   else
   {
      free(msg->buffer);
   }
   msg->buffer = NULL;
}

braid_Int
_braid_RecvPost(braid_Core core, braid_Int level, braid_Int index, braid_Int peer,
                _braid_Msg *msg)
{
   braid_Int  size = 0;
   braid_Real t0;

   _braid_Check(_braid_BufferAlloc(core, level, index, msg, &size));
   t0 = _braid_TimerStart(core);
   MPI_Irecv(msg->buffer, size, MPI_BYTE, peer, 0, core->comm, &msg->request);
   _braid_TimerStop(core, _braid_TIMER_MPI_RECV, t0);
   msg->active  = 1;
   msg->is_send = 0;
   return 0;
}

braid_Int
_braid_RecvFinish(braid_Core core, braid_Int level, braid_Int index, _braid_Msg *msg,
                  braid_Vector *u_ptr)
{
   braid_Int  rc;
   braid_Real t0 = _braid_TimerStart(core);

   MPI_Wait(&msg->request, MPI_STATUS_IGNORE);
   _braid_TimerStop(core, _braid_TIMER_MPI_WAIT, t0);
   msg->active = 0;
   _braid_SetBufferStatus(core, level, index);
   *u_ptr = NULL;
   t0     = _braid_TimerStart(core);
   rc     = core->bufunpack(core->app, msg->buffer, u_ptr, (braid_BufferStatus) core);
   _braid_TimerStop(core, _braid_TIMER_BUFUNPACK, t0);
   _braid_BufferFree(core, msg);
   return _braid_UserResult(rc);
}

braid_Int
_braid_SendPost(braid_Core core, braid_Int level, braid_Int index, braid_Vector u,
                braid_Int peer, _braid_Msg *msg)
{
   braid_Int  size = 0, rc;
   braid_Real t0;

   _braid_Check(_braid_BufferAlloc(core, level, index, msg, &size));
   _braid_SetBufferStatus(core, level, index);
   t0 = _braid_TimerStart(core);
   rc = core->bufpack(core->app, u, msg->buffer, (braid_BufferStatus) core);
   _braid_TimerStop(core, _braid_TIMER_BUFPACK, t0);
   _braid_Check(_braid_UserResult(rc));
   /* the packer may send fewer bytes than bufsize promised */
   if (core->size_buffer >= 0.0 && core->size_buffer < (braid_Real) size)
   {
      size = (braid_Int) core->size_buffer;
   }
   t0 = _braid_TimerStart(core);
   MPI_Isend(msg->buffer, size, MPI_BYTE, peer, 0, core->comm, &msg->request);
   _braid_TimerStop(core, _braid_TIMER_MPI_SEND, t0);
   msg->active  = 1;
   msg->is_send = 1;
   return 0;
}

braid_Int
_braid_SendFinish(braid_Core core, _braid_Msg *msg)
{
   braid_Real t0;

   if (msg->active)
   {
      t0 = _braid_TimerStart(core);
      MPI_Wait(&msg->request, MPI_STATUS_IGNORE);
      _braid_TimerStop(core, _braid_TIMER_MPI_WAIT, t0);
      msg->active = 0;
   }
   _braid_BufferFree(core, msg);
   return 0;
}

/*
 * Error path.  A pending receive is cancelled.  A pending send cannot be
 * cancelled safely: its request is released and its buffer left to MPI (a
 * small, deliberate leak that only happens after a callback has failed).
 */
void
_braid_MsgAbandon(braid_Core core, _braid_Msg *msg)
{
   int flag = 0;

   if (msg->active)
   {
      MPI_Test(&msg->request, &flag, MPI_STATUS_IGNORE);
      if (!flag && msg->is_send)
      {
         MPI_Request_free(&msg->request);
         msg->active = 0;
         msg->buffer = NULL;
         return;
      }
      if (!flag)
      {
         MPI_Cancel(&msg->request);
         MPI_Wait(&msg->request, MPI_STATUS_IGNORE);
      }
      msg->active = 0;
   }
   _braid_BufferFree(core, msg);
}
