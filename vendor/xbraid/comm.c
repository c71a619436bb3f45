/*
 * comm.c -- vectors between neighbouring ranks: the user packs them into a
 * buffer (bufsize, bufpack), we move the bytes, the receiver unpacks them.
 * Messages are non-blocking so that a sweep can send its right-most value
 * before it needs the value from the left.
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

braid_Int
_braid_RecvPost(braid_Core core, braid_Int level, braid_Int index, braid_Int peer,
                _braid_Msg *msg)
{
   braid_Int size = 0;

   _braid_SetBufferStatus(core, level, index);
   _braid_Check(core->bufsize(core->app, &size, (braid_BufferStatus) core));
   msg->buffer = _braid_Malloc((size_t) size);
   if (msg->buffer == NULL)
   {
      return braid_ERROR_MEMORY;
   }
   MPI_Irecv(msg->buffer, size, MPI_BYTE, peer, 0, core->comm, &msg->request);
   msg->active  = 1;
   msg->is_send = 0;
   return 0;
}

braid_Int
_braid_RecvFinish(braid_Core core, braid_Int level, braid_Int index, _braid_Msg *msg,
                  braid_Vector *u_ptr)
{
   braid_Int rc;

   MPI_Wait(&msg->request, MPI_STATUS_IGNORE);
   msg->active = 0;
   _braid_SetBufferStatus(core, level, index);
   *u_ptr = NULL;
   rc     = core->bufunpack(core->app, msg->buffer, u_ptr, (braid_BufferStatus) core);
   free(msg->buffer);
   msg->buffer = NULL;
   return rc;
}

braid_Int
_braid_SendPost(braid_Core core, braid_Int level, braid_Int index, braid_Vector u,
                braid_Int peer, _braid_Msg *msg)
{
   braid_Int size = 0;

   _braid_SetBufferStatus(core, level, index);
   _braid_Check(core->bufsize(core->app, &size, (braid_BufferStatus) core));
   msg->buffer = _braid_Malloc((size_t) size);
   if (msg->buffer == NULL)
   {
      return braid_ERROR_MEMORY;
   }
   _braid_SetBufferStatus(core, level, index);
   _braid_Check(core->bufpack(core->app, u, msg->buffer, (braid_BufferStatus) core));
   /* the packer may send fewer bytes than bufsize promised */
   if (core->size_buffer >= 0.0 && core->size_buffer < (braid_Real) size)
   {
      size = (braid_Int) core->size_buffer;
   }
   MPI_Isend(msg->buffer, size, MPI_BYTE, peer, 0, core->comm, &msg->request);
   msg->active  = 1;
   msg->is_send = 1;
   return 0;
}

braid_Int
_braid_SendFinish(_braid_Msg *msg)
{
   if (msg->active)
   {
      MPI_Wait(&msg->request, MPI_STATUS_IGNORE);
      msg->active = 0;
   }
   free(msg->buffer);
   msg->buffer = NULL;
   return 0;
}

/*
 * Error path.  A pending receive is cancelled.  A pending send cannot be
 * cancelled safely: its request is released and its buffer left to MPI (a
 * small, deliberate leak that only happens after a callback has failed).
 */
void
_braid_MsgAbandon(_braid_Msg *msg)
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
   free(msg->buffer);
   msg->buffer = NULL;
}
