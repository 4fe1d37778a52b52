// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-dirtylog: a device-mapper target that records which blocks of a data
 * device were written, one bitmap per checkpoint interval.
 *
 * This file holds the device-mapper operations: constructor, destructor,
 * map, status, message and the limits/iteration hooks.
 *
 * Locking: the target has no mutable shared state yet; every field of
 * struct dirtylog_c is written once in the constructor and read-only after.
 */

#include <linux/device-mapper.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/log2.h>

#include <linux/dm-dirtylog.h>

#include "compat.h"

#define DM_MSG_PREFIX "dirtylog"

/**
 * struct dirtylog_c - per-target context
 * @ti: the dm target this context belongs to
 * @metadata_dev: device holding the persistent dirty bitmaps
 * @data_dev: device all I/O is remapped to
 * @block_sectors: tracking granularity in 512-byte sectors (power of two)
 * @block_shift: log2(@block_sectors)
 * @nr_blocks: blocks covering the target, the last one possibly partial
 */
struct dirtylog_c {
	struct dm_target *ti;
	struct dm_dev *metadata_dev;
	struct dm_dev *data_dev;
	u32 block_sectors;
	u32 block_shift;
	u64 nr_blocks;
};

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
 * Feature arguments.  None is defined yet; each given one is rejected by
 * name so that a table written for a newer module fails loudly here.
 */
static int dirtylog_parse_features(struct dirtylog_c *dc,
				   struct dm_arg_set *as, char **error)
{
	static const struct dm_arg _args[] = {
		{0, 16, "Invalid number of feature arguments"},
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
		DMERR("unrecognised feature argument '%s'", arg);
		*error = "Unrecognised feature argument";
		return -EINVAL;
	}
	return 0;
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

	r = dm_get_device(ti, dm_shift_arg(&as), dm_table_get_mode(ti->table),
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

	dc->nr_blocks = ((u64)ti->len + dc->block_sectors - 1) >> dc->block_shift;

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_secure_erase_bios = 1;
	ti->num_write_zeroes_bios = 1;
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

	dm_put_device(ti, dc->data_dev);
	dm_put_device(ti, dc->metadata_dev);
	kfree(dc);
}

static int dirtylog_map(struct dm_target *ti, struct bio *bio)
{
	struct dirtylog_c *dc = ti->private;

	bio_set_dev(bio, dc->data_dev->bdev);
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	return DM_MAPIO_REMAPPED;
}

static void dirtylog_status(struct dm_target *ti, status_type_t type,
			    unsigned int status_flags, char *result,
			    unsigned int maxlen)
{
	struct dirtylog_c *dc = ti->private;
	unsigned int sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		DMEMIT("%u %llu", dc->block_sectors,
		       (unsigned long long)dc->nr_blocks);
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s %s %u", dc->metadata_dev->name, dc->data_dev->name,
		       dc->block_sectors);
		break;
	default:
		if (result && maxlen)
			result[0] = '\0';
		break;
	}
}

static int dirtylog_iterate_devices(struct dm_target *ti,
				    iterate_devices_callout_fn fn, void *data)
{
	struct dirtylog_c *dc = ti->private;

	return fn(ti, dc->data_dev, 0, ti->len, data);
}

static struct target_type dirtylog_target = {
	.name = DM_DIRTYLOG_TARGET_NAME,
	.version = {0, 1, 0},
	.module = THIS_MODULE,
	.ctr = dirtylog_ctr,
	.dtr = dirtylog_dtr,
	.map = dirtylog_map,
	.status = dirtylog_status,
	.iterate_devices = dirtylog_iterate_devices,
};

static int __init dirtylog_init(void)
{
	int r;

	r = dm_register_target(&dirtylog_target);
	if (r)
		DMERR("register failed %d", r);
	return r;
}

static void __exit dirtylog_exit(void)
{
	dm_unregister_target(&dirtylog_target);
}

module_init(dirtylog_init);
module_exit(dirtylog_exit);

MODULE_DESCRIPTION(DM_NAME " target recording changed blocks per checkpoint");
MODULE_LICENSE("GPL");
