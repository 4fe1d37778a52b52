// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-dirtylog: a device-mapper target that records which blocks of a data
 * device were written, one bitmap per checkpoint interval, persisted on a
 * metadata device.
 *
 * This file holds the device-mapper operations (constructor, destructor,
 * map, end_io, suspend/resume hooks, status, message) and the worker that
 * makes dirty marks durable before the writes they cover are issued.
 *
 * Durability: map() passes a write straight down only when every block it
 * touches is set in the in-memory bitmap, whose bits are set only after
 * they are durable (dirtylog-bitmap.h).  Any other write is deferred to
 * the worker, which marks, commits (one commit for every write deferred
 * meanwhile) and only then issues it.
 *
 * Locking, in order:
 *   dirtylog_create_lock (mutex): a constructor that opens new metadata
 *	holds it while it reads (and maybe formats) the metadata, so that two
 *	tables cannot open one metadata device twice; nothing else takes it.
 *   dirtylog_stores_lock (mutex): the list of stores and their refcounts.
 *	Held only for lookups and refcount changes, never across I/O or a
 *	wait for the worker: one stuck device must not stop the others.
 *   store->md_sem (rwsem): read by every user of store->md except map(),
 *	write to replace md when a reload recovers failed metadata.  The
 *	worker, holding it, waits for the requests already started (they
 *	hold it too) before each batch; a request never waits for its own
 *	store's worker (it may for a lower device's, which never waits for
 *	this store).
 *   store->state_lock (mutex): a state change together with the metadata's
 *	invalid flag (store_failed(), reset); store->live_lock inside it.
 *	A reopen changes both under md_sem (write), which excludes them.
 *   md->lock (inside dirtylog-metadata.c).
 *   inflight->lock (per-CPU spinlock, irq-safe): the writes in flight that
 *	found no free slot (see struct dirtylog_inflight).
 *   store->deferred_lock (spinlock, irq-safe): the deferred bios.
 * map() takes no lock but rcu_read_lock() while its CPU has a free
 * in-flight slot, else that CPU's inflight lock.
 */

#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/log2.h>
#include <linux/percpu.h>
#include <linux/rwsem.h>
#include <linux/sched/mm.h>
#include <linux/workqueue.h>

#include <linux/dm-dirtylog.h>

#include "compat.h"
#include "dirtylog-metadata.h"
#include "dirtylog-store.h"

#define DM_MSG_PREFIX "dirtylog"

/* Writes touching more blocks than this always go through the worker. */
#define DIRTYLOG_FASTPATH_MAX_BLOCKS	4096

enum dirtylog_state {
	DIRTYLOG_STATE_RW,
	DIRTYLOG_STATE_INVALID,	/* tracking has gaps: full backup needed */
	DIRTYLOG_STATE_FAIL,	/* metadata unusable: writes are refused */
};

static const char *const dirtylog_state_names[] = {
	[DIRTYLOG_STATE_RW] = "rw",
	[DIRTYLOG_STATE_INVALID] = "invalid",
	[DIRTYLOG_STATE_FAIL] = "fail",
};

/*
 * Writes in flight, per CPU, so that a checkpoint can mark them in the new
 * interval (collect_inflight()).  A write takes a slot of the CPU map()
 * runs on without a lock: an atomic bit in @busy reserves it, then map()
 * stores the range, @count last (release), and end_io clears @count
 * before it releases the bit.  A checkpoint reads every slot's @count
 * (acquire), then @block, then @count again, and takes the pair only if
 * the count is unchanged; a count of 0 is a slot being filled or emptied,
 * whose write either sees the new bitmap or has completed.  When all of a
 * CPU's slots are busy, the write goes on the CPU's list instead (a range
 * of more blocks than a word counts, too).
 */
#define DIRTYLOG_INFLIGHT_SLOTS	BITS_PER_LONG

struct dirtylog_slot {
	u64 block;
	/* 0: free, or being filled or emptied; a word, for release/acquire */
	unsigned long count;
};

struct dirtylog_inflight {
	unsigned long busy;	/* bit i: slot[i] is reserved */
	struct dirtylog_slot slot[DIRTYLOG_INFLIGHT_SLOTS];
	spinlock_t lock;	/* protects list and count */
	struct list_head list;	/* struct dirtylog_pb of writes in flight */
	unsigned int count;
};

/* How a write in flight is tracked (struct dirtylog_pb.how). */
enum {
	DIRTYLOG_PB_UNTRACKED = -2,
	DIRTYLOG_PB_LISTED = -1,	/* on the CPU's list; >= 0: a slot */
};

struct dirtylog_pb {
	struct list_head list;
	u64 block;
	u64 count;
	int cpu;
	int how;		/* DIRTYLOG_PB_*, or the slot number */
};

enum dirtylog_req_op {
	DIRTYLOG_REQ_CHECKPOINT,
	DIRTYLOG_REQ_DELETE,
	DIRTYLOG_REQ_RESET,
	DIRTYLOG_REQ_MARK,
	DIRTYLOG_REQ_MARK_CHUNKS,
};

/* An operation on the metadata, run by its caller (run_request()). */
struct dirtylog_req {
	enum dirtylog_req_op op;
	const char *name;
	u64 a, b;
	const struct dirtylog_mark_chunk *chunks;
	unsigned int nr_chunks;
	u64 id;
};

struct dirtylog_c;

/*
 * struct dirtylog_store - state shared by every table of one dm device that
 * uses a given metadata device (the old and new table during a reload).
 */
struct dirtylog_store {
	struct list_head list;		/* in dirtylog_stores */
	unsigned int tables;		/* tables using it, dirtylog_stores_lock */
	atomic_t users;			/* dirtylog_store_get() references */
	dev_t meta_dev;
	/* Data devices of the live table and of the latest constructor
	 * (a table loaded but not resumed yet), dirtylog_stores_lock.
	 */
	dev_t data_dev, staged_data_dev;
	struct mapped_device *owner;
	struct dm_table *last_table;	/* table of the latest constructor */
	u32 block_sectors;

	struct rw_semaphore md_sem;	/* see Locking */
	struct dirtylog_md __rcu *md;

	struct workqueue_struct *wq;
	struct work_struct work;
	spinlock_t deferred_lock;	/* protects deferred */
	struct bio_list deferred;
	/* Requests started and finished, and the worker waiting for them. */
	atomic_t req_started, req_done;
	wait_queue_head_t req_wait;

	struct dirtylog_inflight __percpu *inflight;
	atomic_t state;			/* enum dirtylog_state */
	struct mutex state_lock;	/* state changes with the invalid flag */
	bool passthrough;		/* of the live table */

	struct mutex live_lock;		/* protects live and stray */
	struct dirtylog_c *live;	/* target of the live table, for events */
	int space_low;			/* announced; xchg() */
	/* A checkpoint an atomic create could not roll back, or "". */
	char stray[DIRTYLOG_NAME_MAX + 1];
};

/**
 * struct dirtylog_c - per-target context
 * @ti: the dm target this context belongs to
 * @store: shared tracking state
 * @metadata_dev: device holding the persistent dirty bitmaps
 * @data_dev: device all I/O is remapped to
 * @block_sectors: tracking granularity in 512-byte sectors (power of two)
 * @block_shift: log2(@block_sectors)
 * @passthrough: feature passthrough_on_metadata_error
 */
struct dirtylog_c {
	struct dm_target *ti;
	struct dirtylog_store *store;
	struct dm_dev *metadata_dev;
	struct dm_dev *data_dev;
	u32 block_sectors;
	u32 block_shift;
	bool passthrough;
};

static LIST_HEAD(dirtylog_stores);
static dirtylog_notify_fn dirtylog_notify;
static DEFINE_MUTEX(dirtylog_create_lock);
static DEFINE_MUTEX(dirtylog_stores_lock);

/* ---------------------------------------------------------------------- */
/* Store */

