// SPDX-License-Identifier: GPL-2.0-only
/*
 * Offline dm-dirtylog metadata reader, checker and writer: see dl-meta.h.
 * Every block is read with pread() into a private buffer and validated
 * before any field of it is used; offsets inside a block are constants, so
 * no field can make the tool read outside its buffers.
 */
#include "dl-meta.h"
#include "dl-bmfile.h"		/* dl_crc32c() */
#include "dl-util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#define SB_MAGIC	0x44474c53U
#define TABLE_MAGIC	0x44474c54U
#define NODE_MAGIC	0x44474c4eU
#define PAGE_MAGIC	0x44474c50U
#define CSUM_XOR	0x6469726bU
#define SB_FLAG_INVALID	1U
#define MAX_BLOCK_SECTORS 131072U

/* Field offsets (little-endian), after the 16-byte header. */
#define SB_VERSION	16
#define SB_FLAGS	20
#define SB_UUID		24
#define SB_GENERATION	40
#define SB_DATA_SECTORS	48
#define SB_BLOCK_SECTORS 56
#define SB_DEPTH	60
#define SB_NR_META	64
#define SB_NEXT_ID	72
#define SB_NR_CKPTS	80
#define SB_NR_TABLE	84
#define SB_TABLE_ROOT	88
#define SB_ACTIVE_ROOT	96
#define TB_NEXT		16
#define TB_COUNT	24
#define TB_ENTRIES	32
#define TB_ENTRY_SIZE	96
#define NODE_LEVEL	16
#define NODE_ENTRIES	32
#define PAGE_BITS	16

uint32_t dl_meta_csum(const uint8_t *blk)
{
	/* The kernel's crc32c(~0, ...) has no final inversion. */
	return ~dl_crc32c(0, blk + 4, DLM_BLOCK_SIZE - 4) ^ CSUM_XOR;
}

static void seal(uint8_t *blk, uint32_t magic, uint64_t b)
{
	dl_put_le32(blk + 4, magic);
	dl_put_le64(blk + 8, b);
	dl_put_le32(blk, dl_meta_csum(blk));
}

__attribute__((format(printf, 5, 6)))
static void problem(struct dl_meta *m, uint64_t b, const char *structure,
		    const char *interval, const char *fmt, ...)
{
	struct dlm_problem *p;
	va_list ap;

	if (m->nr_probs == m->probs_cap) {
		size_t cap = m->probs_cap ? 2 * m->probs_cap : 16;
		void *n = realloc(m->probs, cap * sizeof(*m->probs));

		if (!n)
			return;	/* the rest still gets reported as counts */
		m->probs = n;
		m->probs_cap = cap;
	}
	p = &m->probs[m->nr_probs++];
	p->block = b;
	p->structure = structure;
	p->interval = interval;
	va_start(ap, fmt);
	vsnprintf(p->what, sizeof(p->what), fmt, ap);
	va_end(ap);
}

int dl_meta_open_dev(const char *path, bool rw, char *err, size_t errlen)
{
	struct stat st;
	int fl = rw ? O_RDWR : O_RDONLY;
	int fd;

	if (stat(path, &st))
		return dl_fail(err, errlen, errno, "cannot open %s: %s", path,
			       strerror(errno));
	if (S_ISBLK(st.st_mode))
		fl |= O_EXCL;
	else if (!S_ISREG(st.st_mode))
		return dl_fail(err, errlen, EINVAL,
			       "%s is neither a block device nor a file", path);
	fd = open(path, fl | O_CLOEXEC);
	if (fd < 0 && errno == EBUSY)
		return dl_fail(err, errlen, EBUSY,
			       "%s is in use (held by a live target or mounted): "
			       "remove the dirtylog device first", path);
	if (fd < 0)
		return dl_fail(err, errlen, errno, "cannot open %s: %s", path,
			       strerror(errno));
	return fd;
}

/* Read block @b; 0 or -errno (a short read past the end is -ENXIO). */
static int read_block(struct dl_meta *m, uint64_t b, uint8_t *buf)
{
	ssize_t n = pread(m->fd, buf, DLM_BLOCK_SIZE, (off_t)(b * DLM_BLOCK_SIZE));

	if (n < 0)
		return -errno;
	if (n != DLM_BLOCK_SIZE)
		return -ENXIO;
	return 0;
}

static uint32_t depth_for(uint64_t nr_pages)
{
	uint64_t cap = DLM_NODE_ENTRIES;
	uint32_t d = 1;

	while (cap < nr_pages) {
		cap *= DLM_NODE_ENTRIES;
		d++;
	}
	return d;
}

/* Pages covered by one entry of a node at @level (>= 1). */
static uint64_t span_of_entry(uint32_t level)
{
	uint64_t s = 1;

	while (--level)
		s *= DLM_NODE_ENTRIES;
	return s;
}

/*
 * Reach block @b for @structure from block @parent: it must lie inside the
 * device and not have been reached before.  Returns true when it may be
 * read.  A bad pointer is reported at @parent, a second reference at @b.
 */
