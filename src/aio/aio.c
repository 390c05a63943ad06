/*-------------------------------------------------------------------------
 *
 * aio.c
 *	  io_uring and plain back ends of the broker's file and socket I/O
 *	  (see aio.h).
 *
 * The ring is created by the broker itself, never in the postmaster, so no
 * other process inherits it.  It is set up without SQPOLL and without
 * DEFER_TASKRUN: the broker sleeps in epoll (WaitEventSetWait), and
 * DEFER_TASKRUN would hold completions back until the next io_uring_enter.
 *
 * Operations live in a pool allocated from the broker's memory context; an
 * operation's address is its io_uring user_data.  An op is on exactly one of:
 * the free list, in flight in the kernel (io_uring), parked on a socket that
 * is not ready (plain), or the plain back end's completion list.
 *
 * Sockets in the plain back end: the operation is tried at once on the
 * non-blocking socket; if it would block, it is parked and the socket is
 * added to an epoll set, whose fd is what the broker's WaitEventSet watches;
 * reaping retries parked operations whose socket became ready.  File
 * operations run synchronously.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <liburing.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ilist.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "aio/aio.h"
#include "nagare.h"

#define AIO_RING_ENTRIES	256
#define AIO_MAX_IOV			NAGARE_AIO_MAX_IOV

/*
 * Most bytes one io_uring sendmsg sends.  The copy into the socket (and on
 * loopback the receiver's side of TCP too) runs in the loop's thread: a
 * large Fetch response goes out in pieces, and other connections are served
 * between them rather than waiting for a whole megabyte or more.
 */
#define AIO_SEND_PIECE		(128 * 1024)

typedef enum AioOpKind
{
	AIO_WRITEV,
	AIO_FDATASYNC,
	AIO_FSYNC,
	AIO_ACCEPT,
	AIO_RECV,
	AIO_SENDMSG,
	AIO_READ,
	AIO_PREAD
} AioOpKind;

typedef struct AioOp
{
	dlist_node	node;			/* free list or plain completion list */
	AioOpKind	kind;
	int			fd;
	off_t		offset;			/* WRITEV: file position of iov[first] */
	int			iovcnt;
	int			first;			/* WRITEV: first iov not fully written */
	int64		done;			/* WRITEV: bytes written so far */
	int64		result;			/* plain: result to deliver */
	NagareAioCallback cb;
	void	   *arg;
	void	   *buf;			/* RECV, READ, PREAD */
	size_t		len;			/* RECV, READ, PREAD */
	struct msghdr msg;			/* SENDMSG (io_uring reads it at submit) */
	struct iovec iov[AIO_MAX_IOV];
	struct iovec piece[AIO_MAX_IOV];	/* SENDMSG: what msg sends of iov */
} AioOp;

/* plain back end: operations parked on a socket until it is ready */
typedef struct FdWait
{
	AioOp	   *rd;				/* ACCEPT or RECV */
	AioOp	   *wr;				/* SENDMSG */
	uint32		registered;		/* epoll events registered for the fd */
} FdWait;

static bool use_uring = false;
static struct io_uring ring;
static int	event_fd = -1;
static int	inflight = 0;
static dlist_head free_ops = DLIST_STATIC_INIT(free_ops);
static dlist_head plain_done = DLIST_STATIC_INIT(plain_done);
static MemoryContext aio_context = NULL;
static int	epoll_fd = -1;		/* plain back end's socket readiness */
static FdWait *fdwait = NULL;
static int	nfdwait = 0;

static AioOp *op_alloc(void);
static void op_start(AioOp *op);
static void op_complete(AioOp *op, int64 res);
static int64 plain_execute(AioOp *op);
static bool plain_try_socket(AioOp *op, int64 *result);
static void plain_park(AioOp *op);
static void plain_update_interest(int fd);

/*
 * Choose the back end and set it up.  Logs which one is in use.
 */