void dirtylog_store_set_notify(dirtylog_notify_fn fn)
{
	WRITE_ONCE(dirtylog_notify, fn);
}

static void store_notify(struct dirtylog_store *st, u8 cmd, const char *ckpt,
			 u64 id)
{
	dirtylog_notify_fn fn = READ_ONCE(dirtylog_notify);

	if (fn)
		fn(st, cmd, ckpt, id);
}

static struct dirtylog_md *store_md(struct dirtylog_store *st)
{
	return rcu_dereference_protected(st->md, lockdep_is_held(&st->md_sem));
}

static void store_event(struct dirtylog_store *st)
{
	mutex_lock(&st->live_lock);
	if (st->live)
		dm_table_event(st->live->ti->table);
	mutex_unlock(&st->live_lock);
}

static void store_set_state(struct dirtylog_store *st, enum dirtylog_state s)
{
	if (atomic_xchg(&st->state, s) != s) {
		DMERR("metadata %u:%u: state is now %s", MAJOR(st->meta_dev),
		      MINOR(st->meta_dev), dirtylog_state_names[s]);
		store_event(st);
		store_notify(st, DM_DIRTYLOG_CMD_STATE_NTF, NULL, 0);
	}
}

/*
 * The metadata failed: with @invalid (passthrough), flag it invalid first,
 * so that queries refuse, then let writes through untracked; else fail
 * writes.  Under state_lock, so that a reset running meanwhile (it clears
 * the flag and sets the state back to rw) cannot end up between the two
 * steps and leave writes untracked while queries answer.
 */
static void store_failed(struct dirtylog_store *st, struct dirtylog_md *md,
			 bool invalid)
{
	mutex_lock(&st->state_lock);
	if (invalid)
		dirtylog_md_set_invalid(md);
	store_set_state(st, invalid ? DIRTYLOG_STATE_INVALID : DIRTYLOG_STATE_FAIL);
	mutex_unlock(&st->state_lock);
}

/* Announce once when less than 10% of the metadata device is free. */
static void store_check_space(struct dirtylog_store *st)
{
	struct dirtylog_md_stats s;
	bool low;

	dirtylog_md_stats(store_md(st), &s);
	low = (s.meta_total - s.meta_used) * 10 < s.meta_total;
	/* The worker and requests check it concurrently: announce once. */
	if (!xchg(&st->space_low, low) && low)
		store_notify(st, DM_DIRTYLOG_CMD_SPACE_LOW_NTF, NULL, 0);
}

static void dirtylog_worker(struct work_struct *work);

static void list_add_locked(struct dirtylog_store *st)
{
	mutex_lock(&dirtylog_stores_lock);
	list_add(&st->list, &dirtylog_stores);
	mutex_unlock(&dirtylog_stores_lock);
}

static struct dirtylog_store *store_find(dev_t meta_dev)
{
	struct dirtylog_store *st;

	lockdep_assert_held(&dirtylog_stores_lock);
	list_for_each_entry(st, &dirtylog_stores, list)
		if (st->meta_dev == meta_dev)
			return st;
	return NULL;
}

/* Free everything the store holds but the struct itself. */
static void store_teardown(struct dirtylog_store *st)
{
	if (st->wq)
		destroy_workqueue(st->wq);
	st->wq = NULL;
	free_percpu(st->inflight);
	st->inflight = NULL;
	dirtylog_md_close(rcu_dereference_protected(st->md, 1));
	RCU_INIT_POINTER(st->md, NULL);
}

static void store_destroy(struct dirtylog_store *st)
{
	store_teardown(st);
	kfree(st);
}

static struct dirtylog_store *store_create(struct dm_target *ti,
					   struct dirtylog_c *dc)
{
	struct block_device *bdev = dc->metadata_dev->bdev;
	struct dirtylog_md_stats stats;
	struct dirtylog_store *st;
	struct dirtylog_md *md;
	int cpu;

	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st) {
		ti->error = "Cannot allocate dirtylog context";
		return ERR_PTR(-ENOMEM);
	}
	st->tables = 1;
	atomic_set(&st->users, 0);
	st->meta_dev = bdev->bd_dev;
	st->owner = dm_table_get_md(ti->table);
	st->block_sectors = dc->block_sectors;
	init_rwsem(&st->md_sem);
	spin_lock_init(&st->deferred_lock);
	bio_list_init(&st->deferred);
	atomic_set(&st->req_started, 0);
	atomic_set(&st->req_done, 0);
	init_waitqueue_head(&st->req_wait);
	INIT_WORK(&st->work, dirtylog_worker);
	mutex_init(&st->live_lock);
	mutex_init(&st->state_lock);
	atomic_set(&st->state, DIRTYLOG_STATE_RW);

	st->inflight = alloc_percpu(struct dirtylog_inflight);
	if (!st->inflight) {
		ti->error = "Cannot allocate in-flight tracking";
		store_destroy(st);
		return ERR_PTR(-ENOMEM);
	}
	for_each_possible_cpu(cpu) {
		struct dirtylog_inflight *inf = per_cpu_ptr(st->inflight, cpu);

		spin_lock_init(&inf->lock);
		INIT_LIST_HEAD(&inf->list);
	}
	st->wq = alloc_ordered_workqueue("dirtylog-%u:%u", WQ_MEM_RECLAIM,
					 MAJOR(st->meta_dev), MINOR(st->meta_dev));
	if (!st->wq) {
		ti->error = "Cannot allocate workqueue";
		store_destroy(st);
		return ERR_PTR(-ENOMEM);
	}

	md = dirtylog_md_open(bdev, dc->block_sectors, ti->len, &ti->error);
	if (IS_ERR(md)) {
		store_destroy(st);
		return ERR_CAST(md);
	}
	RCU_INIT_POINTER(st->md, md);
	dirtylog_md_stats(md, &stats);
	if (stats.invalid)
		atomic_set(&st->state, DIRTYLOG_STATE_INVALID);
	return st;
}

/* ---------------------------------------------------------------------- */
/* In-flight writes */

static void inflight_add(struct dirtylog_store *st, struct dirtylog_pb *pb)
{
	struct dirtylog_inflight *inf;
	unsigned long flags, busy, i;

	/* Any CPU's slots would do: the bit operations are atomic. */
	pb->cpu = raw_smp_processor_id();
	inf = per_cpu_ptr(st->inflight, pb->cpu);
	for (;;) {
		busy = READ_ONCE(inf->busy);
		if (busy == ~0UL || pb->count > ULONG_MAX)
			break;
		i = ffz(busy);
		if (!test_and_set_bit(i, &inf->busy)) {
			WRITE_ONCE(inf->slot[i].block, pb->block);
			/* Pairs with smp_load_acquire() in collect_inflight(). */
			smp_store_release(&inf->slot[i].count, pb->count);
			pb->how = i;
			return;
		}
	}
	spin_lock_irqsave(&inf->lock, flags);
	list_add_tail(&pb->list, &inf->list);
	inf->count++;
	spin_unlock_irqrestore(&inf->lock, flags);
	pb->how = DIRTYLOG_PB_LISTED;
}

static void inflight_del(struct dirtylog_store *st, struct dirtylog_pb *pb)
{
	struct dirtylog_inflight *inf = per_cpu_ptr(st->inflight, pb->cpu);
	unsigned long flags;

	if (pb->how >= 0) {
		WRITE_ONCE(inf->slot[pb->how].count, 0);
		/* Release: the slot is empty before anyone can take it. */
		clear_bit_unlock(pb->how, &inf->busy);
	} else {
		spin_lock_irqsave(&inf->lock, flags);
		list_del(&pb->list);
		inf->count--;
		spin_unlock_irqrestore(&inf->lock, flags);
	}
	pb->how = DIRTYLOG_PB_UNTRACKED;
}

struct dirtylog_range {
	u64 block, count;
};