static bool claim(struct dl_meta *m, uint64_t b, const char *structure,
		  const char *iv, uint64_t parent)
{
	if (b == 0 || b >= m->nr_meta_blocks) {
		problem(m, parent, "space-map", iv,
			"%s pointer to block %" PRIu64 " outside the device (%" PRIu64
			" blocks)", structure, b, m->nr_meta_blocks);
		return false;
	}
	if (m->owner[b]) {
		problem(m, b, "space-map", iv,
			"block is referenced more than once (again as %s from block %"
			PRIu64 ")", structure, parent);
		/* Which use is right is unknown: the first one is suspect too. */
		if (m->owner[b] >= DLM_OWN_ACTIVE)
			m->taint[m->owner[b] - DLM_OWN_ACTIVE] = true;
		return false;
	}
	m->owner[b] = m->cur_owner;
	m->nr_used++;
	return true;
}

/* Read and check block @b's header; a problem is recorded on failure. */
static bool read_checked(struct dl_meta *m, uint64_t b, uint32_t magic,
			 const char *structure, const char *iv, uint8_t *buf)
{
	int r = read_block(m, b, buf);

	if (r) {
		problem(m, b, structure, iv, "read error: %s", strerror(-r));
		return false;
	}
	if (dl_get_le32(buf + 4) != magic) {
		bool zero = true;

		for (size_t i = 0; i < DLM_BLOCK_SIZE && zero; i++)
			zero = !buf[i];
		problem(m, b, structure, iv, zero ? "block is all zero" :
			"bad magic 0x%08" PRIx32 " (want 0x%08" PRIx32 ")",
			dl_get_le32(buf + 4), magic);
		return false;
	}
	if (dl_get_le64(buf + 8) != b) {
		problem(m, b, structure, iv, "block says it is block %" PRIu64,
			dl_get_le64(buf + 8));
		return false;
	}
	if (dl_get_le32(buf) != dl_meta_csum(buf)) {
		problem(m, b, structure, iv, "checksum mismatch");
		return false;
	}
	return true;
}

/* Make pages [first, first + n) of @iv all dirty. */
static int mark_full(struct dl_meta *m, struct dlm_interval *iv, uint64_t first,
		     uint64_t n)
{
	iv->damaged = true;
	for (uint64_t p = first; p < first + n && p < m->nr_pages; p++) {
		if (!iv->pages[p]) {
			iv->pages[p] = malloc(DLM_PAGE_BYTES);
			if (!iv->pages[p])
				return -ENOMEM;
		}
		memset(iv->pages[p], 0xff, DLM_PAGE_BYTES);
	}
	return 0;
}

static int iv_alloc(struct dl_meta *m, struct dlm_interval *iv)
{
	iv->pages = calloc(m->nr_pages, sizeof(*iv->pages));
	return iv->pages ? 0 : -ENOMEM;
}

static void iv_free(struct dl_meta *m, struct dlm_interval *iv)
{
	if (!iv->pages)
		return;
	for (uint64_t p = 0; p < m->nr_pages; p++)
		free(iv->pages[p]);
	free(iv->pages);
	iv->pages = NULL;
}

/* Walk the subtree at @b (level @level, index @index) into @iv. */
static int walk(struct dl_meta *m, struct dlm_interval *iv, const char *name,
		uint64_t b, uint32_t level, uint64_t index, uint64_t parent)
{
	uint8_t buf[DLM_BLOCK_SIZE];
	uint64_t span, cover;
	int r;

	if (level == 0) {
		if (!claim(m, b, "bitmap-page", name, parent) ||
		    !read_checked(m, b, PAGE_MAGIC, "bitmap-page", name, buf))
			return mark_full(m, iv, index, 1);
		if (!iv->pages[index]) {
			iv->pages[index] = malloc(DLM_PAGE_BYTES);
			if (!iv->pages[index])
				return -ENOMEM;
		}
		memcpy(iv->pages[index], buf + PAGE_BITS, DLM_PAGE_BYTES);
		return 0;
	}
	span = span_of_entry(level);
	cover = span * DLM_NODE_ENTRIES;
	if (!claim(m, b, "tree-node", name, parent) ||
	    !read_checked(m, b, NODE_MAGIC, "tree-node", name, buf))
		return mark_full(m, iv, index * cover, cover);
	if (dl_get_le32(buf + NODE_LEVEL) != level) {
		problem(m, b, "tree-node", name, "level %" PRIu32 ", expected %" PRIu32,
			dl_get_le32(buf + NODE_LEVEL), level);
		return mark_full(m, iv, index * cover, cover);
	}
	for (uint32_t j = 0; j < DLM_NODE_ENTRIES; j++) {
		uint64_t child = dl_get_le64(buf + NODE_ENTRIES + 8 * j);
		uint64_t ci = index * DLM_NODE_ENTRIES + j;

		if (!child)
			continue;
		if (ci * span >= m->nr_pages) {
			problem(m, b, "tree-node", name,
				"entry %" PRIu32 " points beyond the device", j);
			continue;	/* covers nothing: dropped */
		}
		r = walk(m, iv, name, child, level - 1, ci, b);
		if (r)
			return r;
	}
	return 0;
}

