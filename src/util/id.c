/* id.c: Appwrite id rules and offline, time-ordered unique ids. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "util/error.h"
#include "util/id.h"
#include "util/time.h"

int cairn__id_valid(const char *id)
{
	size_t length;

	if (!id)
		return 0;
	length = strlen(id);
	if (length == 0 || length > CAIRN_ID_MAX)
		return 0;
	if (id[0] == '.' || id[0] == '-' || id[0] == '_')
		return 0;
	for (size_t i = 0; i < length; i++) {
		char c = id[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '.' || c == '-' || c == '_';
		if (!ok)
			return 0;
	}
	return 1;
}

int cairn__id_unique(char *out, size_t out_size)
{
	int64_t now = cairn__time_now_ms();
	uint32_t random_bits;

	if (!out || out_size < 21)
		return cairn__error_set(CAIRN_EINVALID, "id buffer must hold at least 21 bytes");
	if (getrandom(&random_bits, sizeof(random_bits), 0) != (ssize_t)sizeof(random_bits))
		return cairn__error_set(CAIRN_ERROR, "getrandom failed");
	snprintf(out, out_size, "%08llx%05x%07x", (unsigned long long)(now / 1000) & 0xffffffffULL,
		(unsigned)(now % 1000), random_bits & 0xfffffffu);
	return 0;
}

int cairn_id_valid(const char *id)
{
	return cairn__id_valid(id);
}

int cairn_id_unique(char *out, size_t out_size)
{
	return cairn__id_unique(out, out_size);
}