/*
 * Checkpoint collect callback: mark every write still in flight in the new
 * interval.  The new (empty) active bitmap is already visible to map() and
 * an RCU grace period has passed since (swap_active()): map() registers a
 * write before its RCU read section tests the bitmap, so a write that saw
 * the old bitmap is visible here, in a slot or on a list, unless it has
 * completed; one missing saw the new bitmap and is deferred to the worker,
 * which marks it there.
 */
static int collect_inflight(void *ctx, struct dirtylog_md *md)
{
	struct dirtylog_store *st = ctx;
	struct dirtylog_range *r = NULL;
	unsigned long flags;
	unsigned int cap = 0, n, i;
	struct dirtylog_pb *pb;
	int cpu, err = 0;

	for_each_possible_cpu(cpu) {
		struct dirtylog_inflight *inf = per_cpu_ptr(st->inflight, cpu);

		for (i = 0; i < DIRTYLOG_INFLIGHT_SLOTS && !err; i++) {
			struct dirtylog_slot *sl = &inf->slot[i];
			/* Pairs with smp_store_release() in inflight_add(). */
			unsigned long count = smp_load_acquire(&sl->count);
			u64 block = READ_ONCE(sl->block);

			/*
			 * Unchanged count: @block is that write's (a slot
			 * reused meanwhile with the same count holds a write
			 * in flight, just as good).
			 */
			smp_rmb();
			if (count && READ_ONCE(sl->count) == count)
				err = dirtylog_md_mark_locked(md, block, count);
		}
		if (err)
			break;
		for (;;) {
			spin_lock_irqsave(&inf->lock, flags);
			if (inf->count <= cap)
				break;
			n = inf->count + 16;
			spin_unlock_irqrestore(&inf->lock, flags);
			kfree(r);
			r = kmalloc_array(n, sizeof(*r), GFP_NOIO);
			cap = r ? n : 0;
			if (!r)
				return -ENOMEM;	/* the checkpoint is rolled back */
		}
		n = 0;
		list_for_each_entry(pb, &inf->list, list) {
			r[n].block = pb->block;
			r[n].count = pb->count;
			n++;
		}
		spin_unlock_irqrestore(&inf->lock, flags);
		for (i = 0; i < n && !err; i++)
			err = dirtylog_md_mark_locked(md, r[i].block, r[i].count);
		if (err)
			break;
	}
	kfree(r);
	return err;
}

/* ---------------------------------------------------------------------- */
/* Worker */

static void remap(struct dirtylog_c *dc, struct bio *bio)
{
	bio_set_dev(bio, dc->data_dev->bdev);
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = dm_target_offset(dc->ti, bio->bi_iter.bi_sector);
}

static void error_bios(struct bio_list *bios, blk_status_t status)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios))) {
		bio->bi_status = status;
		bio_endio(bio);
	}
}

/*
 * Blocks of the next marking step from @block: no more than the bitmap
 * pages left in the batch, so the pending copies stay within
 * DIRTYLOG_COMMIT_BATCH_PAGES whatever the size of a bio (a discard or
 * write-zeroes can span 4 GiB).
 */
static u64 mark_step(struct dirtylog_md *md, u64 block, u64 left)
{
	u64 pending = dirtylog_md_nr_pending_locked(md);
	u64 room = pending < DIRTYLOG_COMMIT_BATCH_PAGES ?
		   DIRTYLOG_COMMIT_BATCH_PAGES - pending : 1;
	u32 bit;

	div_u64_rem(block, DIRTYLOG_BITS_PER_PAGE, &bit);
	return min(left, room * DIRTYLOG_BITS_PER_PAGE - bit);
}

/*
 * Commit what is pending: on success the bios of @marked have durable
 * marks and move to @ready, else to @failed (nothing of theirs is issued).
 */
static int commit_marked(struct dirtylog_md *md, struct bio_list *marked,
			 struct bio_list *ready, struct bio_list *failed)
{
	int r = dirtylog_md_commit_locked(md);

	if (r) {
		dirtylog_md_discard_pending_locked(md);
		bio_list_merge(failed, marked);
	} else {
		bio_list_merge(ready, marked);
	}
	bio_list_init(marked);
	return r;
}

/* The error that decides what happens to failed bios: I/O beats space beats memory. */
static int worse_error(int a, int b)
{
	if (!a)
		return b;
	if (!b || (a != -ENOMEM && a != -ENOSPC))
		return a;
	if (b != -ENOMEM && b != -ENOSPC)
		return b;
	return a == -ENOSPC ? a : b;
}

/*
 * Make the marks of @bios durable, then issue them.  A bio is marked in
 * steps (mark_step()), and the batch is committed
 * whenever DIRTYLOG_COMMIT_BATCH_PAGES pages are pending, so a long bio is
 * marked over several commits and issued after the last.  Only bios whose
 * marks could not be made durable fail; a bio whose marks a commit made
 * durable is issued whatever happens to the rest of the batch.
 */
static void process_bios(struct dirtylog_store *st, struct bio_list *bios)
{
	struct dirtylog_md *md = store_md(st);
	struct bio_list ready = BIO_EMPTY_LIST;		/* marks durable */
	struct bio_list marked = BIO_EMPTY_LIST;	/* marks pending */
	struct bio_list failed = BIO_EMPTY_LIST;
	struct blk_plug plug;
	struct bio *bio;
	int r, err = 0;

	switch (atomic_read(&st->state)) {
	case DIRTYLOG_STATE_FAIL:
		error_bios(bios, BLK_STS_IOERR);
		return;
	case DIRTYLOG_STATE_INVALID:
		goto submit;
	}

	dirtylog_md_lock(md);
	while ((bio = bio_list_pop(bios))) {
		struct dirtylog_pb *pb = dm_per_bio_data(bio, sizeof(*pb));
		u64 block = pb->block, left = pb->count, n;

		r = 0;
		while (left && !r) {
			/*
			 * Huge writes whose blocks are all marked commit
			 * nothing and never sleep: let others run.
			 */
			cond_resched();
			n = mark_step(md, block, left);
			r = dirtylog_md_mark_locked(md, block, n);
			block += n;
			left -= n;
			if (!r && dirtylog_md_nr_pending_locked(md) >=
				  DIRTYLOG_COMMIT_BATCH_PAGES)
				r = commit_marked(md, &marked, &ready, &failed);
		}
		/*
		 * A failed mark leaves the marks of the others pending (this
		 * bio's partial marks only add conservative bits); a failed
		 * commit has already moved the others to @failed.
		 */
		if (r) {
			bio_list_add(&failed, bio);
			err = worse_error(err, r);
		} else {
			bio_list_add(&marked, bio);
		}
	}
	r = commit_marked(md, &marked, &ready, &failed);
	if (r)
		err = worse_error(err, r);
	dirtylog_md_unlock(md);

	if (!bio_list_empty(&failed)) {
		if (err == -ENOMEM) {
			DMERR_LIMIT("out of memory marking blocks dirty: failing writes");
			error_bios(&failed, BLK_STS_RESOURCE);
		} else if (err == -ENOSPC && !st->passthrough) {
			DMERR_LIMIT("metadata device full: failing writes that need new marks");
			store_event(st);
			error_bios(&failed, BLK_STS_NOSPC);
		} else if (st->passthrough) {
			store_failed(st, md, true);
			bio_list_merge(&ready, &failed);
		} else {
			store_failed(st, md, false);
			error_bios(&failed, BLK_STS_IOERR);
		}
	}
	bio_list_merge(bios, &ready);
submit:
	/* Already remapped by map(); plugged, so they reach the queue together. */
	blk_start_plug(&plug);
	while ((bio = bio_list_pop(bios)))
		submit_bio_noacct(bio);
	blk_finish_plug(&plug);
}