static bool valid_name(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > DLM_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && !strchr("._:+-", c))
			return false;
	}
	return true;
}

static void note_dropped(struct dl_meta *m, const char *name)
{
	size_t l = strlen(m->dropped_names);

	m->dropped_ckpts++;
	if (name && l + strlen(name) + 2 < sizeof(m->dropped_names))
		snprintf(m->dropped_names + l, sizeof(m->dropped_names) - l, "%s%s",
			 l ? " " : "", name);
}

/* Superblock: sets sb_state and the geometry. */
static void read_sb(struct dl_meta *m, const struct dl_meta_geom *g)
{
	uint8_t buf[DLM_BLOCK_SIZE];
	bool zero = true;
	int r = read_block(m, 0, buf);

	m->sb_state = DLM_SB_LOST;
	if (r) {
		problem(m, 0, "superblock", NULL, "read error: %s", strerror(-r));
		goto geometry;
	}
	for (size_t i = 0; i < DLM_BLOCK_SIZE && zero; i++)
		zero = !buf[i];
	if (zero) {
		problem(m, 0, "superblock", NULL,
			"block is all zero: the kernel would format the device afresh");
		goto geometry;
	}
	if (dl_get_le32(buf + 4) != SB_MAGIC || dl_get_le64(buf + 8) != 0) {
		problem(m, 0, "superblock", NULL, "bad magic or location: not dirtylog metadata "
			"or overwritten");
		goto geometry;
	}
	m->sb_state = DLM_SB_OK;
	if (dl_get_le32(buf) != dl_meta_csum(buf)) {
		problem(m, 0, "superblock", NULL,
			"checksum mismatch (fields used with care, active interval "
			"taken as all dirty)");
		m->sb_state = DLM_SB_SALVAGED;
	}
	m->version = dl_get_le32(buf + SB_VERSION);
	m->flags = dl_get_le32(buf + SB_FLAGS);
	memcpy(m->uuid, buf + SB_UUID, 16);
	m->generation = dl_get_le64(buf + SB_GENERATION);
	m->data_sectors = dl_get_le64(buf + SB_DATA_SECTORS);
	m->block_sectors = dl_get_le32(buf + SB_BLOCK_SECTORS);
	m->depth = dl_get_le32(buf + SB_DEPTH);
	m->sb_nr_meta_blocks = dl_get_le64(buf + SB_NR_META);
	m->next_ckpt_id = dl_get_le64(buf + SB_NEXT_ID);
	m->sb_nr_ckpts = dl_get_le32(buf + SB_NR_CKPTS);
	m->sb_nr_table_blocks = dl_get_le32(buf + SB_NR_TABLE);
	m->table_root = dl_get_le64(buf + SB_TABLE_ROOT);
	m->active_root = dl_get_le64(buf + SB_ACTIVE_ROOT);

	if (m->version != 1) {
		problem(m, 0, "superblock", NULL, "unsupported version %" PRIu32, m->version);
		m->sb_state = DLM_SB_LOST;
	}
	if (m->flags & ~SB_FLAG_INVALID) {
		problem(m, 0, "superblock", NULL, "unknown flags 0x%" PRIx32, m->flags);
		m->flags &= SB_FLAG_INVALID;
	}
	if (m->block_sectors < 8 || m->block_sectors > MAX_BLOCK_SECTORS ||
	    (m->block_sectors & (m->block_sectors - 1))) {
		problem(m, 0, "superblock", NULL, "invalid block size %" PRIu32 " sectors",
			m->block_sectors);
		m->sb_state = DLM_SB_LOST;
	}
	if (!m->data_sectors || m->data_sectors > (UINT64_MAX >> 12)) {
		problem(m, 0, "superblock", NULL, "invalid data size %" PRIu64 " sectors",
			m->data_sectors);
		m->sb_state = DLM_SB_LOST;
	}
	if (!m->next_ckpt_id) {
		problem(m, 0, "superblock", NULL, "next checkpoint id is 0");
		m->next_ckpt_id = 1;	/* raised past the kept ids below */
	}
	if (m->sb_nr_ckpts > DLM_MAX_CKPTS) {
		problem(m, 0, "superblock", NULL, "%" PRIu32 " checkpoints (at most %u)",
			m->sb_nr_ckpts, DLM_MAX_CKPTS);
		m->sb_nr_ckpts = DLM_MAX_CKPTS;
	}
	if (m->sb_nr_meta_blocks > m->nr_meta_blocks &&
	    m->nr_meta_blocks < DLM_MAX_META_BLOCKS)
		problem(m, 0, "device", NULL, "superblock records %" PRIu64
			" metadata blocks, the device has %" PRIu64 " (truncated?)",
			m->sb_nr_meta_blocks, m->nr_meta_blocks);
geometry:
	if (g && g->block_sectors)
		m->block_sectors = g->block_sectors;
	if (g && g->data_sectors)
		m->data_sectors = g->data_sectors;
	if (m->sb_state == DLM_SB_LOST) {
		/* A new instance: nothing of the old chain is kept. */
		if (getrandom(m->uuid, sizeof(m->uuid), 0) != sizeof(m->uuid))
			memset(m->uuid, 0x5a, sizeof(m->uuid));
		m->uuid[6] = (uint8_t)((m->uuid[6] & 0x0f) | 0x40);
		m->uuid[8] = (uint8_t)((m->uuid[8] & 0x3f) | 0x80);
		m->sb_nr_ckpts = 0;
		m->sb_nr_table_blocks = 0;
		m->table_root = 0;
		m->active_root = 0;
		m->flags = 0;
		m->version = 1;
		if (!m->next_ckpt_id)
			m->next_ckpt_id = 1;
	}
	if (m->block_sectors >= 8 && m->block_sectors <= MAX_BLOCK_SECTORS &&
	    !(m->block_sectors & (m->block_sectors - 1)) && m->data_sectors &&
	    m->data_sectors <= (UINT64_MAX >> 12)) {
		m->nr_blocks = (m->data_sectors + m->block_sectors - 1) / m->block_sectors;
		m->nr_pages = (m->nr_blocks + DLM_BITS_PER_PAGE - 1) / DLM_BITS_PER_PAGE;
		if (m->sb_state != DLM_SB_LOST && m->depth != depth_for(m->nr_pages)) {
			problem(m, 0, "superblock", NULL, "tree depth %" PRIu32
				", expected %" PRIu32, m->depth, depth_for(m->nr_pages));
			if (m->depth < 1 || m->depth > DLM_MAX_DEPTH)
				m->sb_state = DLM_SB_LOST;
			else
				m->sb_state = DLM_SB_SALVAGED;
		}
		if (m->sb_state == DLM_SB_LOST)
			m->depth = depth_for(m->nr_pages);
	} else {
		m->nr_blocks = m->nr_pages = 0;
	}
}

