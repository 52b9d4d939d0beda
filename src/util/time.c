/* time.c: wall-clock and monotonic milliseconds, and Appwrite's ISO 8601 timestamps. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/error.h"
#include "util/time.h"

int64_t cairn__time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cairn__time_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cairn__time_format(int64_t unix_ms, char out[CAIRN_TIME_TEXT_SIZE])
{
	int64_t seconds = unix_ms / 1000;
	int millis = (int)(unix_ms % 1000);
	time_t t;
	struct tm tm;

	if (millis < 0) {
		millis += 1000;
		seconds -= 1;
	}
	t = (time_t)seconds;
	gmtime_r(&t, &tm);
	if (tm.tm_year >= -1900 && tm.tm_year <= 9999 - 1900) {
		/* Digits by hand: snprintf was most of the cost of every document a server
		 * reply carries (two timestamps each). */
		int fields[7] = { tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			tm.tm_min, tm.tm_sec, millis };
		static const char layout[] = "0000-00-00T00:00:00.000+00:00";
		int field = 6, value = fields[6];

		memcpy(out, layout, sizeof(layout));
		/* Fill the digit runs right to left: ms, s, min, h, day, month, year. */
		for (int i = (int)sizeof(layout) - 8; i >= 0; i--) {
			if (out[i] != '0') {
				value = fields[--field];
				continue;
			}
			out[i] = (char)('0' + value % 10);
			value /= 10;
		}
		return;
	}
	/* The wide buffer keeps the compiler's worst case (huge years) from truncating. */
	char wide[96];
	snprintf(wide, sizeof(wide), "%04d-%02d-%02dT%02d:%02d:%02d.%03d+00:00",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		millis);
	memcpy(out, wide, CAIRN_TIME_TEXT_SIZE - 1);
	out[CAIRN_TIME_TEXT_SIZE - 1] = '\0';
}

/* Reads exactly `count` digits at *p; returns -1 if they are not there. */
static int read_digits(const char **p, int count)
{
	int value = 0;

	for (int i = 0; i < count; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		value = value * 10 + ((*p)[i] - '0');
	}
	*p += count;
	return value;
}

static int days_in_month(int year, int month)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int cairn__time_parse(const char *text, int64_t *out)
{
	const char *p = text;
	int year, month, day, hour = 0, minute = 0, second = 0, millis = 0, offset = 0;

	if (!text)
		return cairn__error_set(CAIRN_EINVALID, "missing date-time");
	year = read_digits(&p, 4);
	if (year < 0 || *p++ != '-')
		goto invalid;
	month = read_digits(&p, 2);
	if (month < 1 || month > 12 || *p++ != '-')
		goto invalid;
	day = read_digits(&p, 2);
	if (day < 1 || day > days_in_month(year, month))
		goto invalid;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		hour = read_digits(&p, 2);
		if (hour < 0 || hour > 23 || *p++ != ':')
			goto invalid;
		minute = read_digits(&p, 2);
		if (minute < 0 || minute > 59)
			goto invalid;
		if (*p == ':') {
			p++;
			second = read_digits(&p, 2);
			if (second < 0 || second > 60)
				goto invalid;
		}
		if (*p == '.') {
			int scale = 100, digits = 0;
			p++;
			while (isdigit((unsigned char)*p)) {
				if (digits < 3)
					millis += (*p - '0') * scale;
				scale /= 10;
				digits++;
				p++;
			}
			if (digits == 0)
				goto invalid;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p == '-' ? -1 : 1, oh, om;
			p++;
			oh = read_digits(&p, 2);
			if (oh < 0 || oh > 23)
				goto invalid;
			if (*p == ':')
				p++;
			om = read_digits(&p, 2);
			if (om < 0 || om > 59)
				goto invalid;
			offset = sign * (oh * 60 + om);
		}
	}
	if (*p != '\0')
		goto invalid;
	*out = (days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second -
		(int64_t)offset * 60) * 1000 + millis;
	return 0;
invalid:
	return cairn__error_set(CAIRN_EINVALID, "invalid date-time '%.64s' (expected ISO 8601, "
		"e.g. 2026-08-21T12:34:56.789+00:00)", text);
}
