/* Tests of server/log.c: log_escape(), which turns a client's bytes into
 * text that is safe to put in a log line. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"

/* log_escape() of the first len bytes of s into a buffer of cap bytes
 * (cap <= 64), checking that nothing is written past cap. */
static const char *escape(size_t cap, const void *s, size_t len)
{
	static char buf[64 + 8];

	cr_assert_leq(cap, 64);
	memset(buf, '#', sizeof(buf));
	const char *out = log_escape(buf, cap, s, len);
	cr_assert_eq(out, buf, "returns buf, for use in place");
	for (size_t i = cap; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], '#', "byte %zu past cap %zu was written", i, cap);
	return buf;
}

Test(log_escape, printable_ascii_is_copied_as_it_is)
{
	const char *text = "a-Z_0 9.txt ~!'\"[]{}";

	cr_expect_str_eq(escape(64, text, strlen(text)), text);
}

Test(log_escape, a_backslash_is_escaped_so_an_escape_cannot_be_forged)
{
	cr_expect_str_eq(escape(64, "a\\x41", 5), "a\\x5cx41");
}

Test(log_escape, newline_nul_and_control_bytes_are_hex_escaped)
{
	cr_expect_str_eq(escape(64, "a\nb\0c\r\t\x1b\x7f", 9), "a\\x0ab\\x00c\\x0d\\x09\\x1b\\x7f");
}

Test(log_escape, bytes_above_ascii_and_invalid_utf8_are_hex_escaped)
{
	/* "é" in UTF-8, then a lone continuation byte and 0xff. */
	cr_expect_str_eq(escape(64, "\xc3\xa9\x80\xff", 4), "\\xc3\\xa9\\x80\\xff");
}

Test(log_escape, reads_exactly_len_bytes_and_needs_no_nul)
{
	char name[3] = {'a', 'b', 'c'}; /* no NUL after it */

	cr_expect_str_eq(escape(64, name, sizeof(name)), "abc");
	cr_expect_str_eq(escape(64, "abcdef", 2), "ab");
	cr_expect_str_eq(escape(64, NULL, 0), "");
}

Test(log_escape, output_that_fits_exactly_gets_no_dots)
{
	cr_expect_str_eq(escape(6, "hello", 5), "hello");
	cr_expect_str_eq(escape(5, "\n", 1), "\\x0a");
}

Test(log_escape, output_one_byte_too_long_is_cut_and_ends_in_dots)
{
	cr_expect_str_eq(escape(6, "hello!", 6), "he...");
	cr_expect_str_eq(escape(4, "\n", 1), "...");
}

Test(log_escape, a_cut_never_falls_inside_an_escape)
{
	/* 7 characters of room: "a" and "\x01" fit, but then "..." would not,
	 * so the cut comes after "a". */
	cr_expect_str_eq(escape(8, "a\x01\x02", 3), "a...");
	cr_expect_str_eq(escape(9, "a\x01\x02", 3), "a\\x01...");
}

Test(log_escape, a_tiny_buffer_holds_what_dots_fit_and_the_nul)
{
	cr_expect_str_eq(escape(1, "abc", 3), "");
	cr_expect_str_eq(escape(2, "abc", 3), ".");
	cr_expect_str_eq(escape(3, "abc", 3), "..");
	cr_expect_str_eq(escape(4, "abc", 3), "abc");
	cr_expect_str_eq(escape(4, "abcd", 4), "...");
}

Test(log_escape, zero_capacity_writes_nothing)
{
	char buf[1] = {'#'};

	cr_expect_eq(log_escape(buf, 0, "abc", 3), buf);
	cr_expect_eq(buf[0], '#');
}

Test(log_escape, a_64k_string_of_every_byte_value_escapes_whole_or_cut)
{
	size_t len = 65536, cap = 4 * len + 1;
	unsigned char *in = malloc(len);
	char *out = malloc(cap);

	cr_assert(in && out);
	for (size_t i = 0; i < len; i++)
		in[i] = (unsigned char)i;
	log_escape(out, cap, in, len);
	/* Of every 256 bytes, the 94 printable ones other than the backslash
	 * stay one character; the other 162 take four. */
	cr_expect_eq(strlen(out), (len / 256) * (94 + 162 * 4));
	for (const char *p = out; *p; p++)
		cr_assert(*p >= 0x20 && *p < 0x7f, "unprintable byte %#x in the output", *p);
	log_escape(out, 100, in, len);
	cr_expect_eq(strlen(out), 99);
	cr_expect_str_eq(out + 96, "...");
	free(in);
	free(out);
}