static int do_request(struct dirtylog_store *st, struct dirtylog_req *rq)
{
	struct dirtylog_md *md = store_md(st);
	int r;

	switch (rq->op) {
	case DIRTYLOG_REQ_CHECKPOINT:
		if (atomic_read(&st->state) == DIRTYLOG_STATE_FAIL)
			return -EIO;
		r = dirtylog_md_checkpoint_create(md, rq->name, collect_inflight,
						  st, &rq->id);
		break;
	case DIRTYLOG_REQ_DELETE:
		r = dirtylog_md_checkpoint_delete(md, rq->name, rq->id);
		break;
	case DIRTYLOG_REQ_RESET:
		mutex_lock(&st->state_lock);
		r = dirtylog_md_reset(md);
		if (!r && atomic_read(&st->state) == DIRTYLOG_STATE_INVALID)
			store_set_state(st, DIRTYLOG_STATE_RW);
		mutex_unlock(&st->state_lock);
		break;
	case DIRTYLOG_REQ_MARK:
		r = dirtylog_md_mark(md, rq->a, rq->b);
		break;
	case DIRTYLOG_REQ_MARK_CHUNKS:
		r = dirtylog_md_mark_chunks(md, rq->chunks, rq->nr_chunks);
		break;
	default:
		r = -EINVAL;
	}
	if (r && r != -EEXIST && r != -ENOENT && r != -EINVAL && r != -ENOSPC &&
	    r != -ERANGE) {
		struct dirtylog_md_stats s;

		dirtylog_md_stats(md, &s);
		/* Every query refuses from now on (md->failed, or the flag). */
		if (s.failed)
			store_failed(st, md, st->passthrough);
	}
	return r;
}

/* Have the requests started before @seen (a req_started value) ended? */
static bool requests_done(struct dirtylog_store *st, int seen)
{
	return (int)((unsigned int)atomic_read(&st->req_done) -
		     (unsigned int)seen) >= 0;
}

static void dirtylog_worker(struct work_struct *work)
{
	struct dirtylog_store *st = container_of(work, struct dirtylog_store, work);
	struct bio_list bios;
	int seen;

	/*
	 * Writes wait for this worker: memory reclaim must not wait for them
	 * in turn, so nothing here may start I/O to get memory.
	 */
	unsigned int noio = memalloc_noio_save();

	for (;;) {
		spin_lock_irq(&st->deferred_lock);
		bios = st->deferred;
		bio_list_init(&st->deferred);
		spin_unlock_irq(&st->deferred_lock);
		if (bio_list_empty(&bios))
			break;

		down_read(&st->md_sem);
		/*
		 * Step aside for the requests already started: a caller that
		 * sleeps on md->lock while this worker takes it again batch
		 * after batch waits many scheduler slices for it.  Not for
		 * later ones, so that a stream of requests cannot starve the
		 * writes.  A request never waits for its own store's worker,
		 * and it already holds md_sem, so this wait ends.
		 */
		seen = atomic_read(&st->req_started);
		wait_event(st->req_wait, requests_done(st, seen));
		process_bios(st, &bios);
		store_check_space(st);
		up_read(&st->md_sem);
	}
	memalloc_noio_restore(noio);
}

/*
 * Run a request in the caller's context, which is why it allocates as the
 * worker does (writes may wait for md->lock, which it holds) and is not
 * handed to the worker: a caller woken after a commit by a worker that
 * goes on with the next batch waits a scheduler slice or more to run
 * again, which was most of a checkpoint's latency under a writer.
 * Requests and the worker serialize on md->lock (and md_sem keeps a
 * reopen from replacing md meanwhile).
 */
