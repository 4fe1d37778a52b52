// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz the apply state file parser (dl_apply_state_parse()): an accepted
 * file gives fields the writer could have written.
 */
#include <string.h>

#include "dl-apply.h"
#include "fuzz.h"

DL_FUZZ_ENTRY(state)
{
	struct dl_apply_state st;

	if (dl_apply_state_parse((const char *)data, size, &st))
		return 0;
	if (strlen(st.uuid) != 0 && strlen(st.uuid) != 32)
		abort();
	if (strlen(st.ckpt) > DM_DIRTYLOG_NAME_MAX || strchr(st.ckpt, '\n') ||
	    !strcmp(st.ckpt, "-") || st.uuid[strspn(st.uuid, "0123456789abcdef")])
		abort();
	return 0;
}