/* The checkpoint table; returns -ENOMEM or 0. */
static int read_table(struct dl_meta *m, bool *tail_lost)
{
	uint8_t buf[DLM_BLOCK_SIZE];
	uint32_t want = (m->sb_nr_ckpts + DLM_TABLE_ENTRIES - 1) / DLM_TABLE_ENTRIES;
	uint64_t b = m->table_root;
	uint32_t c = 0;		/* entries seen */
	uint64_t parent = 0;
	bool drop_next = false;

	*tail_lost = false;
	m->cur_owner = DLM_OWN_TABLE;
	m->ckpts = calloc(m->sb_nr_ckpts ? m->sb_nr_ckpts : 1, sizeof(*m->ckpts));
	if (!m->ckpts)
		return -ENOMEM;
	if (m->sb_nr_table_blocks != want || (want && !b) || (!want && b)) {
		problem(m, 0, "checkpoint-table", NULL,
			"superblock: %" PRIu32 " checkpoints in %" PRIu32
			" table blocks starting at %" PRIu64 " do not fit",
			m->sb_nr_ckpts, m->sb_nr_table_blocks, b);
		if (!b)
			*tail_lost = m->sb_nr_ckpts > 0;
	}
	for (uint32_t i = 0; b && c < m->sb_nr_ckpts && i <= DLM_MAX_CKPTS; i++) {
		uint32_t count;

		if (!claim(m, b, "checkpoint-table", NULL, parent) ||
		    !read_checked(m, b, TABLE_MAGIC, "checkpoint-table", NULL, buf)) {
			*tail_lost = true;
			break;
		}
		count = dl_get_le32(buf + TB_COUNT);
		if (count > DLM_TABLE_ENTRIES || c + count > m->sb_nr_ckpts) {
			problem(m, b, "checkpoint-table", NULL,
				"count %" PRIu32 " does not fit (%" PRIu32 " of %" PRIu32
				" entries seen)", count, c, m->sb_nr_ckpts);
			if (count > DLM_TABLE_ENTRIES)
				count = DLM_TABLE_ENTRIES;
			if (c + count > m->sb_nr_ckpts)
				count = m->sb_nr_ckpts - c;
		}
		for (uint32_t k = 0; k < count; k++, c++) {
			const uint8_t *e = buf + TB_ENTRIES + k * TB_ENTRY_SIZE;
			struct dlm_ckpt *ck = &m->ckpts[m->nr_ckpts];
			bool ok = true;

			memset(ck, 0, sizeof(*ck));
			memcpy(ck->name, e, DLM_NAME_MAX);
			ck->id = dl_get_le64(e + 64);
			ck->ctime_ns = dl_get_le64(e + 72);
			ck->root = dl_get_le64(e + 80);
			if (!valid_name(ck->name) || !ck->id ||
			    (m->nr_ckpts && ck->id <= m->ckpts[m->nr_ckpts - 1].id)) {
				problem(m, b, "checkpoint-table", NULL,
					"entry %" PRIu32 " (checkpoint %" PRIu32
					") is invalid: dropped", k, c);
				ok = false;
			}
			for (uint32_t j = 0; ok && j < m->nr_ckpts; j++) {
				if (!strcmp(m->ckpts[j].name, ck->name)) {
					problem(m, b, "checkpoint-table", NULL,
						"checkpoint '%s' appears twice: the "
						"second dropped", ck->name);
					ok = false;
				}
			}
			if (!ok) {
				note_dropped(m, valid_name(ck->name) ? ck->name : NULL);
				drop_next = true;
				continue;
			}
			if (ck->id >= m->next_ckpt_id) {
				problem(m, 0, "superblock", NULL, "next checkpoint id %" PRIu64
					" is not above checkpoint id %" PRIu64,
					m->next_ckpt_id, ck->id);
				m->next_ckpt_id = ck->id + 1;
			}
			if (iv_alloc(m, &ck->iv))
				return -ENOMEM;
			/* The interval after a dropped entry also holds its writes. */
			if (drop_next && m->nr_ckpts &&
			    mark_full(m, &ck->iv, 0, m->nr_pages))
				return -ENOMEM;
			drop_next = false;
			m->nr_ckpts++;
		}
		parent = b;
		b = dl_get_le64(buf + TB_NEXT);
		if (c < m->sb_nr_ckpts && !b) {
			problem(m, 0, "checkpoint-table", NULL,
				"chain ends after %" PRIu32 " of %" PRIu32 " checkpoints",
				c, m->sb_nr_ckpts);
			*tail_lost = true;
		} else if (c >= m->sb_nr_ckpts && b) {
			problem(m, b, "checkpoint-table", NULL,
				"chain goes on past the last checkpoint");
		}
	}
	if (c < m->sb_nr_ckpts) {
		*tail_lost = true;
		for (; c < m->sb_nr_ckpts; c++)
			note_dropped(m, NULL);
	}
	if (drop_next)
		*tail_lost = true;	/* the active interval takes it */
	return 0;
}