static int run_request(struct dirtylog_store *st, struct dirtylog_req *rq)
{
	unsigned int noio = memalloc_noio_save();
	int r;

	down_read(&st->md_sem);
	atomic_inc(&st->req_started);
	r = do_request(st, rq);
	atomic_inc(&st->req_done);
	wake_up(&st->req_wait);
	store_check_space(st);
	up_read(&st->md_sem);
	memalloc_noio_restore(noio);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Operations shared by dm messages and netlink */

/**
 * dirtylog_store_checkpoint() - create a checkpoint and announce it
 * @st: store
 * @name: validated name
 * @id: the new checkpoint's id
 *
 * Context: process context; waits for md->lock and metadata I/O.
 * Return: 0 or -errno.
 */
int dirtylog_store_checkpoint(struct dirtylog_store *st, const char *name, u64 *id)
{
	struct dirtylog_req rq = { .op = DIRTYLOG_REQ_CHECKPOINT, .name = name };
	int r = run_request(st, &rq);

	if (!r) {
		*id = rq.id;
		store_notify(st, DM_DIRTYLOG_CMD_CKPT_CREATED_NTF, name, rq.id);
	}
	return r;
}

/**
 * dirtylog_store_delete() - delete a checkpoint and announce it
 * @st: store
 * @name: validated name
 * @id: 0, or the id the checkpoint must have: a rollback deletes only the
 *	checkpoint it made, not one another caller made under the same name
 *
 * Context: process context; waits for md->lock and metadata I/O.
 * Return: 0 or -errno.
 */
int dirtylog_store_delete(struct dirtylog_store *st, const char *name, u64 id)
{
	struct dirtylog_req rq = { .op = DIRTYLOG_REQ_DELETE, .name = name, .id = id };
	int r = run_request(st, &rq);

	if (!r) {
		mutex_lock(&st->live_lock);
		if (!strcmp(st->stray, name))
			st->stray[0] = '\0';
		mutex_unlock(&st->live_lock);
		store_notify(st, DM_DIRTYLOG_CMD_CKPT_DELETED_NTF, name, 0);
	}
	return r;
}

int dirtylog_store_reset(struct dirtylog_store *st)
{
	struct dirtylog_req rq = { .op = DIRTYLOG_REQ_RESET };
	int r = run_request(st, &rq);

	if (!r) {
		mutex_lock(&st->live_lock);
		st->stray[0] = '\0';
		mutex_unlock(&st->live_lock);
	}
	return r;
}

/**
 * dirtylog_store_set_stray() - record a checkpoint left behind
 * @st: store
 * @name: the checkpoint an atomic create made here and could not delete
 *
 * Shown by DEV_GET (DM_DIRTYLOG_A_STRAY_CKPT) until it is deleted or the
 * device is reset.
 */
void dirtylog_store_set_stray(struct dirtylog_store *st, const char *name)
{
	mutex_lock(&st->live_lock);
	strscpy(st->stray, name, sizeof(st->stray));
	mutex_unlock(&st->live_lock);
}

int dirtylog_store_mark(struct dirtylog_store *st, u64 start, u64 count)
{
	struct dirtylog_req rq = { .op = DIRTYLOG_REQ_MARK, .a = start, .b = count };

	return run_request(st, &rq);
}

/* Mark the set bits of @n bitmap chunks; nothing is marked unless all are valid. */
int dirtylog_store_mark_chunks(struct dirtylog_store *st,
			       const struct dirtylog_mark_chunk *chunks,
			       unsigned int n)
{
	struct dirtylog_req rq = {
		.op = DIRTYLOG_REQ_MARK_CHUNKS, .chunks = chunks, .nr_chunks = n,
	};

	return run_request(st, &rq);
}

void dirtylog_lock_stores(void)
{
	mutex_lock(&dirtylog_stores_lock);
}

void dirtylog_unlock_stores(void)
{
	mutex_unlock(&dirtylog_stores_lock);
}

struct dirtylog_store *dirtylog_store_nth(unsigned long idx)
{
	struct dirtylog_store *st;

	lockdep_assert_held(&dirtylog_stores_lock);
	list_for_each_entry(st, &dirtylog_stores, list)
		if (st->tables && !idx--)
			return st;
	return NULL;
}

/**
 * dirtylog_store_lookup() - find the store of a dm device
 * @name: dm name, or NULL
 * @uuid: dm uuid, or NULL (or empty); with @name, both must match
 * @by_dev: match @major:@minor (then @name and @uuid are not looked at)
 * @major: device major
 * @minor: device minor
 *
 * Context: dirtylog_stores_lock held.  Return: the store or NULL.
 */
struct dirtylog_store *dirtylog_store_lookup(const char *name, const char *uuid,
					     bool by_dev, u32 major, u32 minor)
{
	char n[DM_NAME_LEN], u[DM_UUID_LEN];
	struct dirtylog_store *st;
	dev_t devt;

	lockdep_assert_held(&dirtylog_stores_lock);
	list_for_each_entry(st, &dirtylog_stores, list) {
		if (!st->tables)	/* being torn down */
			continue;
		if (by_dev) {
			devt = disk_devt(dm_disk(st->owner));
			if (MAJOR(devt) == major && MINOR(devt) == minor)
				return st;
			continue;
		}
		if (dm_copy_name_and_uuid(st->owner, n, u))
			continue;
		/* Every selector given must match: a name and a uuid of two
		 * different devices select neither.
		 */
		if (name && strcmp(n, name))
			continue;
		if (uuid && *uuid && strcmp(u, uuid))
			continue;
		if (name || (uuid && *uuid))
			return st;
	}
	return NULL;
}

/**
 * dirtylog_store_get() - keep a store and its dm device while unlocked
 * @st: a store found under dirtylog_stores_lock
 *
 * The store stays allocated and its dm device (dm_hold()) stays in place
 * until dirtylog_store_put(): removing the device waits for that, and so
 * does the destructor of the store's last table (its metadata device
 * stays open until then).
 *
 * Context: dirtylog_stores_lock held.  Return: 0, or -ENODEV when the
 * store has no table left or the dm device is being removed.
 */
int dirtylog_store_get(struct dirtylog_store *st)
{
	lockdep_assert_held(&dirtylog_stores_lock);
	if (!st->tables || dm_hold(st->owner))
		return -ENODEV;
	atomic_inc(&st->users);
	return 0;
}

/**
 * dirtylog_store_put() - release what dirtylog_store_get() took
 * @st: store
 *
 * Context: process context.
 */
void dirtylog_store_put(struct dirtylog_store *st)
{
	struct mapped_device *owner = st->owner;

	/*
	 * After the decrement @st may be freed by its last table's
	 * destructor: wake_up_var() only hashes the address.
	 */
	if (atomic_dec_and_test(&st->users))
		wake_up_var(&st->users);
	dm_put(owner);
}

/* Does store @st sit on the disk @devt, directly or through other stores? */
static bool store_sits_on(struct dirtylog_store *st, dev_t devt,
			  unsigned int depth)
{
	struct dirtylog_store *s;
	dev_t d;

	/* A loaded table that is not live yet counts too: wrongly seeing a
	 * relation is safe (a longer wait or ELOOP), missing one is not.
	 */
	if (st->data_dev == devt || st->staged_data_dev == devt ||
	    st->meta_dev == devt)
		return true;
	if (!depth)
		return false;
	list_for_each_entry(s, &dirtylog_stores, list) {
		if (!s->tables)
			continue;
		d = disk_devt(dm_disk(s->owner));
		if ((d == st->data_dev || d == st->staged_data_dev ||
		     d == st->meta_dev) && store_sits_on(s, devt, depth - 1))
			return true;
	}
	return false;
}

/* How many stores deep store_sits_on() looks: a bound, not a limit of use. */
#define DIRTYLOG_STACK_DEPTH	8

/**
 * dirtylog_store_order() - the order in which to quiesce several devices
 * @sts: the stores, in the order of the request
 * @n: how many
 * @order: set to a permutation of 0..@n-1
 *
 * A device that sits on another one of @sts (its data or metadata device
 * is that one's disk, directly or through other dirtylog devices) comes
 * before it: suspending the lower one first would hold the upper one's
 * I/O, and its suspend would never finish.  Otherwise the request's order
 * is kept, so a caller that knows of other layers in between (dm-linear,
 * LVM) can order for them.
 *
 * Context: dirtylog_stores_lock held.
 * Return: 0, or -ELOOP when two devices sit on each other.
 */
int dirtylog_store_order(struct dirtylog_store **sts, unsigned int n,
			 unsigned int *order)
{
	bool done[DIRTYLOG_MAX_ORDER] = { };
	unsigned int k, i, j;

	lockdep_assert_held(&dirtylog_stores_lock);
	if (n > DIRTYLOG_MAX_ORDER)
		return -E2BIG;
	for (k = 0; k < n; k++) {
		/* The first device in request order that nothing left sits on. */
		for (i = 0; i < n; i++) {
			if (done[i])
				continue;
			for (j = 0; j < n; j++)
				if (j != i && !done[j] &&
				    store_sits_on(sts[j], disk_devt(dm_disk(sts[i]->owner)),
						  DIRTYLOG_STACK_DEPTH))
					break;
			if (j == n)
				break;
		}
		if (i == n)
			return -ELOOP;
		done[i] = true;
		order[k] = i;
	}
	return 0;
}

/* Queries for netlink, under md_sem so a reopen cannot free the md. */
int dirtylog_store_query(struct dirtylog_store *st,
			 const struct dirtylog_query *q)
{
	unsigned int noio = memalloc_noio_save();
	int r;

	down_read(&st->md_sem);
	r = dirtylog_md_query(store_md(st), q);
	up_read(&st->md_sem);
	memalloc_noio_restore(noio);
	return r;
}

int dirtylog_store_list(struct dirtylog_store *st,
			int (*fn)(void *ctx, const struct dirtylog_ckpt_info *ci),
			void *ctx)
{
	int r;

	down_read(&st->md_sem);
	r = dirtylog_md_list(store_md(st), fn, ctx);
	up_read(&st->md_sem);
	return r;
}

struct mapped_device *dirtylog_store_owner(struct dirtylog_store *st)
{
	return st->owner;
}

static const u32 dirtylog_uapi_state[] = {
	[DIRTYLOG_STATE_RW] = DM_DIRTYLOG_STATE_RW,
	[DIRTYLOG_STATE_INVALID] = DM_DIRTYLOG_STATE_INVALID,
	[DIRTYLOG_STATE_FAIL] = DM_DIRTYLOG_STATE_FAIL,
};

static int store_state(struct dirtylog_store *st, struct dirtylog_md_stats *s)
{
	int state = atomic_read(&st->state);

	if (s->failed && state == DIRTYLOG_STATE_RW)
		state = DIRTYLOG_STATE_FAIL;
	if (s->invalid)
		state = DIRTYLOG_STATE_INVALID;
	return state;
}

void dirtylog_store_info(struct dirtylog_store *st, struct dirtylog_dev_info *di)
{
	dev_t devt = disk_devt(dm_disk(st->owner));

	/* On failure the strings stay empty (zeroed). */
	memset(di, 0, sizeof(*di));
	dm_copy_name_and_uuid(st->owner, di->name, di->uuid);
	di->major = MAJOR(devt);
	di->minor = MINOR(devt);
	di->block_sectors = st->block_sectors;
	rcu_read_lock();
	dirtylog_md_stats(rcu_dereference(st->md), &di->stats);
	di->size_sectors = dirtylog_md_data_sectors(rcu_dereference(st->md));
	rcu_read_unlock();
	di->state = dirtylog_uapi_state[store_state(st, &di->stats)];
	snprintf(di->instance_uuid, sizeof(di->instance_uuid), "%16phN",
		 di->stats.uuid);
	di->generation = di->stats.ckpt_gen;
	mutex_lock(&st->live_lock);
	memcpy(di->stray, st->stray, sizeof(di->stray));
	mutex_unlock(&st->live_lock);
}

/* ---------------------------------------------------------------------- */
/* Constructor and destructor */

static int dirtylog_parse_block_size(struct dirtylog_c *dc,
				     struct dm_arg_set *as, char **error)
{
	const char *arg = dm_shift_arg(as);
	unsigned int sectors;

	if (!arg || kstrtouint(arg, 10, &sectors) ||
	    sectors < DM_DIRTYLOG_MIN_BLOCK_SECTORS ||
	    sectors > DM_DIRTYLOG_MAX_BLOCK_SECTORS || !is_power_of_2(sectors)) {
		*error = "Invalid block size: must be a power of two from 8 to 131072 sectors";
		return -EINVAL;
	}
	dc->block_sectors = sectors;
	dc->block_shift = ilog2(sectors);
	return 0;
}

/*
 * Feature arguments: passthrough_on_metadata_error.  Any other is rejected
 * by name so that a table written for a newer module fails loudly here.
 */
static int dirtylog_parse_features(struct dirtylog_c *dc,
				   struct dm_arg_set *as, char **error)
{
	static const struct dm_arg _args[] = {
		{0, 1, "Invalid number of feature arguments"},
	};
	unsigned int argc;
	const char *arg;
	int r;

	if (!as->argc)
		return 0;

	r = dm_read_arg_group(_args, as, &argc, error);
	if (r)
		return r;

	while (argc--) {
		arg = dm_shift_arg(as);
		if (!strcmp(arg, "passthrough_on_metadata_error")) {
			dc->passthrough = true;
			continue;
		}
		DMERR("unrecognised feature argument '%s'", arg);
		*error = "Unrecognised feature argument";
		return -EINVAL;
	}
	if (as->argc) {
		*error = "Unexpected arguments after the feature arguments";
		return -EINVAL;
	}
	return 0;
}

/* Can table @ti share the existing store @st?  Sets ti->error if not. */
static int store_check_share(struct dirtylog_store *st, struct dm_target *ti,
			     struct dirtylog_c *dc)
{
	bool shrink;

	if (st->owner != dm_table_get_md(ti->table)) {
		ti->error = "Metadata device is already in use by another dirtylog device";
		return -EBUSY;
	}
	if (st->last_table == ti->table) {
		ti->error = "Metadata device is used twice in one table";
		return -EBUSY;
	}
	if (st->block_sectors != dc->block_sectors) {
		ti->error = "Block size does not match the one recorded in the metadata";
		return -EINVAL;
	}
	/* A resume that reopens failed metadata swaps st->md under md_sem. */
	rcu_read_lock();
	shrink = ti->len < dirtylog_md_data_sectors(rcu_dereference(st->md));
	rcu_read_unlock();
	if (shrink) {
		ti->error = DIRTYLOG_SHRINK_ERROR;
		return -EINVAL;
	}
	return 0;
}

/*
 * Share the store of this metadata device under dirtylog_stores_lock.
 * Return: 1 when there is none, 0 when shared, or -errno (ti->error set).
 */
static int store_share(struct dm_target *ti, struct dirtylog_c *dc, dev_t meta)
{
	struct dirtylog_store *st;
	int r;

	mutex_lock(&dirtylog_stores_lock);
	st = store_find(meta);
	if (!st) {
		r = 1;
	} else if (!st->tables) {
		ti->error = "Metadata device is still being released by a removed table: retry";
		r = -EBUSY;
	} else {
		r = store_check_share(st, ti, dc);
		if (!r) {
			st->tables++;
			st->last_table = ti->table;
			st->staged_data_dev = dc->data_dev->bdev->bd_dev;
			dc->store = st;
		}
	}
	mutex_unlock(&dirtylog_stores_lock);
	return r;
}

/*
 * Find the store for this metadata device or create it.  Opening new
 * metadata reads (and may format) it, so that happens outside
 * dirtylog_stores_lock, under dirtylog_create_lock, which only
 * constructors of new stores take: a metadata device that does not answer
 * holds up neither the other devices nor reloads of existing ones.
 */
static int dirtylog_get_store(struct dm_target *ti, struct dirtylog_c *dc)
{
	dev_t meta = dc->metadata_dev->bdev->bd_dev;
	struct dirtylog_store *st;
	int r;

	r = store_share(ti, dc, meta);
	if (r <= 0)
		return r;
	mutex_lock(&dirtylog_create_lock);
	/* Another constructor may have created it meanwhile. */
	r = store_share(ti, dc, meta);
	if (r > 0) {
		st = store_create(ti, dc);
		r = PTR_ERR_OR_ZERO(st);
		if (!r) {
			st->last_table = ti->table;
			st->data_dev = dc->data_dev->bdev->bd_dev;
			st->staged_data_dev = st->data_dev;
			dc->store = st;
			list_add_locked(st);
		}
	}
	mutex_unlock(&dirtylog_create_lock);
	return r;
}

static void dirtylog_put_store(struct dirtylog_c *dc)
{
	struct dirtylog_store *st = dc->store;
	bool last;

	mutex_lock(&st->live_lock);
	if (st->live == dc)
		st->live = NULL;
	mutex_unlock(&st->live_lock);

	mutex_lock(&dirtylog_stores_lock);
	if (st->last_table == dc->ti->table)
		st->last_table = NULL;
	last = --st->tables == 0;
	mutex_unlock(&dirtylog_stores_lock);
	if (!last)
		return;
	/*
	 * No new user can find it (dirtylog_store_get() refuses a store
	 * without tables); wait for those still running, which may use the
	 * metadata device until they return, then close the metadata while
	 * the store is still listed, so that a constructor cannot open the
	 * same metadata device before it is closed here.
	 */
	wait_var_event(&st->users, !atomic_read(&st->users));
	flush_workqueue(st->wq);
	store_teardown(st);
	mutex_lock(&dirtylog_stores_lock);
	list_del(&st->list);
	mutex_unlock(&dirtylog_stores_lock);
	kfree(st);
}

static int dirtylog_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dirtylog_c *dc;
	struct dm_arg_set as;
	int r;

	if (argc < 3) {
		ti->error = "Invalid argument count: need <metadata dev> <data dev> <block size>";
		return -EINVAL;
	}

	dc = kzalloc(sizeof(*dc), GFP_KERNEL);
	if (!dc) {
		ti->error = "Cannot allocate dirtylog context";
		return -ENOMEM;
	}
	dc->ti = ti;

	as.argc = argc;
	as.argv = argv;

	/* Commits write the metadata even under a read-only table. */
	r = dm_get_device(ti, dm_shift_arg(&as), DIRTYLOG_META_OPEN_MODE,
			  &dc->metadata_dev);
	if (r) {
		ti->error = "Cannot open metadata device";
		goto out_free_dc;
	}

	r = dm_get_device(ti, dm_shift_arg(&as), dm_table_get_mode(ti->table),
			  &dc->data_dev);
	if (r) {
		ti->error = "Cannot open data device";
		goto out_put_metadata_dev;
	}

	if (bdev_read_only(dc->metadata_dev->bdev)) {
		ti->error = "Metadata device is read-only: commits must write it";
		r = -EROFS;
		goto out_put_data_dev;
	}

	if (dc->metadata_dev->bdev == dc->data_dev->bdev) {
		ti->error = "Metadata and data device must be different devices";
		r = -EINVAL;
		goto out_put_data_dev;
	}

	r = dirtylog_parse_block_size(dc, &as, &ti->error);
	if (r)
		goto out_put_data_dev;

	r = dirtylog_parse_features(dc, &as, &ti->error);
	if (r)
		goto out_put_data_dev;

	if (bdev_nr_sectors(dc->data_dev->bdev) < ti->len) {
		ti->error = "Data device is smaller than the target length";
		r = -EINVAL;
		goto out_put_data_dev;
	}

	r = dirtylog_get_store(ti, dc);
	if (r)
		goto out_put_data_dev;

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_secure_erase_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = sizeof(struct dirtylog_pb);
	ti->private = dc;
	return 0;

out_put_data_dev:
	dm_put_device(ti, dc->data_dev);
out_put_metadata_dev:
	dm_put_device(ti, dc->metadata_dev);
out_free_dc:
	kfree(dc);
	return r;
}