void
nagare_aio_init(void)
{
	aio_context = AllocSetContextCreate(TopMemoryContext, "nagare aio",
										ALLOCSET_DEFAULT_SIZES);

	if (nagare_io_method != NAGARE_IO_PLAIN)
	{
		int			ret = io_uring_queue_init(AIO_RING_ENTRIES, &ring, 0);

		if (ret == 0)
		{
			event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			if (event_fd < 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not create eventfd: %m")));
			ret = io_uring_register_eventfd(&ring, event_fd);
			if (ret < 0)
			{
				errno = -ret;
				ereport(ERROR,
						(errmsg("could not register eventfd with io_uring: %m")));
			}
			use_uring = true;
		}
		else
		{
			errno = -ret;
			if (nagare_io_method == NAGARE_IO_URING)
				ereport(ERROR,
						(errmsg("could not set up io_uring: %m"),
						 ret == -EPERM ?
						 errhint("io_uring may be disabled by /proc/sys/kernel/io_uring_disabled or a seccomp profile; set nagare.io_method = auto or plain.") :
						 errhint("Set nagare.io_method = auto or plain.")));
			ereport(LOG,
					(errmsg("nagare broker: io_uring is unavailable (%m), using plain system calls")));
		}
	}

	if (!use_uring)
	{
		epoll_fd = epoll_create1(EPOLL_CLOEXEC);
		if (epoll_fd < 0)
			ereport(ERROR,
					(errmsg("could not create epoll instance: %m")));
		event_fd = epoll_fd;
	}

	ereport(LOG,
			(errmsg("nagare broker: file I/O through %s", nagare_aio_method_name())));
}

void
nagare_aio_shutdown(void)
{
	nagare_aio_drain();
	if (use_uring)
	{
		io_uring_unregister_eventfd(&ring);
		io_uring_queue_exit(&ring);
		close(event_fd);
		event_fd = -1;
		use_uring = false;
	}
	else if (epoll_fd >= 0)
	{
		close(epoll_fd);
		epoll_fd = event_fd = -1;
	}
}

const char *
nagare_aio_method_name(void)
{
	return use_uring ? "io_uring" : "plain";
}

/* The fd to watch for completions, or -1 when there is nothing to watch. */
int
nagare_aio_event_fd(void)
{
	return event_fd;
}

int
nagare_aio_inflight(void)
{
	return inflight;
}

static AioOp *
op_alloc(void)
{
	AioOp	   *op;

	if (!dlist_is_empty(&free_ops))
		op = dlist_container(AioOp, node, dlist_pop_head_node(&free_ops));
	else
		op = MemoryContextAlloc(aio_context, sizeof(AioOp));
	memset(op, 0, offsetof(AioOp, iov));
	return op;
}

void
nagare_aio_writev(int fd, const struct iovec *iov, int iovcnt, off_t offset,
				  NagareAioCallback cb, void *arg)
{
	AioOp	   *op;

	Assert(iovcnt > 0 && iovcnt <= AIO_MAX_IOV);
	op = op_alloc();
	op->kind = AIO_WRITEV;
	op->fd = fd;
	op->offset = offset;
	op->iovcnt = iovcnt;
	memcpy(op->iov, iov, sizeof(struct iovec) * iovcnt);
	op->cb = cb;
	op->arg = arg;
	op_start(op);
}

void
nagare_aio_fdatasync(int fd, NagareAioCallback cb, void *arg)
{
	AioOp	   *op = op_alloc();

	op->kind = AIO_FDATASYNC;
	op->fd = fd;
	op->cb = cb;
	op->arg = arg;
	op_start(op);
}

void
nagare_aio_fsync(int fd, NagareAioCallback cb, void *arg)
{
	AioOp	   *op = op_alloc();

	op->kind = AIO_FSYNC;
	op->fd = fd;
	op->cb = cb;
	op->arg = arg;
	op_start(op);
}

/* Accept a connection on a listening socket; the result is the new fd */
void
nagare_aio_accept(int listen_fd, NagareAioCallback cb, void *arg)
{
	AioOp	   *op = op_alloc();

	op->kind = AIO_ACCEPT;
	op->fd = listen_fd;
	op->cb = cb;
	op->arg = arg;
	op_start(op);
}

/* Receive up to len bytes; the result is the count, 0 at end of stream */
void
nagare_aio_recv(int fd, void *buf, size_t len, NagareAioCallback cb, void *arg)
{
	AioOp	   *op = op_alloc();

	op->kind = AIO_RECV;
	op->fd = fd;
	op->buf = buf;
	op->len = len;
	op->cb = cb;
	op->arg = arg;
	op_start(op);
}

static void
read_start(AioOpKind kind, int fd, void *buf, size_t len, off_t offset,
		   NagareAioCallback cb, void *arg)
{
	AioOp	   *op = op_alloc();

	op->kind = kind;
	op->fd = fd;
	op->buf = buf;
	op->len = len;
	op->offset = offset;
	op->cb = cb;
	op->arg = arg;
	op_start(op);
}

/*
 * Read up to len bytes of a file at offset; the result is the count (short
 * only at end of file).  With io_uring a read that misses the page cache
 * runs in the kernel's workers: the loop goes on meanwhile.
 */
void
nagare_aio_read(int fd, void *buf, size_t len, off_t offset, NagareAioCallback cb, void *arg)
{
	read_start(AIO_READ, fd, buf, len, offset, cb, arg);
}

/*
 * One read of up to len bytes of a file at offset: the result is its count,
 * short or not (a short read is not continued, as nagare_aio_read does:
 * with O_DIRECT the rest would be at a position out of alignment), or
 * -errno.
 */
void
nagare_aio_pread(int fd, void *buf, size_t len, off_t offset, NagareAioCallback cb, void *arg)
{
	read_start(AIO_PREAD, fd, buf, len, offset, cb, arg);
}

/* Send all of iov (short sends are continued); never raises SIGPIPE */
void
nagare_aio_sendmsg(int fd, const struct iovec *iov, int iovcnt, NagareAioCallback cb, void *arg)
{
	AioOp	   *op;

	Assert(iovcnt > 0 && iovcnt <= AIO_MAX_IOV);
	op = op_alloc();
	op->kind = AIO_SENDMSG;
	op->fd = fd;
	op->iovcnt = iovcnt;
	memcpy(op->iov, iov, sizeof(struct iovec) * iovcnt);
	op->cb = cb;
	op->arg = arg;
	op_start(op);
}

/*
 * Get a submission queue entry, submitting what is queued when the queue is
 * full (the completions are reaped later; the kernel holds them).
 */
static struct io_uring_sqe *
get_sqe(void)
{
	struct io_uring_sqe *sqe;

	while ((sqe = io_uring_get_sqe(&ring)) == NULL)
		nagare_aio_submit();
	return sqe;
}

static void
op_start(AioOp *op)
{
	inflight++;
	if (use_uring)
	{
		struct io_uring_sqe *sqe = get_sqe();

		switch (op->kind)
		{
			case AIO_WRITEV:
				io_uring_prep_writev(sqe, op->fd, &op->iov[op->first],
									 op->iovcnt - op->first, op->offset);
				break;
			case AIO_FDATASYNC:
				io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC);
				break;
			case AIO_FSYNC:
				io_uring_prep_fsync(sqe, op->fd, 0);
				break;
			case AIO_ACCEPT:
				io_uring_prep_accept(sqe, op->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				break;
			case AIO_RECV:
				io_uring_prep_recv(sqe, op->fd, op->buf, op->len, 0);
				break;
			case AIO_READ:
				io_uring_prep_read(sqe, op->fd, (char *) op->buf + op->done,
								   op->len - op->done, op->offset + op->done);
				break;
			case AIO_PREAD:
				io_uring_prep_read(sqe, op->fd, op->buf, op->len, op->offset);
				break;
			case AIO_SENDMSG:
				{
					size_t		left = AIO_SEND_PIECE;
					int			n = 0;

					/* the next AIO_SEND_PIECE bytes of iov */
					for (int i = op->first; i < op->iovcnt && left > 0; i++)
					{
						op->piece[n] = op->iov[i];
						op->piece[n].iov_len = Min(op->piece[n].iov_len, left);
						left -= op->piece[n].iov_len;
						n++;
					}
					memset(&op->msg, 0, sizeof(op->msg));
					op->msg.msg_iov = op->piece;
					op->msg.msg_iovlen = n;
					io_uring_prep_sendmsg(sqe, op->fd, &op->msg, MSG_NOSIGNAL);
					break;
				}
		}
		io_uring_sqe_set_data(sqe, op);
	}
	else if (op->kind == AIO_ACCEPT || op->kind == AIO_RECV || op->kind == AIO_SENDMSG)
	{
		if (plain_try_socket(op, &op->result))
			dlist_push_tail(&plain_done, &op->node);
		else
			plain_park(op);
	}
	else
	{
		op->result = plain_execute(op);
		dlist_push_tail(&plain_done, &op->node);
	}
}

/* Advance a WRITEV or SENDMSG op's iovecs past n bytes; true if all are done */
static bool
iov_advance(AioOp *op, int64 n)
{
	op->done += n;
	op->offset += n;
	while (op->first < op->iovcnt && (size_t) n >= op->iov[op->first].iov_len)
	{
		n -= op->iov[op->first].iov_len;
		op->first++;
	}
	if (op->first == op->iovcnt)
		return true;
	op->iov[op->first].iov_base = (char *) op->iov[op->first].iov_base + n;
	op->iov[op->first].iov_len -= n;
	return false;
}

/*
 * Plain back end: try a socket operation without blocking.  Returns false if
 * it would block (partial sends keep their progress), else true with
 * *result.
 */
static bool
plain_try_socket(AioOp *op, int64 *result)
{
	for (;;)
	{
		ssize_t		n;

		switch (op->kind)
		{
			case AIO_ACCEPT:
				n = accept4(op->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				break;
			case AIO_RECV:
				n = recv(op->fd, op->buf, op->len, MSG_DONTWAIT);
				break;
			case AIO_SENDMSG:
				memset(&op->msg, 0, sizeof(op->msg));
				op->msg.msg_iov = &op->iov[op->first];
				op->msg.msg_iovlen = op->iovcnt - op->first;
				n = sendmsg(op->fd, &op->msg, MSG_DONTWAIT | MSG_NOSIGNAL);
				break;
			default:
				*result = -EINVAL;
				return true;
		}
		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return false;
			*result = -errno;
			return true;
		}
		if (op->kind != AIO_SENDMSG)
		{
			*result = n;
			return true;
		}
		if (iov_advance(op, n))
		{
			*result = op->done;
			return true;
		}
	}
}

static FdWait *
fdwait_get(int fd)
{
	if (fd >= nfdwait)
	{
		int			n = Max(fd + 1, Max(64, nfdwait * 2));

		if (fdwait == NULL)
			fdwait = MemoryContextAllocZero(aio_context, sizeof(FdWait) * n);
		else
		{
			fdwait = repalloc(fdwait, sizeof(FdWait) * n);
			memset(fdwait + nfdwait, 0, sizeof(FdWait) * (n - nfdwait));
		}
		nfdwait = n;
	}
	return &fdwait[fd];
}

static void
plain_park(AioOp *op)
{
	FdWait	   *w = fdwait_get(op->fd);

	if (op->kind == AIO_SENDMSG)
	{
		Assert(w->wr == NULL);
		w->wr = op;
	}
	else
	{
		Assert(w->rd == NULL);
		w->rd = op;
	}
	plain_update_interest(op->fd);
}

/* Make the epoll registration of fd match its parked operations */
static void
plain_update_interest(int fd)
{
	FdWait	   *w = fdwait_get(fd);
	uint32		want = (w->rd ? EPOLLIN : 0) | (w->wr ? EPOLLOUT : 0);
	struct epoll_event ev;
	int			rc;

	if (want == w->registered)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.fd = fd;
	if (want == 0)
		rc = epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, &ev);
	else if (w->registered == 0)
		rc = epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
	else
		rc = epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev);
	if (rc < 0)
		ereport(ERROR,
				(errmsg("could not update epoll registration of socket %d: %m", fd)));
	w->registered = want;
}