int dl_meta_read(struct dl_meta *m, int fd, const struct dl_meta_geom *g,
		 char *err, size_t errlen)
{
	struct stat st;
	uint64_t bytes;
	bool tail_lost = false;
	int r;

	m->fd = fd;
	if (fstat(fd, &st))
		return dl_fail(err, errlen, errno, "cannot stat the metadata: %s",
			       strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &bytes))
			return dl_fail(err, errlen, errno, "BLKGETSIZE64: %s",
				       strerror(errno));
	} else {
		bytes = (uint64_t)st.st_size;
	}
	m->dev_bytes = bytes;
	m->nr_meta_blocks = bytes / DLM_BLOCK_SIZE;
	if (m->nr_meta_blocks > DLM_MAX_META_BLOCKS)
		m->nr_meta_blocks = DLM_MAX_META_BLOCKS;
	if (m->nr_meta_blocks < DLM_MIN_META_BLOCKS)
		return dl_fail(err, errlen, EINVAL,
			       "metadata device too small: %" PRIu64
			       " bytes, at least 64 KiB needed", bytes);
	m->owner = calloc(m->nr_meta_blocks, sizeof(*m->owner));
	if (!m->owner)
		return dl_fail(err, errlen, ENOMEM, "out of memory");
	m->owner[0] = DLM_OWN_SB;
	m->nr_used = 1;

	read_sb(m, g);
	if (!m->nr_pages)
		return 0;	/* no geometry: nothing more can be read */
	if (iv_alloc(m, &m->active))
		return dl_fail(err, errlen, ENOMEM, "out of memory");
	r = read_table(m, &tail_lost);
	if (r)
		return dl_fail(err, errlen, -r, "out of memory");
	m->taint = calloc(m->nr_ckpts + 1, sizeof(*m->taint));
	if (!m->taint)
		return dl_fail(err, errlen, ENOMEM, "out of memory");

	for (uint32_t i = 0; i < m->nr_ckpts; i++) {
		struct dlm_ckpt *ck = &m->ckpts[i];

		if (i == 0) {
			/* The interval before the oldest is not kept. */
			if (ck->root && !m->dropped_ckpts)
				problem(m, 0, "checkpoint-table", ck->name,
					"the oldest checkpoint has a tree (root %" PRIu64
					"): dropped", ck->root);
			iv_free(m, &ck->iv);
			if (iv_alloc(m, &ck->iv))
				return dl_fail(err, errlen, ENOMEM, "out of memory");
			ck->iv.damaged = false;
			continue;
		}
		m->cur_owner = DLM_OWN_ACTIVE + 1 + i;
		if (ck->root) {
			r = walk(m, &ck->iv, ck->name, ck->root, m->depth, 0, 0);
			if (r)
				return dl_fail(err, errlen, -r, "out of memory");
		}
	}
	if (m->sb_state == DLM_SB_LOST) {
		if (mark_full(m, &m->active, 0, m->nr_pages))
			return dl_fail(err, errlen, ENOMEM, "out of memory");
		return 0;
	}
	m->cur_owner = DLM_OWN_ACTIVE;
	if (m->active_root) {
		r = walk(m, &m->active, "active", m->active_root, m->depth, 0, 0);
		if (r)
			return dl_fail(err, errlen, -r, "out of memory");
	}
	for (uint32_t i = 1; i < m->nr_ckpts; i++)
		if (m->taint[1 + i] && mark_full(m, &m->ckpts[i].iv, 0, m->nr_pages))
			return dl_fail(err, errlen, ENOMEM, "out of memory");
	if (m->taint[0])
		tail_lost = true;
	if ((tail_lost || m->sb_state == DLM_SB_SALVAGED) &&
	    mark_full(m, &m->active, 0, m->nr_pages))
		return dl_fail(err, errlen, ENOMEM, "out of memory");
	return 0;
}

