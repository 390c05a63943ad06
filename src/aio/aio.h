/*-------------------------------------------------------------------------
 *
 * aio.h
 *	  The broker's asynchronous file and socket I/O: io_uring, or plain
 *	  system calls.
 *
 * Used by the broker's loop (broker/, sockets and reads for Fetch) and by
 * its log (logstore/, segment writes and fsyncs); it depends on neither.
 *
 * The broker queues operations with a completion callback, submits them
 * once per loop turn and runs the callbacks of whatever has completed; it
 * never waits inside this module.  With io_uring, completions are signalled
 * through an eventfd that the broker's WaitEventSet watches beside its latch
 * (a process blocked in io_uring_enter would miss latch wake-ups).  Where
 * io_uring is unavailable (seccomp, kernel.io_uring_disabled, old kernel) or
 * nagare.io_method = plain, the same interface runs each operation
 * synchronously at submit time and delivers the completion on the next reap:
 * correct, but a slow disk then stalls the loop.
 *
 * Writes and sends are complete or failed: a short one is resubmitted for
 * the rest.  nagare_aio_read continues a short read up to end of file;
 * nagare_aio_pread (for O_DIRECT) does not.  Callbacks receive the total
 * byte count (for accept, the new socket) or -errno.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_AIO_H
#define NAGARE_AIO_H

#include <sys/uio.h>

typedef void (*NagareAioCallback) (void *arg, int64 result);

extern void nagare_aio_init(void);
extern void nagare_aio_shutdown(void);
extern const char *nagare_aio_method_name(void);
extern int	nagare_aio_event_fd(void);

/* iov is copied; the buffers must stay valid until the callback runs */
extern void nagare_aio_writev(int fd, const struct iovec *iov, int iovcnt, off_t offset,
							  NagareAioCallback cb, void *arg);
extern void nagare_aio_read(int fd, void *buf, size_t len, off_t offset,
							NagareAioCallback cb, void *arg);
extern void nagare_aio_pread(int fd, void *buf, size_t len, off_t offset,
							 NagareAioCallback cb, void *arg);
extern void nagare_aio_fdatasync(int fd, NagareAioCallback cb, void *arg);
extern void nagare_aio_fsync(int fd, NagareAioCallback cb, void *arg);

/* sockets (non-blocking); the result is the new fd, a byte count, or -errno */
extern void nagare_aio_accept(int listen_fd, NagareAioCallback cb, void *arg);
extern void nagare_aio_recv(int fd, void *buf, size_t len, NagareAioCallback cb, void *arg);
extern void nagare_aio_sendmsg(int fd, const struct iovec *iov, int iovcnt,
							   NagareAioCallback cb, void *arg);
#define NAGARE_AIO_MAX_IOV 64

extern void nagare_aio_submit(void);
extern int	nagare_aio_reap(void);
extern int	nagare_aio_inflight(void);
extern void nagare_aio_drain(void);

#endif							/* NAGARE_AIO_H */
