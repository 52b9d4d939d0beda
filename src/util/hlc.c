/* hlc.c: hybrid logical clock arithmetic (48-bit milliseconds, 16-bit counter). */
#include <string.h>

#include "util/hlc.h"

int64_t cairn__hlc_from_ms(int64_t wall_ms)
{
	return wall_ms << CAIRN_HLC_LOGICAL_BITS;
}

int64_t cairn__hlc_physical_ms(int64_t timestamp)
{
	return timestamp >> CAIRN_HLC_LOGICAL_BITS;
}

int cairn__hlc_logical(int64_t timestamp)
{
	return (int)(timestamp & ((1 << CAIRN_HLC_LOGICAL_BITS) - 1));
}

int64_t cairn__hlc_tick(cairn_hlc *clock, int64_t wall_ms)
{
	int64_t candidate = cairn__hlc_from_ms(wall_ms);

	/* Never go backwards: when the wall clock is behind what we issued or observed, count
	 * on in the logical bits (they carry into the milliseconds if they overflow). */
	if (candidate <= clock->last)
		candidate = clock->last + 1;
	clock->last = candidate;
	return candidate;
}

void cairn__hlc_observe(cairn_hlc *clock, int64_t remote)
{
	if (remote > clock->last)
		clock->last = remote;
}

int cairn__hlc_compare(int64_t a, const char *a_client, int64_t b, const char *b_client)
{
	int order;

	if (a != b)
		return a < b ? -1 : 1;
	order = strcmp(a_client ? a_client : "", b_client ? b_client : "");
	return order < 0 ? -1 : order > 0;
}