void dl_meta_free(struct dl_meta *m)
{
	if (m->ckpts)
		for (uint32_t i = 0; i < m->nr_ckpts; i++)
			iv_free(m, &m->ckpts[i].iv);
	free(m->ckpts);
	iv_free(m, &m->active);
	free(m->owner);
	free(m->taint);
	free(m->probs);
	m->ckpts = NULL;
	m->owner = NULL;
	m->taint = NULL;
	m->probs = NULL;
}

/* Valid bits of page @p. */
static uint32_t page_bits(const struct dl_meta *m, uint64_t p)
{
	uint64_t first = p * DLM_BITS_PER_PAGE;
	uint64_t n = m->nr_blocks - first;

	return n < DLM_BITS_PER_PAGE ? (uint32_t)n : DLM_BITS_PER_PAGE;
}

static inline bool bit(const uint8_t *pg, uint32_t i)
{
	return pg[i / 8] & (1U << (i % 8));
}

uint64_t dl_meta_count(const struct dl_meta *m, const struct dlm_interval *iv,
		       uint64_t *pages)
{
	uint64_t n = 0, np = 0;

	for (uint64_t p = 0; iv->pages && p < m->nr_pages; p++) {
		const uint8_t *pg = iv->pages[p];
		uint32_t nb = page_bits(m, p);

		if (!pg)
			continue;
		np++;
		for (uint32_t i = 0; i < nb; i++)
			n += bit(pg, i);
	}
	if (pages)
		*pages = np;
	return n;
}

void dl_meta_extents(const struct dl_meta *m, const struct dlm_interval **ivs,
		     size_t n, int (*fn)(void *ctx, uint64_t start, uint64_t count),
		     void *ctx)
{
	uint64_t start = 0, count = 0;
	uint8_t u[DLM_PAGE_BYTES];

	for (uint64_t p = 0; p < m->nr_pages; p++) {
		uint32_t nb = page_bits(m, p);
		bool any = false;

		memset(u, 0, sizeof(u));
		for (size_t k = 0; k < n; k++) {
			const uint8_t *pg = ivs[k]->pages ? ivs[k]->pages[p] : NULL;

			if (!pg)
				continue;
			any = true;
			for (uint32_t i = 0; i < DLM_PAGE_BYTES; i++)
				u[i] |= pg[i];
		}
		if (!any)
			continue;
		for (uint32_t i = 0; i < nb; i++) {
			uint64_t blk = p * DLM_BITS_PER_PAGE + i;

			if (!bit(u, i))
				continue;
			if (count && start + count == blk) {
				count++;
				continue;
			}
			if (count && fn(ctx, start, count))
				return;
			start = blk;
			count = 1;
		}
	}
	if (count)
		fn(ctx, start, count);
}

int dl_meta_since(const struct dl_meta *m, const char *since, const char *until,
		  const struct dlm_interval **ivs)
{
	int s = -1, u = (int)m->nr_ckpts;
	int n = 0;

	for (uint32_t i = 0; i < m->nr_ckpts; i++) {
		if (!strcmp(m->ckpts[i].name, since))
			s = (int)i;
		if (until && !strcmp(m->ckpts[i].name, until))
			u = (int)i;
	}
	if (s < 0 || (until && u == (int)m->nr_ckpts))
		return -ENOENT;
	if (u <= s)
		return -EINVAL;
	for (int i = s + 1; i <= u && i < (int)m->nr_ckpts; i++)
		ivs[n++] = &m->ckpts[i].iv;
	if (!until)
		ivs[n++] = &m->active;
	return n;
}

/* ------------------------------------------------------------------ */
/* Building state in memory                                            */
/* ------------------------------------------------------------------ */

int dl_meta_init(struct dl_meta *m, uint64_t dev_bytes, uint32_t block_sectors,
		 uint64_t data_sectors)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (block_sectors < 8 || block_sectors > MAX_BLOCK_SECTORS ||
	    (block_sectors & (block_sectors - 1)) || !data_sectors ||
	    data_sectors > (UINT64_MAX >> 12) ||
	    dev_bytes / DLM_BLOCK_SIZE < DLM_MIN_META_BLOCKS)
		return -EINVAL;
	m->dev_bytes = dev_bytes;
	m->nr_meta_blocks = dev_bytes / DLM_BLOCK_SIZE;
	if (m->nr_meta_blocks > DLM_MAX_META_BLOCKS)
		m->nr_meta_blocks = DLM_MAX_META_BLOCKS;
	m->version = 1;
	m->block_sectors = block_sectors;
	m->data_sectors = data_sectors;
	m->next_ckpt_id = 1;
	m->nr_blocks = (data_sectors + block_sectors - 1) / block_sectors;
	m->nr_pages = (m->nr_blocks + DLM_BITS_PER_PAGE - 1) / DLM_BITS_PER_PAGE;
	m->depth = depth_for(m->nr_pages);
	m->owner = calloc(m->nr_meta_blocks, sizeof(*m->owner));
	if (!m->owner || iv_alloc(m, &m->active)) {
		dl_meta_free(m);
		return -ENOMEM;
	}
	return 0;
}