static void dirtylog_dtr(struct dm_target *ti)
{
	struct dirtylog_c *dc = ti->private;

	dirtylog_put_store(dc);
	dm_put_device(ti, dc->data_dev);
	dm_put_device(ti, dc->metadata_dev);
	kfree(dc);
}

/* ---------------------------------------------------------------------- */
/* I/O */

static int dirtylog_map(struct dm_target *ti, struct bio *bio)
{
	struct dirtylog_c *dc = ti->private;
	struct dirtylog_store *st = dc->store;
	struct dirtylog_pb *pb = dm_per_bio_data(bio, sizeof(*pb));
	sector_t offset;
	bool marked;

	pb->how = DIRTYLOG_PB_UNTRACKED;
	if (!op_is_write(bio_op(bio)) || !bio_sectors(bio)) {
		remap(dc, bio);
		return DM_MAPIO_REMAPPED;
	}

	if (atomic_read(&st->state) == DIRTYLOG_STATE_FAIL)
		return DM_MAPIO_KILL;

	offset = dm_target_offset(ti, bio->bi_iter.bi_sector);
	pb->block = offset >> dc->block_shift;
	pb->count = ((offset + bio_sectors(bio) - 1) >> dc->block_shift) -
		    pb->block + 1;
	/*
	 * Untracked (invalid state) writes are registered too: a reset followed
	 * by a checkpoint must find them if they are still in flight.
	 */
	inflight_add(st, pb);
	/*
	 * The state too is read inside the RCU read section: a checkpoint's
	 * grace period then orders it after the registration above.
	 */
	rcu_read_lock();
	if (atomic_read(&st->state) == DIRTYLOG_STATE_INVALID) {
		rcu_read_unlock();
		remap(dc, bio);
		return DM_MAPIO_REMAPPED;
	}
	marked = false;
	if (pb->count <= DIRTYLOG_FASTPATH_MAX_BLOCKS)
		marked = dirtylog_md_test_range(rcu_dereference(st->md),
						pb->block, pb->count);
	rcu_read_unlock();
	remap(dc, bio);
	if (marked)
		return DM_MAPIO_REMAPPED;

	spin_lock_irq(&st->deferred_lock);
	bio_list_add(&st->deferred, bio);
	spin_unlock_irq(&st->deferred_lock);
	queue_work(st->wq, &st->work);
	return DM_MAPIO_SUBMITTED;
}