/* Plain back end: retry the operations parked on sockets that are ready */
static void
plain_poll_sockets(void)
{
	struct epoll_event events[64];
	int			n;
	int			i;

	n = epoll_wait(epoll_fd, events, lengthof(events), 0);
	if (n < 0)
	{
		if (errno == EINTR)
			return;
		ereport(ERROR, (errmsg("epoll_wait failed: %m")));
	}
	for (i = 0; i < n; i++)
	{
		int			fd = events[i].data.fd;
		FdWait	   *w = fdwait_get(fd);
		int64		result;

		if (w->rd && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
			plain_try_socket(w->rd, &result))
		{
			w->rd->result = result;
			dlist_push_tail(&plain_done, &w->rd->node);
			w->rd = NULL;
		}
		if (w->wr && (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) &&
			plain_try_socket(w->wr, &result))
		{
			w->wr->result = result;
			dlist_push_tail(&plain_done, &w->wr->node);
			w->wr = NULL;
		}
		plain_update_interest(fd);
	}
}

/* Plain back end: do the whole operation now. */
static int64
plain_execute(AioOp *op)
{
	switch (op->kind)
	{
		case AIO_WRITEV:
			for (;;)
			{
				ssize_t		n = pwritev(op->fd, &op->iov[op->first],
										op->iovcnt - op->first, op->offset);

				if (n < 0)
				{
					if (errno == EINTR)
						continue;
					return -errno;
				}
				if (n == 0)
					return -EIO;	/* no progress */
				if (iov_advance(op, n))
					return op->done;
			}
		case AIO_READ:
			while (op->done < (int64) op->len)
			{
				ssize_t		n = pread(op->fd, (char *) op->buf + op->done,
									  op->len - op->done, op->offset + op->done);

				if (n < 0)
				{
					if (errno == EINTR)
						continue;
					return -errno;
				}
				if (n == 0)
					break;
				op->done += n;
			}
			return op->done;
		case AIO_PREAD:
			for (;;)
			{
				ssize_t		n = pread(op->fd, op->buf, op->len, op->offset);

				if (n >= 0)
					return n;
				if (errno != EINTR)
					return -errno;
			}
		case AIO_FDATASYNC:
			return pg_fdatasync(op->fd) < 0 ? -errno : 0;
		case AIO_FSYNC:
			return pg_fsync_no_writethrough(op->fd) < 0 ? -errno : 0;
		default:
			break;
	}
	return -EINVAL;
}

