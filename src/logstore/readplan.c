/*-------------------------------------------------------------------------
 *
 * readplan.c
 *	  Where the broker's readers (Fetch, ListOffsets) read a partition.
 *
 * Plans come from memory only: the segment list, each segment's in-memory
 * copy of its .index and .timeindex (kept by writer.c and recovery.c), and
 * a few positions where recent reads ended (nagare_log_note_position).  The
 * reader does the file I/O itself, through a descriptor of its own
 * (nagare_log_open_segment), and verifies what it reads: an index entry is
 * a hint, and bytes are only read below a segment's written size.
 *
 * With nagare.serve_durable_only, readers stop at what is fdatasynced
 * instead (durable_end, and durable_size of its segment: writer.c): the
 * high watermark a consumer sees is then nagare_log_readable_end().
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>

#include "logstore/log.h"
#include "logstore/log_internal.h"
#include "logstore/segment.h"
#include "nagare.h"

/* The segment holding offset: the last one whose base is at or below it */
static int
segment_for_offset(LogPartition *lp, int64 offset)
{
	int			lo = 0;
	int			hi = lp->nsegs - 1;

	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (lp->segs[mid]->base_offset <= offset)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/*
 * Position of a batch at or before offset in seg: a remembered position if
 * some read ended exactly there, else the sparse index's last entry whose
 * batch ends at or before offset, else the segment's start.
 */
static int64
segment_position(LogPartition *lp, LogSegment *seg, int64 offset, bool *exact)
{
	int			lo;
	int			hi;
	int			i;

	for (i = 0; i < lengthof(lp->hints); i++)
		if (lp->hints[i].offset == offset && lp->hints[i].segment_base == seg->base_offset &&
			lp->hints[i].position <= seg->written_size)
		{
			*exact = true;
			return lp->hints[i].position;
		}
	*exact = (offset == seg->base_offset);
	lo = 0;
	hi = seg->noffidx - 1;
	if (hi < 0 || seg->base_offset + seg->offidx[0].rel > offset)
		return 0;
	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (seg->base_offset + seg->offidx[mid].rel <= offset)
			lo = mid;
		else
			hi = mid - 1;
	}
	return seg->offidx[lo].position;
}

static void
fill_plan(LogPartition *lp, int segno, int64 position, bool exact, LogReadPlan *plan)
{
	LogSegment *seg = lp->segs[segno];

	plan->segment_base = seg->base_offset;
	plan->position = position;
	if (!nagare_serve_durable_only || seg->base_offset < lp->durable_seg_base)
		plan->available = Max(seg->written_size - position, 0);
	else if (seg->base_offset == lp->durable_seg_base)
		plan->available = Max(Min(lp->durable_size, seg->written_size) - position, 0);
	else
		plan->available = 0; /* nothing of it is durable yet */
	plan->exact = exact;
	plan->last_segment = (segno == lp->nsegs - 1);
}

/*
 * Where to read offset from.  LOG_READ_OK fills *plan: the bytes from
 * plan->position hold the batch with the offset, possibly after batches
 * that end before it (not when plan->exact).
 */
LogReadResult
nagare_log_plan_read(LogPartition *lp, int64 offset, LogReadPlan *plan)
{
	int			segno;
	bool		exact;
	int64		pos;

	if (offset < lp->log_start || offset > lp->written_end)
		return LOG_READ_OUT_OF_RANGE;
	/* between what is durable and what is written: not yet, as at the HWM */
	if (offset >= nagare_log_readable_end(lp) || lp->nsegs == 0)
		return LOG_READ_NONE;
	segno = segment_for_offset(lp, offset);
	pos = segment_position(lp, lp->segs[segno], offset, &exact);
	/* a position at the end of a full segment: the offset starts the next */
	while (pos >= lp->segs[segno]->written_size && segno + 1 < lp->nsegs)
	{
		segno++;
		pos = 0;
		exact = (lp->segs[segno]->base_offset == offset);
	}
	fill_plan(lp, segno, pos, exact, plan);
	return plan->available > 0 ? LOG_READ_OK : LOG_READ_NONE;
}

/*
 * Where to look for the first record with a timestamp at or after
 * timestamp: in the first segment whose largest timestamp reaches it, from
 * the batch the time and offset indexes point at (Kafka's
 * LogSegment.findOffsetByTimestamp).  False if no segment does.
 */
bool
nagare_log_plan_time(LogPartition *lp, int64 timestamp, LogReadPlan *plan)
{
	int			i;

	for (i = 0; i < lp->nsegs; i++)
	{
		LogSegment *seg = lp->segs[i];
		int64		from = seg->base_offset;
		bool		exact;
		int			k;

		if (seg->max_timestamp < timestamp)
			continue;
		for (k = 0; k < seg->ntimeidx && seg->timeidx[k].timestamp < timestamp; k++)
			from = seg->base_offset + seg->timeidx[k].rel;
		fill_plan(lp, i, segment_position(lp, seg, Max(from, lp->log_start), &exact), false, plan);
		return plan->available > 0;
	}
	return false;
}

/*
 * A descriptor of the segment's log file for reading, the caller's to
 * close: a duplicate of the broker's own, or a new one for a closed segment.
 * Reads through it stay valid if retention deletes the segment meanwhile.
 * -1 (with a LOG line) if the file cannot be opened.
 */
int
nagare_log_open_segment(LogPartition *lp, int64 segment_base)
{
	int			i;
	int			fd = -1;
	char		path[MAXPGPATH];

	for (i = 0; i < lp->nsegs; i++)
		if (lp->segs[i]->base_offset == segment_base)
			break;
	if (i == lp->nsegs)
		return -1;
	if (lp->segs[i]->log_fd >= 0)
		fd = fcntl(lp->segs[i]->log_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
	{
		nagare_segment_path(path, lp->dir, segment_base, ".log");
		fd = open(path, O_RDONLY | O_CLOEXEC | PG_BINARY);
		if (fd < 0)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("nagare broker: could not open file \"%s\" for reading: %m", path)));
	}
	return fd;
}

/* A read found that offset starts at position of segment_base */
void
nagare_log_note_position(LogPartition *lp, int64 offset, int64 segment_base, int64 position)
{
	int			i;

	for (i = 0; i < lengthof(lp->hints); i++)
		if (lp->hints[i].offset == offset && lp->hints[i].segment_base == segment_base)
			return;
	lp->hints[lp->next_hint].offset = offset;
	lp->hints[lp->next_hint].segment_base = segment_base;
	lp->hints[lp->next_hint].position = position;
	lp->next_hint = (lp->next_hint + 1) % lengthof(lp->hints);
}

/*
 * The largest timestamp written (into *timestamp) and the last offset of
 * the batch that has it (-1 if none written): not the record's own offset,
 * which only a read of the batch finds (ListOffsets' max timestamp does)
 */
int64
nagare_log_max_timestamp_offset(LogPartition *lp, int64 *timestamp)
{
	int64		best_ts = -1;
	int64		best = -1;
	int			i;

	for (i = 0; i < lp->nsegs; i++)
	{
		LogSegment *seg = lp->segs[i];

		if (seg->max_timestamp > best_ts &&
			seg->max_timestamp_offset < nagare_log_readable_end(lp))
		{
			best_ts = seg->max_timestamp;
			best = seg->max_timestamp_offset;
		}
	}
	*timestamp = best_ts;
	return best;
}