static int dirtylog_end_io(struct dm_target *ti, struct bio *bio,
			   blk_status_t *error)
{
	struct dirtylog_c *dc = ti->private;
	struct dirtylog_pb *pb = dm_per_bio_data(bio, sizeof(*pb));

	if (pb->how != DIRTYLOG_PB_UNTRACKED)
		inflight_del(dc->store, pb);
	return DM_ENDIO_DONE;
}

/* ---------------------------------------------------------------------- */
/* Suspend and resume */

static void dirtylog_postsuspend(struct dm_target *ti)
{
	struct dirtylog_c *dc = ti->private;

	/* Every deferred write has been marked and issued by now. */
	flush_workqueue(dc->store->wq);
}

/*
 * Reopen metadata that failed, so that reloading over a healthy metadata
 * device recovers.  Called with the device suspended.
 */
static int dirtylog_reopen_failed(struct dm_target *ti, struct dirtylog_c *dc)
{
	struct dirtylog_store *st = dc->store;
	struct dirtylog_md *old, *md;
	struct dirtylog_md_stats s;
	char *error = NULL;
	unsigned int noio;

	down_write(&st->md_sem);
	old = store_md(st);
	dirtylog_md_stats(old, &s);
	if (!s.failed && atomic_read(&st->state) != DIRTYLOG_STATE_FAIL) {
		up_write(&st->md_sem);
		return 0;
	}
	/*
	 * The device is suspended: reclaim that writes to it (a filesystem
	 * on top, swap) would wait for this resume, so nothing allocated
	 * here may start I/O.
	 */
	noio = memalloc_noio_save();
	md = dirtylog_md_open(dc->metadata_dev->bdev, dc->block_sectors, ti->len,
			      &error);
	memalloc_noio_restore(noio);
	if (IS_ERR(md)) {
		up_write(&st->md_sem);
		DMERR("cannot reopen failed metadata: %s", error);
		return PTR_ERR(md);
	}
	rcu_assign_pointer(st->md, md);
	synchronize_rcu();
	dirtylog_md_close(old);
	/*
	 * Writes that went through untracked while the metadata was failing
	 * (passthrough mode) make every checkpoint untrustworthy: record it
	 * on the now healthy device so it survives a reboot too.
	 */
	if (atomic_read(&st->state) == DIRTYLOG_STATE_INVALID)
		dirtylog_md_set_invalid(md);
	dirtylog_md_stats(md, &s);
	atomic_set(&st->state, s.invalid ? DIRTYLOG_STATE_INVALID : DIRTYLOG_STATE_RW);
	up_write(&st->md_sem);
	DMINFO("metadata reopened after a failure");
	store_event(st);
	return 0;
}

static int dirtylog_preresume(struct dm_target *ti)
{
	struct dirtylog_c *dc = ti->private;
	struct dirtylog_store *st = dc->store;
	struct dirtylog_md *md;
	int r;

	r = dirtylog_reopen_failed(ti, dc);
	if (r)
		return r;

	down_read(&st->md_sem);
	md = store_md(st);
	r = 0;
	if (ti->len > dirtylog_md_data_sectors(md)) {
		unsigned int noio = memalloc_noio_save();

		r = dirtylog_md_grow(md, ti->len);
		memalloc_noio_restore(noio);
		if (r)
			DMERR("cannot grow to %llu sectors: %d",
			      (unsigned long long)ti->len, r);
		else
			store_notify(st, DM_DIRTYLOG_CMD_RESIZE_NTF, NULL, 0);
	}
	up_read(&st->md_sem);
	if (r)
		return r;

	st->passthrough = dc->passthrough;
	mutex_lock(&st->live_lock);
	st->live = dc;
	mutex_unlock(&st->live_lock);
	mutex_lock(&dirtylog_stores_lock);
	st->data_dev = dc->data_dev->bdev->bd_dev;
	mutex_unlock(&dirtylog_stores_lock);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Status and messages */

static void dirtylog_status(struct dm_target *ti, status_type_t type,
			    unsigned int status_flags, char *result,
			    unsigned int maxlen)
{
	struct dirtylog_c *dc = ti->private;
	struct dirtylog_store *st = dc->store;
	struct dirtylog_md_stats s;
	unsigned int sz = 0;
	int state;

	switch (type) {
	case STATUSTYPE_INFO:
		rcu_read_lock();
		dirtylog_md_stats(rcu_dereference(st->md), &s);
		rcu_read_unlock();
		state = store_state(st, &s);
		DMEMIT("%u %llu %llu %u %llu %llu/%llu %s", dc->block_sectors,
		       s.nr_blocks, s.dirty_active, s.nr_checkpoints,
		       s.latest_id, s.meta_used, s.meta_total,
		       dirtylog_state_names[state]);
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s %s %u", dc->metadata_dev->name, dc->data_dev->name,
		       dc->block_sectors);
		if (dc->passthrough)
			DMEMIT(" 1 passthrough_on_metadata_error");
		break;
	default:
		if (result && maxlen)
			result[0] = '\0';
		break;
	}
}

struct msg_out {
	char *result;
	unsigned int maxlen;
	unsigned int sz;
};