void
nagare_aio_submit(void)
{
	if (!use_uring)
		return;
	for (;;)
	{
		int			ret = io_uring_submit(&ring);

		if (ret >= 0)
			return;
		if (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY)
		{
			/* EAGAIN/EBUSY: completions must be reaped first */
			if (ret != -EINTR)
				(void) nagare_aio_reap();
			continue;
		}
		errno = -ret;
		ereport(ERROR, (errmsg("could not submit io_uring requests: %m")));
	}
}

/*
 * An operation finished with res (bytes or -errno).  Short writes go back to
 * the kernel for the rest; anything else reaches the callback.
 */
static void
op_complete(AioOp *op, int64 res)
{
	bool		is_write = (op->kind == AIO_WRITEV || op->kind == AIO_SENDMSG);

	if (use_uring && is_write && res > 0)
	{
		/* the plain back end already continued short writes itself */
		if (!iov_advance(op, res))
		{
			inflight--;
			op_start(op);
			return;
		}
		res = op->done;
	}
	else if (is_write && res == 0)
		res = -EIO;				/* a zero-length write makes no progress */
	else if (use_uring && op->kind == AIO_READ && res > 0)
	{
		/* a short read before end of file: read the rest */
		op->done += res;
		if (op->done < (int64) op->len)
		{
			inflight--;
			op_start(op);
			return;
		}
		res = op->done;
	}
	else if (use_uring && op->kind == AIO_READ && res == 0)
		res = op->done;			/* end of file */

	inflight--;
	op->cb(op->arg, res);
	dlist_push_head(&free_ops, &op->node);
}

