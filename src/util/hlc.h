/* hlc.h: hybrid logical clocks: 48 bits of unix milliseconds, 16 bits of logical counter. */
#ifndef CAIRN_UTIL_HLC_H
#define CAIRN_UTIL_HLC_H

#include <stdint.h>

#define CAIRN_HLC_LOGICAL_BITS 16

typedef struct {
	int64_t last; /* the largest timestamp issued or observed */
} cairn_hlc;

/* A timestamp for a local event at wall-clock `wall_ms`: strictly greater than every
 * timestamp issued or observed before, and >= wall_ms << 16. */
int64_t cairn__hlc_tick(cairn_hlc *clock, int64_t wall_ms);
/* Absorbs a remote timestamp so later ticks are greater than it. */
void cairn__hlc_observe(cairn_hlc *clock, int64_t remote);
/* A timestamp for wall-clock ms with logical 0. */
int64_t cairn__hlc_from_ms(int64_t wall_ms);
int64_t cairn__hlc_physical_ms(int64_t timestamp);
int cairn__hlc_logical(int64_t timestamp);
/* Orders (a, a_client) against (b, b_client): timestamp first, then client id by strcmp.
 * Returns <0, 0, >0. NULL client ids sort as "". */
int cairn__hlc_compare(int64_t a, const char *a_client, int64_t b, const char *b_client);

#endif
