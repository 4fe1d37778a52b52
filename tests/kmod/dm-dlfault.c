// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test-only device-mapper target "dlfault" for dm-dirtylog's fault tests
 * (tests/vm/test_faults_25.sh): it passes every bio to the device below
 * except those of one class, which fail with EIO without reaching it:
 *
 *   <start> <len> dlfault <dev> flush|reads|budget
 *
 *   flush  bios that carry REQ_PREFLUSH or REQ_FUA (plain reads and
 *          writes succeed, so only the durability points of a commit
 *          fail: dm-flakey cannot do this)
 *   reads  every read (dm-flakey has error_reads only from 6.5 on)
 *   budget flush/FUA bios pass until a budget set with the message
 *          "budget N" is used up, then fail; "budget off" lifts it
 *          (tests/vm/test_rollback_34.sh: the commit after a given
 *          number of commits fails)
 *
 * Status: the number of bios failed (all targets), then the number of
 * flush/FUA bios this target has seen.
 *
 * Never installed; the VM rig's initramfs carries it for the tests.
 */
#include <linux/module.h>
#include <linux/device-mapper.h>
#include <linux/bio.h>
#include <linux/slab.h>

#define DM_MSG_PREFIX "dlfault"

static atomic64_t dlfault_failed = ATOMIC64_INIT(0);

enum dlfault_mode { DLFAULT_FLUSH, DLFAULT_READS, DLFAULT_BUDGET };

struct dlfault {
	struct dm_dev *dev;
	enum dlfault_mode mode;
	atomic64_t flushes;	/* flush/FUA bios seen */
	atomic_t budget;	/* budget mode: flush/FUA bios still passed */
	bool limited;		/* budget mode: a budget is set */
};

static int dlfault_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dlfault *fc;
	int r;

	if (argc != 2 || (strcmp(argv[1], "flush") && strcmp(argv[1], "reads") &&
			  strcmp(argv[1], "budget"))) {
		ti->error = "Invalid arguments: need <dev> flush|reads|budget";
		return -EINVAL;
	}
	fc = kzalloc(sizeof(*fc), GFP_KERNEL);
	if (!fc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	fc->mode = !strcmp(argv[1], "reads") ? DLFAULT_READS :
		   !strcmp(argv[1], "budget") ? DLFAULT_BUDGET : DLFAULT_FLUSH;
	atomic64_set(&fc->flushes, 0);
	atomic_set(&fc->budget, 0);
	r = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &fc->dev);
	if (r) {
		ti->error = "Cannot open device";
		kfree(fc);
		return r;
	}
	ti->private = fc;
	ti->num_flush_bios = 1;
	return 0;
}

static void dlfault_dtr(struct dm_target *ti)
{
	struct dlfault *fc = ti->private;

	dm_put_device(ti, fc->dev);
	kfree(fc);
}

static int dlfault_map(struct dm_target *ti, struct bio *bio)
{
	struct dlfault *fc = ti->private;
	bool flush = bio->bi_opf & (REQ_PREFLUSH | REQ_FUA);
	bool fail;

	if (flush)
		atomic64_inc(&fc->flushes);
	switch (fc->mode) {
	case DLFAULT_READS:
		fail = bio_data_dir(bio) == READ;
		break;
	case DLFAULT_BUDGET:
		fail = flush && READ_ONCE(fc->limited) &&
		       atomic_dec_if_positive(&fc->budget) < 0;
		break;
	default:
		fail = flush;
	}
	if (fail) {
		atomic64_inc(&dlfault_failed);
		return DM_MAPIO_KILL;
	}
	bio_set_dev(bio, fc->dev->bdev);
	bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	return DM_MAPIO_REMAPPED;
}

static void dlfault_status(struct dm_target *ti, status_type_t type,
			   unsigned int status_flags, char *result,
			   unsigned int maxlen)
{
	struct dlfault *fc = ti->private;
	unsigned int sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		DMEMIT("%lld %lld", (long long)atomic64_read(&dlfault_failed),
		       (long long)atomic64_read(&fc->flushes));
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s %s", fc->dev->name,
		       fc->mode == DLFAULT_READS ? "reads" :
		       fc->mode == DLFAULT_BUDGET ? "budget" : "flush");
		break;
	default:
		break;
	}
}

/* "budget N" (N >= 0) or "budget off", budget mode only. */
static int dlfault_message(struct dm_target *ti, unsigned int argc,
			   char **argv, char *result, unsigned int maxlen)
{
	struct dlfault *fc = ti->private;
	unsigned int n;

	if (fc->mode != DLFAULT_BUDGET || argc != 2 || strcmp(argv[0], "budget"))
		return -EINVAL;
	if (!strcmp(argv[1], "off")) {
		WRITE_ONCE(fc->limited, false);
		return 0;
	}
	if (kstrtouint(argv[1], 10, &n) || n > INT_MAX)
		return -EINVAL;
	atomic_set(&fc->budget, n);
	WRITE_ONCE(fc->limited, true);
	return 0;
}

static int dlfault_iterate_devices(struct dm_target *ti,
				   iterate_devices_callout_fn fn, void *data)
{
	struct dlfault *fc = ti->private;

	return fn(ti, fc->dev, 0, ti->len, data);
}

static struct target_type dlfault_target = {
	.name = "dlfault",
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = dlfault_ctr,
	.dtr = dlfault_dtr,
	.map = dlfault_map,
	.status = dlfault_status,
	.message = dlfault_message,
	.iterate_devices = dlfault_iterate_devices,
};

static int __init dlfault_init(void)
{
	return dm_register_target(&dlfault_target);
}

static void __exit dlfault_exit(void)
{
	dm_unregister_target(&dlfault_target);
}

module_init(dlfault_init);
module_exit(dlfault_exit);
MODULE_DESCRIPTION("dm-dirtylog tests: fail flush/FUA bios or reads");
MODULE_LICENSE("GPL");