/*
 * Run the callbacks of completed operations; returns how many completed.
 * Never blocks.
 */
int
nagare_aio_reap(void)
{
	int			n = 0;

	if (use_uring)
	{
		struct io_uring_cqe *cqe;
		uint64		efd_value;

		/*
		 * Clear the eventfd first, so a completion after this wakes us.  It
		 * is non-blocking; EAGAIN just means nothing was signalled.
		 */
		if (read(event_fd, &efd_value, sizeof(efd_value)) < 0 && errno != EAGAIN)
			elog(LOG, "nagare broker: could not read eventfd: %m");
		while (io_uring_peek_cqe(&ring, &cqe) == 0)
		{
			AioOp	   *op = io_uring_cqe_get_data(cqe);
			int64		res = cqe->res;

			io_uring_cqe_seen(&ring, cqe);
			op_complete(op, res);
			n++;
		}
	}
	else
	{
		if (epoll_fd >= 0)
			plain_poll_sockets();
		while (!dlist_is_empty(&plain_done))
		{
			AioOp	   *op = dlist_container(AioOp, node, dlist_pop_head_node(&plain_done));

			op_complete(op, op->result);
			n++;
		}
	}
	return n;
}

/*
 * Wait for every operation in flight; used at shutdown and before closing
 * files that may have operations in flight.  This blocks, so the main loop
 * does not use it.
 */
void
nagare_aio_drain(void)
{
	while (inflight > 0)
	{
		if (use_uring)
		{
			struct io_uring_cqe *cqe;
			int			ret;

			nagare_aio_submit();
			ret = io_uring_wait_cqe(&ring, &cqe);
			if (ret < 0 && ret != -EINTR)
			{
				errno = -ret;
				ereport(ERROR, (errmsg("could not wait for io_uring completion: %m")));
			}
		}
		(void) nagare_aio_reap();
	}
}