static int msg_emit_extent(void *ctx, u64 start, u64 count)
{
	struct msg_out *o = ctx;
	char *result = o->result;
	unsigned int maxlen = o->maxlen, sz = o->sz;

	DMEMIT("%llu %llu\n", start, count);
	o->sz = sz;
	return sz >= maxlen - 1;
}

static int msg_emit_ckpt(void *ctx, const struct dirtylog_ckpt_info *ci)
{
	struct msg_out *o = ctx;
	char *result = o->result;
	unsigned int maxlen = o->maxlen, sz = o->sz;

	DMEMIT("%s %llu %llu\n", ci->name, ci->id, ci->ctime_ns);
	o->sz = sz;
	return sz >= maxlen - 1;
}

static int parse_u64(const char *s, u64 *v)
{
	return kstrtoull(s, 10, v) ? -EINVAL : 0;
}

/* A checkpoint name argument: valid, or an error in the kernel log. */
static int msg_name(const char *cmd, unsigned int argc, char **argv)
{
	if (argc != 2) {
		DMERR("%s: expected one checkpoint name", cmd);
		return -EINVAL;
	}
	if (!dirtylog_valid_name(argv[1])) {
		DMERR("invalid checkpoint name: use 1 to %u of A-Z a-z 0-9 . _ : + -",
		      DIRTYLOG_NAME_MAX);
		return -EINVAL;
	}
	return 0;
}

/* "checkpoint NAME": prints the new checkpoint's id. */
static int msg_checkpoint(struct dirtylog_store *st, unsigned int argc,
			  char **argv, struct msg_out *o)
{
	char *result = o->result;
	unsigned int maxlen = o->maxlen, sz = 0;
	u64 id;
	int r;

	r = msg_name(argv[0], argc, argv);
	if (r)
		return r;
	r = dirtylog_store_checkpoint(st, argv[1], &id);
	if (r == -EEXIST)
		DMERR("checkpoint '%s' already exists", argv[1]);
	else if (r == -ENOSPC)
		DMERR("no space for checkpoint '%s' on the metadata device", argv[1]);
	else if (r)
		DMERR("checkpoint '%s' failed: %d", argv[1], r);
	if (r)
		return r;
	DMEMIT("%llu", id);
	return 1;
}

/* "delete_checkpoint NAME" */
static int msg_delete(struct dirtylog_store *st, unsigned int argc,
		      char **argv, struct msg_out *o)
{
	int r;

	r = msg_name(argv[0], argc, argv);
	if (r)
		return r;
	r = dirtylog_store_delete(st, argv[1], 0);
	if (r == -ENOENT)
		DMERR("no checkpoint '%s'", argv[1]);
	else if (r == -ENOSPC)
		DMERR("no space to merge intervals for deleting '%s'", argv[1]);
	else if (r)
		DMERR("delete_checkpoint '%s' failed: %d", argv[1], r);
	return r;
}

/* "reset" */
static int msg_reset(struct dirtylog_store *st, unsigned int argc,
		     char **argv, struct msg_out *o)
{
	int r;

	if (argc != 1)
		return -EINVAL;
	r = dirtylog_store_reset(st);
	if (r)
		DMERR("reset failed: %d", r);
	return r;
}

/* "mark_dirty START COUNT" */
static int msg_mark_dirty(struct dirtylog_store *st, unsigned int argc,
			  char **argv, struct msg_out *o)
{
	u64 start, count;
	int r;

	if (argc != 3 || parse_u64(argv[1], &start) || parse_u64(argv[2], &count)) {
		DMERR("usage: mark_dirty <start block> <count>");
		return -EINVAL;
	}
	r = dirtylog_store_mark(st, start, count);
	if (r == -EINVAL)
		DMERR("mark_dirty: range outside the device or empty");
	else if (r)
		DMERR("mark_dirty failed: %d", r);
	return r;
}

/* "list_checkpoints": one line "NAME ID CTIME_NS" each. */
static int msg_list(struct dirtylog_store *st, unsigned int argc,
		    char **argv, struct msg_out *o)
{
	int r;

	if (argc != 1)
		return -EINVAL;
	if (o->maxlen)
		o->result[0] = '\0';
	r = dirtylog_store_list(st, msg_emit_ckpt, o);
	return r < 0 ? r : 1;
}

/* "dirty SINCE [UNTIL]": one line "START COUNT" per extent. */
static int msg_dirty(struct dirtylog_store *st, unsigned int argc,
		     char **argv, struct msg_out *o)
{
	struct dirtylog_query q = {
		.format = DM_DIRTYLOG_DUMP_EXTENTS,
		.extent = msg_emit_extent, .ctx = o,
	};
	char since[DIRTYLOG_NAME_MAX + 1], until[DIRTYLOG_NAME_MAX + 1];
	int r;

	if (argc < 2 || argc > 3) {
		DMERR("usage: dirty <since checkpoint> [<until checkpoint>]");
		return -EINVAL;
	}
	/*
	 * The arguments live in the ioctl buffer the output overwrites:
	 * keep copies for the whole walk.
	 */
	if (strscpy(since, argv[1], sizeof(since)) < 0 ||
	    (argc == 3 && strscpy(until, argv[2], sizeof(until)) < 0)) {
		DMERR("dirty: no such checkpoint");
		return -ENOENT;
	}
	q.since = since;
	q.until = argc == 3 ? until : NULL;
	if (o->maxlen)
		o->result[0] = '\0';
	r = dirtylog_store_query(st, &q);
	if (r == -ENOENT)
		DMERR("dirty: no such checkpoint");
	else if (r == -EINVAL)
		DMERR("dirty: <until> must be newer than <since>");
	else if (r == -ESTALE)
		DMERR("dirty: tracking invalid: reset, checkpoint, then a full backup");
	else if (r)
		DMERR("dirty: query failed: %d", r);
	return r < 0 ? r : 1;
}

static const struct {
	const char *name;
	int (*fn)(struct dirtylog_store *st, unsigned int argc, char **argv,
		  struct msg_out *o);
} dirtylog_messages[] = {
	{ "checkpoint", msg_checkpoint },
	{ "delete_checkpoint", msg_delete },
	{ "reset", msg_reset },
	{ "mark_dirty", msg_mark_dirty },
	{ "list_checkpoints", msg_list },
	{ "dirty", msg_dirty },
};

static int dirtylog_message(struct dm_target *ti, unsigned int argc,
			    char **argv, char *result, unsigned int maxlen)
{
	struct dirtylog_c *dc = ti->private;
	struct msg_out o = { .result = result, .maxlen = maxlen };
	unsigned int i;

	if (!argc)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(dirtylog_messages); i++)
		if (!strcmp(argv[0], dirtylog_messages[i].name))
			return dirtylog_messages[i].fn(dc->store, argc, argv, &o);
	DMERR("unrecognised message '%s'", argv[0]);
	return -EINVAL;
}

static int dirtylog_iterate_devices(struct dm_target *ti,
				    iterate_devices_callout_fn fn, void *data)
{
	struct dirtylog_c *dc = ti->private;

	return fn(ti, dc->data_dev, 0, ti->len, data);
}

static struct target_type dirtylog_target = {
	.name = DM_DIRTYLOG_TARGET_NAME,
	.version = {0, 2, 0},
	.module = THIS_MODULE,
	.ctr = dirtylog_ctr,
	.dtr = dirtylog_dtr,
	.map = dirtylog_map,
	.end_io = dirtylog_end_io,
	.postsuspend = dirtylog_postsuspend,
	.preresume = dirtylog_preresume,
	.status = dirtylog_status,
	.message = dirtylog_message,
	.iterate_devices = dirtylog_iterate_devices,
};

int __init dirtylog_target_init(void)
{
	int r = dm_register_target(&dirtylog_target);

	if (r)
		DMERR("register failed %d", r);
	return r;
}

void dirtylog_target_exit(void)
{
	dm_unregister_target(&dirtylog_target);
}