int dl_meta_add_ckpt(struct dl_meta *m, const char *name, uint64_t id,
		     uint64_t ctime_ns)
{
	struct dlm_ckpt *n, *ck;

	if (!valid_name(name) || !id || m->nr_ckpts >= DLM_MAX_CKPTS ||
	    (m->nr_ckpts && id <= m->ckpts[m->nr_ckpts - 1].id))
		return -EINVAL;
	for (uint32_t i = 0; i < m->nr_ckpts; i++)
		if (!strcmp(m->ckpts[i].name, name))
			return -EINVAL;
	n = realloc(m->ckpts, (m->nr_ckpts + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	m->ckpts = n;
	ck = &n[m->nr_ckpts];
	memset(ck, 0, sizeof(*ck));
	snprintf(ck->name, sizeof(ck->name), "%s", name);
	ck->id = id;
	ck->ctime_ns = ctime_ns;
	if (m->nr_ckpts) {
		ck->iv = m->active;
	} else {
		ck->iv.pages = NULL;	/* the oldest's interval is not kept */
		iv_free(m, &m->active);
	}
	m->active.pages = NULL;
	m->active.damaged = false;
	if (iv_alloc(m, &m->active) || (!m->nr_ckpts && iv_alloc(m, &ck->iv))) {
		if (!m->nr_ckpts)
			iv_free(m, &ck->iv);
		m->nr_ckpts++;
		return -ENOMEM;
	}
	m->nr_ckpts++;
	if (id >= m->next_ckpt_id)
		m->next_ckpt_id = id + 1;
	return 0;
}

int dl_meta_set(struct dl_meta *m, struct dlm_interval *iv, uint64_t start,
		uint64_t count)
{
	if (!iv->pages || start >= m->nr_blocks || count > m->nr_blocks - start)
		return -EINVAL;
	for (uint64_t b = start; b < start + count; b++) {
		uint64_t p = b / DLM_BITS_PER_PAGE;
		uint32_t i = (uint32_t)(b % DLM_BITS_PER_PAGE);

		if (!iv->pages[p]) {
			iv->pages[p] = calloc(1, DLM_PAGE_BYTES);
			if (!iv->pages[p])
				return -ENOMEM;
		}
		iv->pages[p][i / 8] |= (uint8_t)(1U << (i % 8));
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

struct writer {
	struct dl_meta *m;
	int fd;
	bool fresh;
	uint64_t next;		/* allocation cursor */
	uint8_t buf[DLM_BLOCK_SIZE];
	char *err;
	size_t errlen;
};

static int w_alloc(struct writer *w, uint64_t *b)
{
	while (w->next < w->m->nr_meta_blocks) {
		uint64_t c = w->next++;

		if (w->fresh || !w->m->owner[c]) {
			*b = c;
			return 0;
		}
	}
	return dl_fail(w->err, w->errlen, ENOSPC,
		       "the metadata device is too small for the repaired state%s",
		       w->fresh ? "" : " next to the old one (write it with -o FILE)");
}

static int w_block(struct writer *w, uint64_t b, uint32_t magic)
{
	ssize_t n;

	seal(w->buf, magic, b);
	n = pwrite(w->fd, w->buf, DLM_BLOCK_SIZE, (off_t)(b * DLM_BLOCK_SIZE));
	if (n != DLM_BLOCK_SIZE)
		return dl_fail(w->err, w->errlen, n < 0 ? errno : EIO,
			       "cannot write metadata block %" PRIu64 ": %s", b,
			       n < 0 ? strerror(errno) : "short write");
	return 0;
}

/* Write @iv's tree; *@root = 0 for an empty interval. */
static int w_tree(struct writer *w, const struct dlm_interval *iv, uint64_t *root)
{
	struct dl_meta *m = w->m;
	uint64_t n = m->nr_pages, *cur, *up;
	uint32_t depth = depth_for(m->nr_pages);	/* not a damaged sb's */
	int r = 0;

	*root = 0;
	cur = calloc(n, sizeof(*cur));
	up = calloc((n + DLM_NODE_ENTRIES - 1) / DLM_NODE_ENTRIES, sizeof(*up));
	if (!cur || !up) {
		free(cur);
		free(up);
		return dl_fail(w->err, w->errlen, ENOMEM, "out of memory");
	}
	for (uint64_t p = 0; p < n && !r; p++) {
		const uint8_t *pg = iv->pages[p];
		uint32_t nb = page_bits(m, p);
		bool any = false;

		if (!pg)
			continue;
		memset(w->buf, 0, DLM_BLOCK_SIZE);
		for (uint32_t i = 0; i < nb; i++) {
			if (bit(pg, i)) {
				w->buf[PAGE_BITS + i / 8] |= (uint8_t)(1U << (i % 8));
				any = true;
			}
		}
		if (!any)
			continue;
		r = w_alloc(w, &cur[p]);
		if (!r)
			r = w_block(w, cur[p], PAGE_MAGIC);
	}
	for (uint32_t level = 1; level <= depth && !r; level++) {
		uint64_t nup = (n + DLM_NODE_ENTRIES - 1) / DLM_NODE_ENTRIES;

		for (uint64_t i = 0; i < nup && !r; i++) {
			bool any = false;

			memset(w->buf, 0, DLM_BLOCK_SIZE);
			dl_put_le32(w->buf + NODE_LEVEL, level);
			for (uint32_t j = 0; j < DLM_NODE_ENTRIES; j++) {
				uint64_t c = i * DLM_NODE_ENTRIES + j;

				if (c < n && cur[c]) {
					dl_put_le64(w->buf + NODE_ENTRIES + 8 * j, cur[c]);
					any = true;
				}
			}
			up[i] = 0;
			if (!any)
				continue;
			r = w_alloc(w, &up[i]);
			if (!r)
				r = w_block(w, up[i], NODE_MAGIC);
		}
		memcpy(cur, up, nup * sizeof(*cur));
		n = nup;
	}
	if (!r)
		*root = cur[0];	/* the top level has one node */
	free(cur);
	free(up);
	return r;
}

int dl_meta_write(struct dl_meta *m, int fd, bool fresh, char *err, size_t errlen)
{
	struct writer *w = calloc(1, sizeof(*w));
	uint32_t nt = (m->nr_ckpts + DLM_TABLE_ENTRIES - 1) / DLM_TABLE_ENTRIES;
	uint64_t *roots = NULL, *tbl = NULL, aroot = 0;
	int r = 0;

	if (!m->nr_pages || !m->owner) {
		free(w);
		return dl_fail(err, errlen, EINVAL, "no geometry: nothing to write");
	}

	if (w)
		roots = calloc(m->nr_ckpts + 1, sizeof(*roots));
	if (w)
		tbl = calloc(nt + 1, sizeof(*tbl));
	if (!w || !roots || !tbl) {
		r = dl_fail(err, errlen, ENOMEM, "out of memory");
		goto out;
	}
	w->m = m;
	w->fd = fd;
	w->fresh = fresh;
	w->next = 1;
	w->err = err;
	w->errlen = errlen;
	for (uint32_t i = 1; i < m->nr_ckpts && !r; i++)
		r = w_tree(w, &m->ckpts[i].iv, &roots[i]);
	if (!r)
		r = w_tree(w, &m->active, &aroot);
	for (uint32_t i = 0; i < nt && !r; i++)
		r = w_alloc(w, &tbl[i]);
	for (uint32_t i = 0; i < nt && !r; i++) {
		uint32_t k;

		memset(w->buf, 0, DLM_BLOCK_SIZE);
		dl_put_le64(w->buf + TB_NEXT, i + 1 < nt ? tbl[i + 1] : 0);
		for (k = 0; k < DLM_TABLE_ENTRIES; k++) {
			uint32_t c = i * DLM_TABLE_ENTRIES + k;
			uint8_t *e = w->buf + TB_ENTRIES + k * TB_ENTRY_SIZE;

			if (c >= m->nr_ckpts)
				break;
			memcpy(e, m->ckpts[c].name, strlen(m->ckpts[c].name));
			dl_put_le64(e + 64, m->ckpts[c].id);
			dl_put_le64(e + 72, m->ckpts[c].ctime_ns);
			dl_put_le64(e + 80, roots[c]);
		}
		dl_put_le32(w->buf + TB_COUNT, k);
		r = w_block(w, tbl[i], TABLE_MAGIC);
	}
	if (!r && fsync(fd))
		r = dl_fail(err, errlen, errno, "fsync: %s", strerror(errno));
	if (r)
		goto out;
	memset(w->buf, 0, DLM_BLOCK_SIZE);
	dl_put_le32(w->buf + SB_VERSION, 1);
	dl_put_le32(w->buf + SB_FLAGS, m->flags & SB_FLAG_INVALID);
	memcpy(w->buf + SB_UUID, m->uuid, 16);
	dl_put_le64(w->buf + SB_GENERATION, m->generation + 1);
	dl_put_le64(w->buf + SB_DATA_SECTORS, m->data_sectors);
	dl_put_le32(w->buf + SB_BLOCK_SECTORS, m->block_sectors);
	dl_put_le32(w->buf + SB_DEPTH, depth_for(m->nr_pages));
	dl_put_le64(w->buf + SB_NR_META, m->nr_meta_blocks);
	dl_put_le64(w->buf + SB_NEXT_ID, m->next_ckpt_id);
	dl_put_le32(w->buf + SB_NR_CKPTS, m->nr_ckpts);
	dl_put_le32(w->buf + SB_NR_TABLE, nt);
	dl_put_le64(w->buf + SB_TABLE_ROOT, nt ? tbl[0] : 0);
	dl_put_le64(w->buf + SB_ACTIVE_ROOT, aroot);
	r = w_block(w, 0, SB_MAGIC);
	if (!r && fsync(fd))
		r = dl_fail(err, errlen, errno, "fsync: %s", strerror(errno));
out:
	free(roots);
	free(tbl);
	free(w);
	return r;
}
