// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test-only device-mapper target "dlfault" for dm-dirtylog's fault tests
 * (tests/vm/test_faults_25.sh): it passes every bio to the device below
 * except those of one class, which fail with EIO without reaching it:
 *
 *   <start> <len> dlfault <dev> flush|reads
 *
 *   flush  bios that carry REQ_PREFLUSH or REQ_FUA (plain reads and
 *          writes succeed, so only the durability points of a commit
 *          fail: dm-flakey cannot do this)
 *   reads  every read (dm-flakey has error_reads only from 6.5 on)
 *
 * Never installed; the VM rig's initramfs carries it for the tests.
 */
#include <linux/module.h>
#include <linux/device-mapper.h>
#include <linux/bio.h>
#include <linux/slab.h>

#define DM_MSG_PREFIX "dlfault"

static atomic64_t dlfault_failed = ATOMIC64_INIT(0);

struct dlfault {
	struct dm_dev *dev;
	bool reads;		/* fail reads, not flush/FUA bios */
};

static int dlfault_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dlfault *fc;
	int r;

	if (argc != 2 || (strcmp(argv[1], "flush") && strcmp(argv[1], "reads"))) {
		ti->error = "Invalid arguments: need <dev> flush|reads";
		return -EINVAL;
	}
	fc = kzalloc(sizeof(*fc), GFP_KERNEL);
	if (!fc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	fc->reads = !strcmp(argv[1], "reads");
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
	bool fail;

	if (fc->reads)
		fail = bio_data_dir(bio) == READ;
	else
		fail = bio->bi_opf & (REQ_PREFLUSH | REQ_FUA);
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
		DMEMIT("%lld", (long long)atomic64_read(&dlfault_failed));
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s %s", fc->dev->name, fc->reads ? "reads" : "flush");
		break;
	default:
		break;
	}
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
