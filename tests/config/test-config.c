/* Tests of config/: the command line, the -e grammar, the INI file, the
 * libvirt XML import, the merge order, validation, printing and -n.
 *
 * Every error message config/ can print has a test that provokes it and
 * compares the whole line, so a message that loses its file, line, key or
 * list of accepted values fails here.  Config texts are written to a
 * fresh temporary directory per test; fixtures that stand for real files
 * (the seed patch's domain, a complete config) live in tests/config/data.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

#if !defined(TEST_DATA) || !defined(EXAMPLE_CONF)
#error "TEST_DATA must name tests/config/data, EXAMPLE_CONF docs/ninepd.conf.example"
#endif

/* ---- helpers ---------------------------------------------------------- */

/* A FILE * that collects what is written to it. */
struct capture {
	FILE *f;
	char *buf;
	size_t len;
};

static void capture_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	cr_assert_not_null(c->f);
}

/* The text so far; stays valid until the next write or capture_close. */
static const char *captured(struct capture *c)
{
	fflush(c->f);
	return c->buf ? c->buf : "";
}

static void capture_close(struct capture *c)
{
	fclose(c->f);
	free(c->buf);
}

static char tmpdir[PATH_MAX];
static struct capture out, err;
static struct ninepd_config cfg;

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/ninepd-config-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cr_assert_not_null(mkdtemp(tmpdir));
	capture_open(&out);
	capture_open(&err);
	config_init(&cfg);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	config_free(&cfg);
	capture_close(&out);
	capture_close(&err);
	nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(config, .init = setup, .fini = teardown);

/* tmpdir/name, in a static buffer per call site. */
static const char *tmp_path(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", tmpdir, name);

	cr_assert(n > 0 && (size_t)n < len, "path too long");
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

static void make_dir(const char *path)
{
	cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s: %s", path, strerror(errno));
}

static char conf_path[PATH_MAX];

/* Write text as tmpdir/ninepd.conf and parse it into cfg. */
static int parse_conf(const char *text)
{
	tmp_path(conf_path, sizeof(conf_path), "ninepd.conf");
	write_file(conf_path, text);
	return config_parse_file(&cfg, conf_path, err.f);
}

/* Assert that err holds exactly one line: "CONF:LINE: MESSAGE". */
static void expect_conf_error(int line, const char *message)
{
	char *want;

	cr_assert_neq(asprintf(&want, "%s:%d: %s\n", conf_path, line, message), -1);
	cr_expect_str_eq(captured(&err), want);
	free(want);
}

/* Parse text, expect -EINVAL and exactly one error line. */
static void conf_fails(const char *text, int line, const char *message)
{
	cr_expect_eq(parse_conf(text), -EINVAL);
	expect_conf_error(line, message);
}

/* Run the command line parser on a NULL-terminated list of arguments. */
static int cmdline(const char *first, ...)
{
	char *argv[32] = {"ninepd", (char *)first};
	int argc = first ? 2 : 1;
	va_list ap;

	va_start(ap, first);
	while (first && argc < 31 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	return config_parse_cmdline(&cfg, argc, argv, out.f, err.f);
}

/* config_load_with_default() on a NULL-terminated list of arguments. */
static int load(const char *default_file, const char *first, ...)
{
	char *argv[32] = {"ninepd", (char *)first};
	int argc = first ? 2 : 1;
	va_list ap;

	va_start(ap, first);
	while (first && argc < 31 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	config_free(&cfg);
	return config_load_with_default(&cfg, argc, argv, default_file, out.f, err.f);
}

static const char usage_hint[] = "Try 'ninepd --help' for more information.\n";

static void expect_usage_error(const char *message)
{
	char *want;

	cr_assert_neq(asprintf(&want, "ninepd: %s\n%s", message, usage_hint), -1);
	cr_expect_str_eq(captured(&err), want);
	free(want);
}

/* ---- the command line ------------------------------------------------- */

Test(config, cmdline_without_arguments_keeps_the_defaults)
{
	cr_assert_eq(cmdline(NULL), 0);
	cr_expect_eq(cfg.nlisten, 0);
	cr_expect_eq(cfg.nexports, 0);
	cr_expect_eq(cfg.max_msize, CONFIG_DEFAULT_MSIZE);
	cr_expect_eq(cfg.threads, 0);
	cr_expect_eq(cfg.log_level, CONFIG_DEFAULT_LOG_LEVEL);
	cr_expect_eq(cfg.max_conns, CONFIG_DEFAULT_MAX_CONNS);
	cr_expect_eq(cfg.max_fids, CONFIG_DEFAULT_MAX_FIDS);
	cr_expect_not(cfg.trace);
	cr_expect_not(cfg.check_only);
	cr_expect_null(cfg.config_file);
	cr_expect_null(cfg.libvirt_xml);
	cr_expect_str_empty(captured(&err));
}

Test(config, cmdline_fills_every_field_from_long_options)
{
	cr_assert_eq(cmdline("--listen", "unix:/run/a.sock", "--listen", "tcp:0.0.0.0:564",
			     "--export", "/srv/a,name=a,multidevs=remap", "--config", "/x.conf",
			     "--libvirt-xml", "/dom.xml", "--check-config", "--verbose", "--trace",
			     "--msize", "65536", "--threads", "8", NULL),
		     0, "%s", captured(&err));
	cr_assert_eq(cfg.nlisten, 2);
	cr_expect_str_eq(cfg.listen[0], "unix:/run/a.sock");
	cr_expect_str_eq(cfg.listen[1], "tcp:0.0.0.0:564");
	cr_assert_eq(cfg.nexports, 1);
	cr_expect_str_eq(cfg.exports[0].name, "a");
	cr_expect_str_eq(cfg.exports[0].path, "/srv/a");
	cr_expect_eq(cfg.exports[0].multidevs, MULTIDEVS_REMAP);
	cr_expect_null(cfg.exports[0].origin.file);
	cr_expect_str_eq(cfg.config_file, "/x.conf");
	cr_expect_str_eq(cfg.libvirt_xml, "/dom.xml");
	cr_expect(cfg.check_only);
	cr_expect(cfg.trace);
	cr_expect_eq(cfg.log_level, LOG_LEVEL_DEBUG);
	cr_expect_eq(cfg.max_msize, 65536);
	cr_expect_eq(cfg.threads, 8);
}

Test(config, cmdline_short_options_match_the_long_ones)
{
	cr_assert_eq(cmdline("-l", "stdio", "-e", "/srv/b", "-c", "/y.conf", "-n", NULL), 0);
	cr_assert_eq(cfg.nlisten, 1);
	cr_expect_str_eq(cfg.listen[0], "stdio");
	cr_assert_eq(cfg.nexports, 1);
	cr_expect_str_eq(cfg.exports[0].path, "/srv/b");
	cr_expect_str_eq(cfg.config_file, "/y.conf");
	cr_expect(cfg.check_only);
}

Test(config, cmdline_each_v_raises_the_log_level_up_to_debug)
{
	cr_assert_eq(cmdline("-v", NULL), 0);
	cr_expect_eq(cfg.log_level, CONFIG_DEFAULT_LOG_LEVEL + 1);
	config_free(&cfg);
	cr_assert_eq(cmdline("-vvvvv", NULL), 0);
	cr_expect_eq(cfg.log_level, LOG_LEVEL_DEBUG);
	cr_expect_eq(cfg.verbose, 5);
}

Test(config, cmdline_help_prints_usage_and_asks_to_exit_0)
{
	cr_assert_eq(cmdline("--help", NULL), 1);
	cr_expect(strstr(captured(&out), "usage: ninepd [-l ADDR]... [-e SPEC]..."));
	cr_expect(strstr(captured(&out), "--libvirt-xml FILE"));
	cr_expect_str_empty(captured(&err));
	config_free(&cfg);
	cr_expect_eq(cmdline("-h", NULL), 1);
}

Test(config, cmdline_version_prints_the_version_and_asks_to_exit_0)
{
	cr_assert_eq(cmdline("--version", NULL), 1);
	cr_expect_str_eq(captured(&out), "ninepd " NINEPD_VERSION "\n");
}

Test(config, cmdline_refuses_an_unknown_short_option)
{
	cr_assert_eq(cmdline("-x", NULL), -1);
	expect_usage_error("unknown option '-x'");
}

Test(config, cmdline_refuses_an_unknown_long_option)
{
	cr_assert_eq(cmdline("--frobnicate", NULL), -1);
	expect_usage_error("unknown option '--frobnicate'");
}

Test(config, cmdline_refuses_an_argument_to_a_flag)
{
	cr_assert_eq(cmdline("--help=yes", NULL), -1);
	expect_usage_error("option '--help' takes no argument");
}

Test(config, cmdline_refuses_an_unknown_short_option_among_others)
{
	cr_assert_eq(cmdline("--trace", "-vqn", NULL), -1);
	expect_usage_error("unknown option '-q'");
}

Test(config, cmdline_refuses_an_option_without_its_argument)
{
	cr_assert_eq(cmdline("-e", NULL), -1);
	expect_usage_error("option '-e' needs an argument");
}

Test(config, cmdline_refuses_a_long_option_without_its_argument)
{
	cr_assert_eq(cmdline("--threads", NULL), -1);
	expect_usage_error("option '--threads' needs an argument");
}

Test(config, cmdline_refuses_a_positional_argument)
{
	cr_assert_eq(cmdline("/srv/data", NULL), -1);
	expect_usage_error("unexpected argument '/srv/data'");
}

Test(config, cmdline_refuses_two_config_files)
{
	cr_assert_eq(cmdline("-c", "/a", "-c", "/b", NULL), -1);
	expect_usage_error("-c given more than once");
}

Test(config, cmdline_refuses_two_libvirt_xml_files)
{
	cr_assert_eq(cmdline("--libvirt-xml", "/a", "--libvirt-xml", "/b", NULL), -1);
	expect_usage_error("--libvirt-xml given more than once");
}

Test(config, cmdline_user_is_stored_as_given_by_u_and_by_user)
{
	cr_assert_eq(cmdline("-u", "nobody", NULL), 0, "%s", captured(&err));
	cr_expect_str_eq(cfg.user, "nobody");
	cr_expect(cfg.set & (1u << SERVER_KEY_USER));
	cr_expect_null(cfg.origin[SERVER_KEY_USER].file, "the origin is the command line");
	config_free(&cfg);
	cr_assert_eq(cmdline("--user=4242", NULL), 0, "%s", captured(&err));
	cr_expect_str_eq(cfg.user, "4242", "a uid stays text until validation");
}

Test(config, cmdline_without_u_leaves_the_user_unset)
{
	cr_assert_eq(cmdline("-l", "stdio", NULL), 0);
	cr_expect_null(cfg.user);
	cr_expect_not(cfg.set & (1u << SERVER_KEY_USER));
}

Test(config, cmdline_refuses_two_users)
{
	cr_assert_eq(cmdline("-u", "nobody", "--user", "daemon", NULL), -1);
	expect_usage_error("-u given more than once");
}

Test(config, cmdline_refuses_an_empty_user)
{
	cr_assert_eq(cmdline("-u", "", NULL), -1);
	expect_usage_error("-u: empty value (accepted: a user name, or a numeric uid from 1 to "
			   "4294967294)");
}

Test(config, cmdline_refuses_an_msize_that_is_not_a_number)
{
	cr_assert_eq(cmdline("--msize", "8k", NULL), -1);
	expect_usage_error("--msize: '8k' is not a number (accepted: 4096..16777216)");
}

Test(config, cmdline_refuses_an_msize_out_of_range)
{
	cr_assert_eq(cmdline("--msize", "16777217", NULL), -1);
	expect_usage_error("--msize: 16777217 out of range (accepted: 4096..16777216)");
}

Test(config, cmdline_refuses_zero_threads)
{
	cr_assert_eq(cmdline("--threads", "0", NULL), -1);
	expect_usage_error("--threads: 0 out of range (accepted: 1..256)");
}

Test(config, cmdline_refuses_a_bad_export_spec_naming_the_spec)
{
	cr_assert_eq(cmdline("-e", "/srv,multidevs=foo", NULL), -1);
	expect_usage_error("-e '/srv,multidevs=foo': multidevs: unknown value 'foo' "
			   "(accepted: remap, forbid, warn, default)");
}

/* ---- -e SPEC ---------------------------------------------------------- */

static struct export_conf spec;
static char spec_err[512];

static int parse_spec(const char *s)
{
	spec_err[0] = '\0';
	return config_parse_export_spec(s, &spec, spec_err, sizeof(spec_err));
}

/* Every key of an [export NAME] section but path, in the order of the
 * "(accepted: ...)" lists. */
#define SPEC_KEYS                                                                                 \
	"multidevs, security_model, readonly, squash_uid, squash_gid, remap_state, translate_uid, translate_gid, xattrmap, bps_limit, "    \
	"bps_read_limit, bps_write_limit, iops_limit, iops_read_limit, iops_write_limit, "         \
	"bps_burst, bps_read_burst, bps_write_burst, iops_burst, iops_read_burst, "                \
	"iops_write_burst"

static void spec_fails(const char *s, const char *message)
{
	cr_expect_eq(parse_spec(s), -1);
	cr_expect_str_eq(spec_err, message);
	cr_expect_null(spec.path, "a failed parse leaves the export empty");
}

Test(config, spec_with_only_a_path_takes_the_path_as_name_and_the_defaults)
{
	cr_assert_eq(parse_spec("/srv/data"), 0, "%s", spec_err);
	cr_expect_str_eq(spec.path, "/srv/data");
	cr_expect_str_eq(spec.name, "/srv/data");
	cr_expect_eq(spec.multidevs, MULTIDEVS_DEFAULT);
	cr_expect_eq(spec.security_model, SECMODEL_PASSTHROUGH);
	cr_expect_not(spec.readonly);
	cr_expect_eq(spec.squash_uid, -1);
	cr_expect_eq(spec.squash_gid, -1);
	cr_expect_null(spec.remap_state);
	export_conf_free(&spec);
}

Test(config, spec_sets_every_option)
{
	cr_assert_eq(parse_spec("/srv/data,name=tag,multidevs=forbid,readonly,security_model="
				"mapped-xattr,squash_uid=1000,squash_gid=0,remap_state=/var/x"),
		     0, "%s", spec_err);
	cr_expect_str_eq(spec.name, "tag");
	cr_expect_eq(spec.multidevs, MULTIDEVS_FORBID);
	cr_expect(spec.readonly);
	cr_expect_eq(spec.security_model, SECMODEL_MAPPED_XATTR);
	cr_expect_eq(spec.squash_uid, 1000);
	cr_expect_eq(spec.squash_gid, 0);
	cr_expect_str_eq(spec.remap_state, "/var/x");
	export_conf_free(&spec);
}

Test(config, spec_readonly_takes_an_optional_boolean)
{
	cr_assert_eq(parse_spec("/srv,readonly=no"), 0, "%s", spec_err);
	cr_expect_not(spec.readonly);
	export_conf_free(&spec);
	cr_assert_eq(parse_spec("/srv,readonly=on"), 0, "%s", spec_err);
	cr_expect(spec.readonly);
	export_conf_free(&spec);
}

Test(config, spec_double_comma_is_a_literal_comma)
{
	cr_assert_eq(parse_spec("/srv/a,,b,name=x,,y"), 0, "%s", spec_err);
	cr_expect_str_eq(spec.path, "/srv/a,b");
	cr_expect_str_eq(spec.name, "x,y");
	export_conf_free(&spec);
}

Test(config, spec_refuses_an_empty_path)
{
	spec_fails(",name=x", "path: empty value (accepted: a directory)");
}

Test(config, spec_refuses_an_unknown_option)
{
	spec_fails("/srv,colour=red", "unknown option 'colour' (accepted: name, " SPEC_KEYS ")");
}

Test(config, spec_refuses_path_as_an_option)
{
	spec_fails("/srv,path=/other", "unknown option 'path' (accepted: name, " SPEC_KEYS ")");
}

Test(config, spec_refuses_an_option_given_twice)
{
	spec_fails("/srv,multidevs=remap,multidevs=warn", "multidevs: given twice");
}

Test(config, spec_refuses_a_name_given_twice)
{
	spec_fails("/srv,name=a,name=b", "name: given twice");
}

Test(config, spec_refuses_an_empty_name)
{
	spec_fails("/srv,name=", "name: empty value (accepted: a name)");
}

Test(config, spec_refuses_an_option_without_value)
{
	spec_fails("/srv,multidevs", "multidevs: missing value (write multidevs=VALUE)");
}

Test(config, spec_refuses_an_unknown_multidevs_policy)
{
	spec_fails("/srv,multidevs=remapp",
		   "multidevs: unknown value 'remapp' (accepted: remap, forbid, warn, default)");
}

Test(config, spec_refuses_an_unknown_security_model)
{
	spec_fails("/srv,security_model=root", "security_model: unknown value 'root' "
					       "(accepted: passthrough, mapped-xattr, none)");
}

Test(config, spec_refuses_a_readonly_that_is_not_a_boolean)
{
	spec_fails("/srv,readonly=maybe", "readonly: unknown value 'maybe' (accepted: yes, no, "
					  "true, false, on, off, 1, 0)");
}

Test(config, spec_refuses_a_squash_uid_that_is_not_a_number)
{
	spec_fails("/srv,squash_uid=nobody",
		   "squash_uid: 'nobody' is not a number (accepted: 0..4294967294)");
}

Test(config, spec_refuses_squash_gid_minus_one)
{
	spec_fails("/srv,squash_gid=4294967295",
		   "squash_gid: 4294967295 out of range (accepted: 0..4294967294)");
}

Test(config, spec_refuses_an_empty_remap_state)
{
	spec_fails("/srv,remap_state=", "remap_state: empty value (accepted: a file name)");
}

Test(config, security_model_accepts_the_libvirt_spellings)
{
	cr_expect_eq(security_model_parse("passthrough"), SECMODEL_PASSTHROUGH);
	cr_expect_eq(security_model_parse("mapped-xattr"), SECMODEL_MAPPED_XATTR);
	cr_expect_eq(security_model_parse("mapped"), SECMODEL_MAPPED_XATTR);
	cr_expect_eq(security_model_parse("none"), SECMODEL_NONE);
	cr_expect_eq(security_model_parse("squash"), SECMODEL_NONE);
	cr_expect_eq(security_model_parse("Mapped"), -1);
	for (int m = SECMODEL_PASSTHROUGH; m <= SECMODEL_NONE; m++)
		cr_expect_eq(security_model_parse(security_model_name((enum security_model)m)), m);
}

Test(config, log_level_names_round_trip)
{
	for (int l = LOG_LEVEL_ERROR; l <= LOG_LEVEL_DEBUG; l++)
		cr_expect_eq(log_level_parse(log_level_name((enum log_level)l)), l);
	cr_expect_eq(log_level_parse("verbose"), -1);
	cr_expect_null(log_level_name((enum log_level)7));
}

/* ---- the config file -------------------------------------------------- */

Test(config, file_server_keys_fill_the_struct_and_remember_their_lines)
{
	cr_assert_eq(parse_conf("[server]\n"
				"listen = unix:/run/a.sock\n"
				"listen = tcp:[::1]:564 , stdio\n"
				"max_msize = 8192\n"
				"threads = 3\n"
				"log_level = error\n"
				"max_connections = 2\n"
				"max_fids = 16\n"),
		     0, "%s", captured(&err));
	cr_assert_eq(cfg.nlisten, 3);
	cr_expect_str_eq(cfg.listen[0], "unix:/run/a.sock");
	cr_expect_str_eq(cfg.listen[1], "tcp:[::1]:564");
	cr_expect_str_eq(cfg.listen[2], "stdio");
	cr_expect_eq(cfg.listen_origin[0].line, 2);
	cr_expect_eq(cfg.listen_origin[2].line, 3);
	cr_expect_str_eq(cfg.listen_origin[2].file, conf_path);
	cr_expect_eq(cfg.max_msize, 8192);
	cr_expect_eq(cfg.threads, 3);
	cr_expect_eq(cfg.log_level, LOG_LEVEL_ERROR);
	cr_expect_eq(cfg.max_conns, 2);
	cr_expect_eq(cfg.max_fids, 16);
	cr_expect_eq(cfg.origin[SERVER_KEY_THREADS].line, 5);
	cr_expect_eq(cfg.origin[SERVER_KEY_MAX_FIDS].line, 8);
}

Test(config, file_export_section_fills_an_export_with_key_lines)
{
	cr_assert_eq(parse_conf("# exports\n"
				"[export data]\n"
				"path = /srv/data\n"
				"multidevs = warn\n"
				"security_model = squash\n"
				"readonly = true\n"
				"squash_uid = 65534\n"
				"squash_gid = 65533\n"
				"remap_state = /var/lib/ninepd/data\n"),
		     0, "%s", captured(&err));
	cr_assert_eq(cfg.nexports, 1);
	struct export_conf *e = &cfg.exports[0];
	cr_expect_str_eq(e->name, "data");
	cr_expect_str_eq(e->path, "/srv/data");
	cr_expect_eq(e->multidevs, MULTIDEVS_WARN);
	cr_expect_eq(e->security_model, SECMODEL_NONE);
	cr_expect(e->readonly);
	cr_expect_eq(e->squash_uid, 65534);
	cr_expect_eq(e->squash_gid, 65533);
	cr_expect_str_eq(e->remap_state, "/var/lib/ninepd/data");
	cr_expect_str_eq(e->origin.file, conf_path);
	cr_expect_eq(e->origin.line, 2);
	cr_expect_eq(e->key_line[EXPORT_KEY_PATH], 3);
	cr_expect_eq(e->key_line[EXPORT_KEY_REMAP_STATE], 9);
}

Test(config, file_translate_keys_repeat_and_each_rule_keeps_its_line)
{
	cr_assert_eq(parse_conf("[export data]\n"
				"path = /srv/data\n"
				"translate_uid = map:1000:101000:1\n"
				"translate_gid = map:1000:101000:1\n"
				"translate_uid = forbid-guest:0:1000 squash-host:0:65534:1\n"),
		     0, "%s", captured(&err));
	const struct export_conf *e = &cfg.exports[0];
	cr_assert_eq(e->uid_map.n, 3);
	cr_expect_eq(e->uid_map.rules[0].kind, IDMAP_MAP);
	cr_expect_eq(e->uid_map.rules[0].line, 3);
	cr_expect_eq(e->uid_map.rules[2].kind, IDMAP_SQUASH_HOST);
	cr_expect_eq(e->uid_map.rules[2].line, 5);
	cr_assert_eq(e->gid_map.n, 1);
	cr_expect_eq(e->gid_map.rules[0].to, 101000);
}

Test(config, file_overlapping_translate_rules_name_both_lines)
{
	conf_fails("[export data]\n"
		   "path = /srv/data\n"
		   "translate_uid = map:0:100000:65536\n"
		   "\n"
		   "translate_uid = host:100005:0:1\n",
		   5,
		   "[export data] translate_uid: 'host:100005:0:1' overlaps 'map:0:100000:65536' "
		   "(line 3) in host ids (accepted: rules whose host ids are disjoint)");
}

Test(config, file_malformed_translate_rule_is_an_error)
{
	conf_fails("[export data]\npath = /srv\ntranslate_gid = map:0:100000\n", 3,
		   "[export data] translate_gid: malformed rule 'map:0:100000' (accepted: "
		   "map:GUEST:HOST:COUNT, guest:GUEST:HOST:COUNT, host:HOST:GUEST:COUNT, "
		   "squash-guest:GUEST:HOST:COUNT, squash-host:HOST:GUEST:COUNT, "
		   "forbid-guest:GUEST:COUNT, each a decimal number)");
}

Test(config, spec_translate_uid_may_repeat_and_xattrmap_keeps_its_text)
{
	cr_assert_eq(parse_spec("/srv,translate_uid=map:1000:101000:1,translate_uid=forbid-guest:"
				"0:1,translate_gid=map:1000:101000:1,xattrmap=:ok:all:::"),
		     0, "%s", spec_err);
	cr_expect_eq(spec.uid_map.n, 2);
	cr_expect_eq(spec.gid_map.n, 1);
	cr_expect_str_eq(spec.xattrmap, ":ok:all:::");
	export_conf_free(&spec);
}

Test(config, file_export_name_may_hold_spaces_and_exceed_inih_section_limit)
{
	static const char name[] = "a rather long export name that inih would cut at fifty bytes";

	cr_assert_eq(parse_conf("[export a rather long export name that inih would cut at fifty "
				"bytes]\npath = /srv\n"),
		     0, "%s", captured(&err));
	cr_assert_eq(cfg.nexports, 1);
	cr_expect_str_eq(cfg.exports[0].name, name);
}

Test(config, file_indented_keys_are_keys_not_continuation_lines)
{
	cr_assert_eq(parse_conf("[export x]\n"
				"    path = /srv/x\n"
				"    multidevs = remap\n"),
		     0, "%s", captured(&err));
	cr_assert_eq(cfg.nexports, 1);
	cr_expect_str_eq(cfg.exports[0].path, "/srv/x");
	cr_expect_eq(cfg.exports[0].multidevs, MULTIDEVS_REMAP);
}

Test(config, file_comments_blank_lines_and_inline_comments_are_ignored)
{
	cr_assert_eq(parse_conf("; a comment\n"
				"\n"
				"# another\n"
				"[server] ; the server\n"
				"threads = 2 ; two\n"),
		     0, "%s", captured(&err));
	cr_expect_eq(cfg.threads, 2);
}

Test(config, file_key_before_any_section_is_an_error)
{
	conf_fails("threads = 2\n", 1,
		   "key 'threads' outside a section (accepted: [server], [export NAME])");
}

Test(config, file_unknown_section_is_an_error)
{
	conf_fails("[servers]\nthreads = 2\n", 1,
		   "unknown section [servers] (accepted: [server], [export NAME])");
}

Test(config, file_export_section_without_a_name_is_an_error)
{
	conf_fails("[export]\npath = /srv\n", 1,
		   "[export]: missing export name (accepted: [export NAME])");
}

Test(config, file_section_header_without_bracket_is_an_error)
{
	conf_fails("[server\n", 1,
		   "malformed section header '[server' (accepted: [server], [export NAME])");
}

Test(config, file_text_after_a_section_header_is_an_error)
{
	conf_fails("[server] extra\n", 1,
		   "unexpected text after '[server]' (accepted: a comment)");
}

Test(config, file_line_without_equals_sign_is_an_error)
{
	conf_fails("[server]\nthreads 4\n", 2,
		   "expected 'key = value', '[server]' or '[export NAME]', got 'threads 4'");
}

Test(config, file_line_longer_than_inih_buffer_is_an_error)
{
	char text[400], *p = text;

	p += sprintf(p, "[export x]\npath = /\nremap_state = /");
	memset(p, 'a', 250);
	strcpy(p + 250, "\n");
	conf_fails(text, 3, "line too long (accepted: at most 199 bytes)");
}

Test(config, file_unknown_server_key_is_an_error)
{
	conf_fails("[server]\nmsize = 8192\n", 2,
		   "[server] unknown key 'msize' (accepted: listen, max_msize, threads, log_level, "
		   "max_connections, max_fids, user, max_open_fds, rlimit_nofile, sandbox, seccomp)");
}

Test(config, file_server_number_that_is_not_a_number_is_an_error)
{
	conf_fails("[server]\nmax_fids = lots\n", 2,
		   "[server] max_fids: 'lots' is not a number (accepted: 16..4294967295)");
}

Test(config, file_server_number_out_of_range_is_an_error)
{
	conf_fails("[server]\n\nmax_msize = 4095\n", 3,
		   "[server] max_msize: 4095 out of range (accepted: 4096..16777216)");
}

Test(config, file_server_number_too_large_for_its_field_is_an_error)
{
	conf_fails("[server]\nmax_connections = 4294967296\n", 2,
		   "[server] max_connections: 4294967296 out of range (accepted: 1..4294967295)");
}

Test(config, file_user_key_is_stored_with_its_line)
{
	cr_assert_eq(parse_conf("[server]\nthreads = 2\nuser = nobody\n"), 0, "%s",
		     captured(&err));
	cr_expect_str_eq(cfg.user, "nobody");
	cr_expect(cfg.set & (1u << SERVER_KEY_USER));
	cr_expect_str_eq(cfg.origin[SERVER_KEY_USER].file, conf_path);
	cr_expect_eq(cfg.origin[SERVER_KEY_USER].line, 3);
}

Test(config, file_empty_user_is_an_error)
{
	conf_fails("[server]\nuser =\n", 2,
		   "[server] user: empty value (accepted: a user name, or a numeric uid from 1 to "
		   "4294967294)");
	cr_expect_null(cfg.user);
}

Test(config, file_user_set_twice_is_an_error_and_keeps_the_first)
{
	conf_fails("[server]\nuser = nobody\nuser = daemon\n", 3,
		   "[server] user: already set at line 2 (accepted: one value)");
	cr_expect_str_eq(cfg.user, "nobody");
}

Test(config, file_server_key_set_twice_is_an_error)
{
	conf_fails("[server]\nthreads = 2\n[server]\nthreads = 3\n", 4,
		   "[server] threads: already set at line 2 (accepted: one value)");
}

Test(config, file_unknown_log_level_is_an_error)
{
	conf_fails("[server]\nlog_level = trace\n", 2,
		   "[server] log_level: unknown value 'trace' (accepted: error, warn, info, "
		   "debug)");
}

Test(config, file_empty_listen_address_is_an_error)
{
	conf_fails("[server]\nlisten = stdio,\n", 2,
		   "[server] listen: empty address (accepted: unix:PATH, tcp:HOST:PORT, "
		   "vsock:[CID:]PORT[,allow=CIDS], stdio, "
		   "separated by commas)");
}

Test(config, file_unknown_export_key_is_an_error)
{
	conf_fails("[export data]\npath = /srv\nread_only = yes\n", 3,
		   "[export data] unknown key 'read_only' (accepted: path, " SPEC_KEYS ")");
}

Test(config, file_export_key_set_twice_is_an_error)
{
	conf_fails("[export data]\npath = /srv\npath = /srv2\n", 3,
		   "[export data] path: already set at line 2 (accepted: one value)");
}

Test(config, file_unknown_multidevs_is_an_error)
{
	conf_fails("[server]\n"
		   "threads = 2\n"
		   "\n"
		   "[export data]\n"
		   "path = /srv\n"
		   "\n"
		   "multidevs = foo\n",
		   7,
		   "[export data] multidevs: unknown value 'foo' (accepted: remap, forbid, warn, "
		   "default)");
}

Test(config, file_unknown_security_model_is_an_error)
{
	conf_fails("[export data]\npath = /srv\nsecurity_model = mapped-file\n", 3,
		   "[export data] security_model: unknown value 'mapped-file' (accepted: "
		   "passthrough, mapped-xattr, none)");
}

Test(config, file_readonly_that_is_not_a_boolean_is_an_error)
{
	conf_fails("[export data]\npath = /srv\nreadonly = ro\n", 3,
		   "[export data] readonly: unknown value 'ro' (accepted: yes, no, true, false, "
		   "on, off, 1, 0)");
}

Test(config, file_negative_squash_uid_is_an_error)
{
	conf_fails("[export data]\npath = /srv\nsquash_uid = -1\n", 3,
		   "[export data] squash_uid: '-1' is not a number (accepted: 0..4294967294)");
}

Test(config, file_empty_path_is_an_error)
{
	conf_fails("[export data]\npath =\n", 2,
		   "[export data] path: empty value (accepted: a directory)");
}

Test(config, file_export_without_path_is_an_error_at_its_header_line)
{
	conf_fails("[export data]\nmultidevs = remap\n\n[server]\nthreads = 1\n", 1,
		   "[export data]: missing path (accepted: path = DIRECTORY)");
	cr_expect_eq(cfg.nexports, 0);
	cr_expect_eq(cfg.threads, 1, "the rest of the file is still read");
}

Test(config, file_keys_of_a_refused_section_are_not_reported_again)
{
	conf_fails("[exports]\npath = /srv\nmultidevs = nonsense\n", 1,
		   "unknown section [exports] (accepted: [server], [export NAME])");
}

Test(config, file_reports_every_error_not_only_the_first)
{
	cr_expect_eq(parse_conf("[server]\n"
				"threads = many\n"
				"log_level = chatty\n"
				"[export a]\n"
				"path = /srv\n"
				"multidevs = all\n"),
		     -EINVAL);
	const char *e = captured(&err);
	cr_expect(strstr(e, ":2: [server] threads:"), "%s", e);
	cr_expect(strstr(e, ":3: [server] log_level:"), "%s", e);
	cr_expect(strstr(e, ":6: [export a] multidevs:"), "%s", e);
}

Test(config, file_that_does_not_exist_is_reported_with_errno)
{
	char path[PATH_MAX];

	tmp_path(path, sizeof(path), "absent.conf");
	cr_expect_eq(config_parse_file(&cfg, path, err.f), -ENOENT);
	char *want;
	cr_assert_neq(asprintf(&want, "%s: No such file or directory\n", path), -1);
	cr_expect_str_eq(captured(&err), want);
	free(want);
}

/* ---- libvirt domain XML ----------------------------------------------- */

Test(config, xml_seed_domain_gives_three_exports_remap_forbid_warn)
{
	const char *path = TEST_DATA "/seed-domain.xml";
	static const char *const names[] = {"fs0", "fs1", "fs2"};
	static const char *const paths[] = {"/export/fs0", "/export/fs1", "/export/fs2"};
	static const enum multidevs_policy policies[] = {MULTIDEVS_REMAP, MULTIDEVS_FORBID,
							 MULTIDEVS_WARN};
	static const int lines[] = {24, 29, 34};

	cr_assert_eq(config_parse_libvirt_xml(&cfg, path, err.f), 0, "%s", captured(&err));
	cr_expect_str_empty(captured(&err));
	cr_assert_eq(cfg.nexports, 3);
	for (size_t i = 0; i < 3; i++) {
		const struct export_conf *e = &cfg.exports[i];

		cr_expect_str_eq(e->name, names[i]);
		cr_expect_str_eq(e->path, paths[i]);
		cr_expect_eq(e->multidevs, policies[i]);
		cr_expect_eq(e->security_model, SECMODEL_MAPPED_XATTR, "accessmode='mapped'");
		cr_expect_not(e->readonly);
		cr_expect_str_eq(e->origin.file, path);
		cr_expect_eq(e->origin.line, lines[i]);
		cr_expect_eq(e->key_line[EXPORT_KEY_PATH], lines[i] + 1);
	}
}

Test(config, xml_malformed_reports_the_parser_message_and_line)
{
	const char *path = TEST_DATA "/malformed.xml";

	cr_expect_eq(config_parse_libvirt_xml(&cfg, path, err.f), -EINVAL);
	cr_expect_str_eq(captured(&err), TEST_DATA "/malformed.xml:6: malformed XML: Opening and "
						   "ending tag mismatch: filesystem line 3 and "
						   "filesystme\n");
	cr_expect_eq(cfg.nexports, 0);
}

Test(config, xml_empty_file_is_malformed)
{
	char path[PATH_MAX];

	write_file(tmp_path(path, sizeof(path), "empty.xml"), "");
	cr_expect_eq(config_parse_libvirt_xml(&cfg, path, err.f), -EINVAL);
	char *want;
	cr_assert_neq(asprintf(&want, "%s:1: malformed XML: Document is empty\n", path), -1);
	cr_expect_str_eq(captured(&err), want);
	free(want);
}

/* Write an XML text to tmpdir/domain.xml, import it, return the result. */
static char xml_path[PATH_MAX];

static int parse_xml(const char *text)
{
	tmp_path(xml_path, sizeof(xml_path), "domain.xml");
	write_file(xml_path, text);
	return config_parse_libvirt_xml(&cfg, xml_path, err.f);
}

static void expect_xml_output(int line, const char *message)
{
	char *want;

	cr_assert_neq(asprintf(&want, "%s:%d: %s\n", xml_path, line, message), -1);
	cr_expect_str_eq(captured(&err), want);
	free(want);
}

Test(config, xml_idmap_of_a_real_domain_becomes_map_rules_and_virtiofs_stays_out)
{
	const char *path = TEST_DATA "/idmap-domain.xml";

	cr_assert_eq(config_parse_libvirt_xml(&cfg, path, err.f), 0, "%s", captured(&err));
	cr_assert_eq(cfg.nexports, 2, "the virtiofs filesystem is not a 9p share");
	const struct export_conf *web = &cfg.exports[0], *home = &cfg.exports[1];
	cr_expect_str_eq(web->name, "web");
	cr_assert_eq(web->uid_map.n, 1);
	cr_expect_eq(web->uid_map.rules[0].kind, IDMAP_MAP);
	cr_expect_eq(web->uid_map.rules[0].from, 0);
	cr_expect_eq(web->uid_map.rules[0].to, 100000);
	cr_expect_eq(web->uid_map.rules[0].count, 65536);
	cr_expect_eq(web->uid_map.rules[0].line, 13);
	cr_assert_eq(web->gid_map.n, 1);
	cr_expect_eq(web->gid_map.rules[0].to, 100000);
	cr_expect_str_eq(home->name, "home");
	cr_expect(home->readonly);
	cr_expect_eq(home->security_model, SECMODEL_MAPPED_XATTR);
	cr_expect_eq(home->uid_map.n, 2);
	cr_expect_eq(home->gid_map.n, 1);
	uint32_t host = 0;
	cr_expect_eq(idmap_to_host(&home->uid_map, 1000, &host), 0);
	cr_expect_eq(host, 101000);
	cr_expect_eq(idmap_to_host(&home->uid_map, 5, &host), -EPERM);
	cr_expect(strstr(captured(&err), "skipping <filesystem> with <driver type='virtiofs'/>"));
}

Test(config, xml_overlapping_idmap_entries_are_refused_with_their_line)
{
	cr_expect_eq(parse_xml("<domain><devices>\n"
			       "<filesystem type='mount'><idmap>\n"
			       "<uid start='0' target='1000' count='10'/>\n"
			       "<uid start='5' target='5000' count='1'/>\n"
			       "<gid start='x' target='1' count='1'/>\n"
			       "</idmap><source dir='/srv'/><target dir='t'/></filesystem>\n"
			       "</devices></domain>\n"),
		     -EINVAL);
	char *want;
	cr_assert_neq(asprintf(&want,
			       "%s:4: <idmap> <uid>: 'map:5:5000:1' overlaps 'map:0:1000:10' "
			       "(line 3) in guest ids (accepted: rules whose guest ids are "
			       "disjoint)\n"
			       "%s:5: <gid start='x'>: 'x' is not a number (accepted: "
			       "0..4294967295)\n",
			       xml_path, xml_path),
		      -1);
	cr_expect_str_eq(captured(&err), want);
	free(want);
	cr_expect_eq(cfg.nexports, 0);
}

Test(config, xml_unknown_multidevs_is_refused_like_libvirt)
{
	cr_expect_eq(parse_xml("<domain>\n<devices>\n"
			       "<filesystem type='mount' multidevs='x'>\n"
			       "<source dir='/srv'/><target dir='t'/></filesystem>\n"
			       "</devices>\n</domain>\n"),
		     -EINVAL);
	expect_xml_output(3, "unknown multidevs 'x' (accepted: default, remap, forbid, warn)");
	cr_expect_eq(cfg.nexports, 0);
}

Test(config, xml_unknown_accessmode_is_refused_like_libvirt)
{
	cr_expect_eq(parse_xml("<domain><devices>\n\n"
			       "<filesystem accessmode='x'>\n"
			       "<source dir='/srv'/><target dir='t'/></filesystem>\n"
			       "</devices></domain>\n"),
		     -EINVAL);
	expect_xml_output(3, "unknown accessmode 'x' (accepted: default, passthrough, mapped, "
			     "squash)");
}

Test(config, xml_filesystem_without_source_dir_is_an_error)
{
	cr_expect_eq(parse_xml("<domain><devices>\n"
			       "<filesystem type='mount'>\n"
			       "<source name='pool'/>\n"
			       "<target dir='t'/></filesystem>\n"
			       "</devices></domain>\n"),
		     -EINVAL);
	expect_xml_output(3, "missing source dir in <filesystem type='mount'> (accepted: "
			     "<source dir='/path'/>)");
}

Test(config, xml_filesystem_without_target_is_an_error)
{
	cr_expect_eq(parse_xml("<domain><devices>\n"
			       "<filesystem type='mount'>\n"
			       "<source dir='/srv'/>\n"
			       "</filesystem>\n"
			       "</devices></domain>\n"),
		     -EINVAL);
	expect_xml_output(2, "missing target dir in <filesystem type='mount'> (accepted: "
			     "<target dir='mount_tag'/>)");
}

Test(config, xml_root_other_than_domain_is_an_error)
{
	cr_expect_eq(parse_xml("<?xml version='1.0'?>\n<network/>\n"), -EINVAL);
	expect_xml_output(2, "root element is <network> (accepted: a libvirt <domain>)");
}

Test(config, xml_skips_block_and_virtiofs_filesystems_with_a_note)
{
	const char *path = TEST_DATA "/mixed-domain.xml";

	cr_assert_eq(config_parse_libvirt_xml(&cfg, path, err.f), 0, "%s", captured(&err));
	cr_expect_str_eq(captured(&err),
			 TEST_DATA "/mixed-domain.xml:4: note: skipping <filesystem type='block'>: "
				   "only type='mount' is a 9p share\n" TEST_DATA
				   "/mixed-domain.xml:8: note: skipping <filesystem> with <driver "
				   "type='virtiofs'/>: virtiofs is not 9p\n");
	cr_assert_eq(cfg.nexports, 1);
	cr_expect_str_eq(cfg.exports[0].name, "ro");
}

Test(config, xml_filesystem_without_type_is_mount_and_maps_squash_and_readonly)
{
	cr_assert_eq(config_parse_libvirt_xml(&cfg, TEST_DATA "/mixed-domain.xml", err.f), 0);
	cr_assert_eq(cfg.nexports, 1);
	const struct export_conf *e = &cfg.exports[0];
	cr_expect_str_eq(e->path, "/srv/ro");
	cr_expect_eq(e->security_model, SECMODEL_NONE, "accessmode='squash'");
	cr_expect_eq(e->multidevs, MULTIDEVS_DEFAULT, "no multidevs attribute");
	cr_expect(e->readonly, "<readonly/>");
	cr_expect_eq(e->key_line[EXPORT_KEY_READONLY], 16);
}

Test(config, xml_without_accessmode_is_passthrough)
{
	cr_assert_eq(parse_xml("<domain><devices><filesystem><source dir='/a'/><target dir='a'/>"
			       "</filesystem></devices></domain>"),
		     0, "%s", captured(&err));
	cr_assert_eq(cfg.nexports, 1);
	cr_expect_eq(cfg.exports[0].security_model, SECMODEL_PASSTHROUGH);
}

Test(config, xml_file_that_does_not_exist_is_reported_with_errno)
{
	cr_expect_eq(config_parse_libvirt_xml(&cfg, "/nonexistent/domain.xml", err.f), -ENOENT);
	cr_expect_str_eq(captured(&err), "/nonexistent/domain.xml: No such file or directory\n");
}

/* ---- merge order ------------------------------------------------------ */

/* A config file with one export "data" on file_dir and a listen address. */
static void write_merge_conf(const char *dir)
{
	char *text;

	tmp_path(conf_path, sizeof(conf_path), "ninepd.conf");
	cr_assert_neq(asprintf(&text,
			       "[server]\n"
			       "listen = unix:/run/file.sock\n"
			       "max_msize = 8192\n"
			       "threads = 2\n"
			       "log_level = warn\n"
			       "[export data]\n"
			       "path = %s\n"
			       "multidevs = forbid\n",
			       dir),
		      -1);
	write_file(conf_path, text);
	free(text);
}

Test(config, merge_command_line_export_replaces_the_file_export_of_that_name)
{
	char a[PATH_MAX], b[PATH_MAX], spec_arg[PATH_MAX + 64];

	make_dir(tmp_path(a, sizeof(a), "a"));
	make_dir(tmp_path(b, sizeof(b), "b"));
	write_merge_conf(a);
	snprintf(spec_arg, sizeof(spec_arg), "%s,name=data,multidevs=remap", b);
	cr_assert_eq(load(NULL, "-c", conf_path, "-e", spec_arg, NULL), 0, "%s", captured(&err));
	cr_assert_eq(cfg.nexports, 1);
	cr_expect_str_eq(cfg.exports[0].path, b);
	cr_expect_eq(cfg.exports[0].multidevs, MULTIDEVS_REMAP);
	cr_expect_null(cfg.exports[0].origin.file, "the export now comes from the command line");
}

Test(config, merge_command_line_export_with_a_new_name_is_added)
{
	char a[PATH_MAX], b[PATH_MAX];

	make_dir(tmp_path(a, sizeof(a), "a"));
	make_dir(tmp_path(b, sizeof(b), "b"));
	write_merge_conf(a);
	cr_assert_eq(load(NULL, "-c", conf_path, "-e", b, NULL), 0, "%s", captured(&err));
	cr_assert_eq(cfg.nexports, 2);
	cr_expect_str_eq(cfg.exports[0].name, "data");
	cr_expect_str_eq(cfg.exports[1].name, b);
}

Test(config, merge_command_line_listen_replaces_the_file_list)
{
	char a[PATH_MAX];

	make_dir(tmp_path(a, sizeof(a), "a"));
	write_merge_conf(a);
	cr_assert_eq(load(NULL, "-c", conf_path, "-l", "stdio", "-l", "tcp:localhost:5640", NULL),
		     0, "%s", captured(&err));
	cr_assert_eq(cfg.nlisten, 2);
	cr_expect_str_eq(cfg.listen[0], "stdio");
	cr_expect_str_eq(cfg.listen[1], "tcp:localhost:5640");
}

Test(config, merge_file_listen_stays_without_command_line_listen)
{
	char a[PATH_MAX];

	make_dir(tmp_path(a, sizeof(a), "a"));
	write_merge_conf(a);
	cr_assert_eq(load(NULL, "-c", conf_path, NULL), 0, "%s", captured(&err));
	cr_assert_eq(cfg.nlisten, 1);
	cr_expect_str_eq(cfg.listen[0], "unix:/run/file.sock");
}

Test(config, merge_command_line_numbers_override_and_v_adds_to_the_file_level)
{
	char a[PATH_MAX];

	make_dir(tmp_path(a, sizeof(a), "a"));
	write_merge_conf(a);
	cr_assert_eq(load(NULL, "-c", conf_path, "--msize", "16384", "-v", NULL), 0, "%s",
		     captured(&err));
	cr_expect_eq(cfg.max_msize, 16384, "--msize wins over the file");
	cr_expect_eq(cfg.threads, 2, "the file's threads stay");
	cr_expect_eq(cfg.log_level, LOG_LEVEL_INFO, "warn from the file, one -v more");
	cr_expect_str_eq(cfg.config_file, conf_path);
}

Test(config, merge_command_line_user_replaces_the_file_user)
{
	char a[PATH_MAX];

	make_dir(tmp_path(a, sizeof(a), "a"));
	write_merge_conf(a);
	FILE *f = fopen(conf_path, "a");
	cr_assert_not_null(f);
	/* The file's [server] section is reopened: a second header is allowed. */
	fputs("[server]\nuser = daemon\n", f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(load(NULL, "-c", conf_path, NULL), 0, "%s", captured(&err));
	cr_expect_str_eq(cfg.user, "daemon", "the file's user without -u");
	cr_expect_str_eq(cfg.origin[SERVER_KEY_USER].file, conf_path);
	cr_assert_eq(load(NULL, "-c", conf_path, "-u", "nobody", NULL), 0, "%s", captured(&err));
	cr_expect_str_eq(cfg.user, "nobody", "-u wins over the file");
	cr_expect_null(cfg.origin[SERVER_KEY_USER].file, "and errors would name the command line");
}

Test(config, merge_two_command_line_exports_with_one_name_are_an_error)
{
	char a[PATH_MAX], spec1[PATH_MAX + 16], spec2[PATH_MAX + 16];

	make_dir(tmp_path(a, sizeof(a), "a"));
	snprintf(spec1, sizeof(spec1), "%s,name=x", a);
	snprintf(spec2, sizeof(spec2), "%s,name=x,readonly", a);
	cr_assert_eq(load(NULL, "-e", spec1, "-e", spec2, NULL), -1);
	cr_expect_str_eq(captured(&err), "command line: -e x: name: already used by the export "
					 "from command line (accepted: a unique name)\n");
}

Test(config, merge_file_and_xml_exports_with_one_name_are_an_error)
{
	char xml[PATH_MAX];

	tmp_path(conf_path, sizeof(conf_path), "ninepd.conf");
	write_file(conf_path, "[export t]\npath = /\n");
	write_file(tmp_path(xml, sizeof(xml), "d.xml"),
		   "<domain><devices>\n<filesystem><source dir='/'/><target dir='t'/>"
		   "</filesystem></devices></domain>\n");
	cr_assert_eq(load(NULL, "-c", conf_path, "--libvirt-xml", xml, NULL), -1);
	char *want;
	cr_assert_neq(asprintf(&want,
			       "%s:2: [export t] name: already used by the export from %s:1 "
			       "(accepted: a unique name)\n",
			       xml, conf_path),
		      -1);
	cr_expect_str_eq(captured(&err), want);
	free(want);
}

Test(config, load_reads_the_default_file_when_it_exists)
{
	tmp_path(conf_path, sizeof(conf_path), "default.conf");
	write_file(conf_path, "[export root]\npath = /\n");
	cr_assert_eq(load(conf_path, NULL), 0, "%s", captured(&err));
	cr_assert_eq(cfg.nexports, 1);
	cr_expect_str_eq(cfg.exports[0].name, "root");
	cr_expect_str_eq(cfg.config_file, conf_path);
}

Test(config, load_ignores_a_default_file_that_does_not_exist)
{
	char absent[PATH_MAX];

	tmp_path(absent, sizeof(absent), "absent.conf");
	cr_assert_eq(load(absent, "-e", "/", NULL), 0, "%s", captured(&err));
	cr_expect_null(cfg.config_file);
	cr_expect_str_empty(captured(&err));
}

Test(config, load_c_replaces_the_default_file)
{
	char other[PATH_MAX];

	tmp_path(conf_path, sizeof(conf_path), "default.conf");
	write_file(conf_path, "[export from-default]\npath = /\n");
	write_file(tmp_path(other, sizeof(other), "other.conf"), "[export from-c]\npath = /\n");
	cr_assert_eq(load(conf_path, "-c", other, NULL), 0, "%s", captured(&err));
	cr_assert_eq(cfg.nexports, 1);
	cr_expect_str_eq(cfg.exports[0].name, "from-c");
}

Test(config, load_fails_when_the_c_file_does_not_exist)
{
	char absent[PATH_MAX], *want;

	tmp_path(absent, sizeof(absent), "absent.conf");
	cr_assert_eq(load(NULL, "-c", absent, "-e", "/", NULL), -1);
	cr_assert_neq(asprintf(&want, "%s: No such file or directory\n", absent), -1);
	cr_expect_str_eq(captured(&err), want);
	free(want);
}

Test(config, load_takes_relative_paths_from_the_file_directory_and_cwd)
{
	char sub[PATH_MAX], want[PATH_MAX], cwd_dir[PATH_MAX];

	make_dir(tmp_path(sub, sizeof(sub), "etc"));
	make_dir(tmp_path(want, sizeof(want), "etc/share"));
	make_dir(tmp_path(cwd_dir, sizeof(cwd_dir), "cwd"));
	make_dir(tmp_path(cwd_dir, sizeof(cwd_dir), "cwd/here"));
	tmp_path(conf_path, sizeof(conf_path), "etc/ninepd.conf");
	write_file(conf_path, "[export s]\npath = share\n");
	cr_assert_eq(chdir(tmp_path(cwd_dir, sizeof(cwd_dir), "cwd")), 0);
	cr_assert_eq(load(NULL, "-c", "../etc/ninepd.conf", "-e", "here", NULL), 0, "%s",
		     captured(&err));
	cr_assert_eq(cfg.nexports, 2);
	cr_expect_str_eq(cfg.exports[0].path, tmp_path(want, sizeof(want), "cwd/../etc/share"));
	cr_expect_str_eq(cfg.exports[1].path, tmp_path(want, sizeof(want), "cwd/here"));
	cr_expect_str_eq(cfg.exports[1].name, "here", "the name stays as written");
}

/* ---- validation -------------------------------------------------------- */

/* cfg with one valid export of "/" named "root", from the command line. */
static struct export_conf *valid_config(void)
{
	struct export_conf e;
	char msg[128];

	cr_assert_eq(config_parse_export_spec("/,name=root", &e, msg, sizeof(msg)), 0);
	cr_assert_eq(config_add_export(&cfg, &e), 0);
	export_conf_free(&e);
	return &cfg.exports[0];
}

static void expect_invalid(const char *message)
{
	cr_expect_eq(config_validate(&cfg, err.f), 1);
	cr_expect_str_eq(captured(&err), message);
}

Test(config, validate_accepts_a_valid_config_silently)
{
	valid_config();
	cr_expect_eq(config_validate(&cfg, err.f), 0);
	cr_expect_str_empty(captured(&err));
}

Test(config, validate_needs_at_least_one_export)
{
	expect_invalid("ninepd: no export configured (accepted: -e PATH, an [export NAME] "
		       "section, or --libvirt-xml FILE)\n");
}

Test(config, validate_refuses_a_path_that_does_not_exist)
{
	struct export_conf *e = valid_config();

	free(e->path);
	e->path = strdup("/nonexistent/ninepd");
	expect_invalid("command line: -e root: path: '/nonexistent/ninepd': No such file or "
		       "directory (accepted: an existing directory, as an absolute path)\n");
}

Test(config, validate_refuses_a_path_that_is_not_a_directory)
{
	char file[PATH_MAX], *want;

	write_file(tmp_path(file, sizeof(file), "plain"), "x");
	tmp_path(conf_path, sizeof(conf_path), "ninepd.conf");
	cr_assert_neq(asprintf(&want, "[export f]\n\npath = %s\n", file), -1);
	write_file(conf_path, want);
	free(want);
	cr_assert_eq(config_parse_file(&cfg, conf_path, err.f), 0);
	cr_assert_neq(asprintf(&want,
			       "%s:3: [export f] path: '%s': is not a directory (accepted: an "
			       "existing directory, as an absolute path)\n",
			       conf_path, file),
		      -1);
	expect_invalid(want);
	free(want);
}

Test(config, validate_refuses_a_relative_path)
{
	struct export_conf *e = valid_config();

	free(e->path);
	e->path = strdup("srv");
	expect_invalid("command line: -e root: path: 'srv': is not absolute (accepted: an "
		       "existing directory, as an absolute path)\n");
}

Test(config, validate_refuses_a_name_with_a_closing_bracket)
{
	struct export_conf *e = valid_config();

	free(e->name);
	e->name = strdup("a]b");
	expect_invalid("command line: -e a]b: name: contains ']' or a control character "
		       "(accepted: printable characters other than ']', no surrounding spaces)\n");
}

Test(config, validate_refuses_a_name_with_surrounding_spaces)
{
	struct export_conf *e = valid_config();

	free(e->name);
	e->name = strdup("tag ");
	expect_invalid("command line: -e tag : name: begins or ends with a space (accepted: "
		       "printable characters other than ']', no surrounding spaces)\n");
}

Test(config, validate_refuses_an_unknown_multidevs_value)
{
	valid_config()->multidevs = (enum multidevs_policy)9;
	expect_invalid("command line: -e root: multidevs: unknown value 9 (accepted: remap, "
		       "forbid, warn, default)\n");
}

Test(config, validate_refuses_an_unknown_security_model_value)
{
	valid_config()->security_model = (enum security_model)5;
	expect_invalid("command line: -e root: security_model: unknown value 5 (accepted: "
		       "passthrough, mapped-xattr, none)\n");
}

Test(config, validate_refuses_a_squash_uid_out_of_range)
{
	valid_config()->squash_uid = 4294967295;
	expect_invalid("command line: -e root: squash_uid: 4294967295 out of range (accepted: "
		       "0..4294967294)\n");
}

Test(config, validate_refuses_a_negative_squash_gid_other_than_unset)
{
	valid_config()->squash_gid = -2;
	expect_invalid("command line: -e root: squash_gid: -2 out of range (accepted: "
		       "0..4294967294, or -1 for not set)\n");
}

Test(config, validate_refuses_remap_state_without_multidevs_remap)
{
	valid_config()->remap_state = strdup("/tmp/state");
	expect_invalid("command line: -e root: remap_state: only used with multidevs = remap "
		       "(this export has multidevs = default)\n");
}

/* An export of tmpdir/export with multidevs = remap, for remap_state
 * tests: its state file belongs outside it, in tmpdir. */
static struct export_conf *remap_export(void)
{
	struct export_conf *e = valid_config();
	char path[PATH_MAX];

	make_dir(tmp_path(path, sizeof(path), "export"));
	free(e->path);
	e->path = strdup(path);
	e->multidevs = MULTIDEVS_REMAP;
	return e;
}

/* expect_invalid() of "command line: -e root: remap_state: " + the rest,
 * formatted. */
static void expect_invalid_state(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void expect_invalid_state(const char *fmt, ...)
{
	char *rest, *want;
	va_list ap;

	va_start(ap, fmt);
	cr_assert_neq(vasprintf(&rest, fmt, ap), -1);
	va_end(ap);
	cr_assert_neq(asprintf(&want, "command line: -e root: remap_state: %s (accepted: a regular "
				      "file or none yet, in an existing directory outside every "
				      "export, with no symbolic link on the path)\n",
			       rest),
		      -1);
	expect_invalid(want);
	free(rest);
	free(want);
}

Test(config, validate_refuses_remap_state_in_a_missing_directory)
{
	remap_export()->remap_state = strdup("/nonexistent/ninepd/state");
	expect_invalid_state("/nonexistent/ninepd/state: '/nonexistent' does not exist");
}

Test(config, validate_refuses_remap_state_that_is_a_directory)
{
	remap_export()->remap_state = strdup(tmpdir);
	expect_invalid_state("%s: not a regular file but a directory, which is refused", tmpdir);
}

Test(config, validate_refuses_remap_state_ending_in_a_slash)
{
	char state[PATH_MAX];

	remap_export()->remap_state = strdup(tmp_path(state, sizeof(state), "dir/"));
	expect_invalid_state("%s: names a directory, not a file", state);
}

Test(config, validate_refuses_a_relative_remap_state)
{
	remap_export()->remap_state = strdup("state");
	expect_invalid("command line: -e root: remap_state: 'state' is not absolute (accepted: "
		       "an absolute path)\n");
}

Test(config, validate_accepts_remap_state_in_an_existing_directory)
{
	char state[PATH_MAX];

	remap_export()->remap_state = strdup(tmp_path(state, sizeof(state), "root.remap"));
	cr_expect_eq(config_validate(&cfg, err.f), 0, "%s", captured(&err));
}

Test(config, validate_accepts_an_existing_regular_remap_state)
{
	char state[PATH_MAX];

	write_file(tmp_path(state, sizeof(state), "root.remap"), "");
	remap_export()->remap_state = strdup(state);
	cr_expect_eq(config_validate(&cfg, err.f), 0, "%s", captured(&err));
}

Test(config, validate_refuses_a_symlinked_remap_state)
{
	char state[PATH_MAX];

	tmp_path(state, sizeof(state), "root.remap");
	cr_assert_eq(symlink("/etc/passwd", state), 0);
	remap_export()->remap_state = strdup(state);
	expect_invalid_state("%s: not a regular file but a symbolic link, which is refused", state);
}

Test(config, validate_refuses_remap_state_under_a_symlinked_directory)
{
	char real[PATH_MAX], link[PATH_MAX], state[PATH_MAX + 16];

	make_dir(tmp_path(real, sizeof(real), "real"));
	cr_assert_eq(symlink("real", tmp_path(link, sizeof(link), "link")), 0);
	snprintf(state, sizeof(state), "%s/root.remap", link);
	remap_export()->remap_state = strdup(state);
	expect_invalid_state("%s: '%s' is a symbolic link, which is not followed", state, link);
}

Test(config, validate_refuses_a_fifo_as_remap_state, .timeout = 10)
{
	char state[PATH_MAX];

	cr_assert_eq(mkfifo(tmp_path(state, sizeof(state), "root.remap"), 0600), 0);
	remap_export()->remap_state = strdup(state);
	expect_invalid_state("%s: not a regular file but a FIFO, which is refused", state);
}

Test(config, validate_refuses_remap_state_inside_its_own_export)
{
	struct export_conf *e = remap_export();
	char state[PATH_MAX];

	e->remap_state = strdup(tmp_path(state, sizeof(state), "export/root.remap"));
	expect_invalid_state("'%s' is inside export 'root' (%s/export)", state, tmpdir);
}

Test(config, validate_refuses_remap_state_deep_inside_another_export)
{
	char other[PATH_MAX], state[PATH_MAX];

	make_dir(tmp_path(other, sizeof(other), "other"));
	make_dir(tmp_path(state, sizeof(state), "other/sub"));
	remap_export()->remap_state =
		strdup(tmp_path(state, sizeof(state), "other/sub/root.remap"));
	cr_assert_eq(config_add_export(&cfg, &(struct export_conf){.name = "other",
								   .path = other}),
		     0);
	expect_invalid_state("'%s' is inside export 'other' (%s)", state, other);
}

Test(config, validate_compares_real_paths_to_find_a_state_file_in_an_export)
{
	struct export_conf *e = remap_export();
	char link[PATH_MAX], state[PATH_MAX];

	/* The export is named through a link, the state file by its real path. */
	cr_assert_eq(symlink("export", tmp_path(link, sizeof(link), "via-link")), 0);
	free(e->path);
	e->path = strdup(link);
	e->remap_state = strdup(tmp_path(state, sizeof(state), "export/root.remap"));
	expect_invalid_state("'%s' is inside export 'root' (%s/export)", state, tmpdir);
}

Test(config, validate_accepts_remap_state_beside_an_export_that_shares_its_prefix)
{
	char state[PATH_MAX];

	make_dir(tmp_path(state, sizeof(state), "export2"));
	/* tmpdir/export2 is not inside tmpdir/export. */
	remap_export()->remap_state = strdup(tmp_path(state, sizeof(state), "export2/root.remap"));
	cr_expect_eq(config_validate(&cfg, err.f), 0, "%s", captured(&err));
}

Test(config, validate_refuses_remap_state_anywhere_when_root_is_exported)
{
	struct export_conf *e = remap_export();
	char state[PATH_MAX];

	free(e->path);
	e->path = strdup("/");
	e->remap_state = strdup(tmp_path(state, sizeof(state), "root.remap"));
	expect_invalid_state("'%s' is inside export 'root' (/)", state);
}

Test(config, file_remap_state_inside_an_export_names_file_line_and_key)
{
	char data[PATH_MAX], *want;

	make_dir(tmp_path(data, sizeof(data), "data"));
	tmp_path(conf_path, sizeof(conf_path), "ninepd.conf");
	write_file(conf_path, "[export data]\npath = data\nmultidevs = remap\n"
			      "remap_state = data/.remap\n");
	cr_expect_eq(load(NULL, "-c", conf_path, NULL), -1);
	cr_assert_neq(asprintf(&want,
			       "%s:4: [export data] remap_state: '%s/data/.remap' is inside export "
			       "'data' (%s/data) (accepted: a regular file or none yet, in an "
			       "existing directory outside every export, with no symbolic link on "
			       "the path)\n",
			       conf_path, tmpdir, tmpdir),
		      -1);
	cr_expect_str_eq(captured(&err), want);
	free(want);
}

/* ---- max_open_fds and rlimit_nofile ------------------------------------ */

Test(config, descriptor_settings_default_to_derived_and_raised)
{
	cr_assert_eq(cmdline(NULL), 0);
	cr_expect_eq(cfg.max_open_fds, 0, "0: derived from RLIMIT_NOFILE at start");
	cr_expect_eq(cfg.rlimit_nofile, 0, "0: the soft limit is raised to the hard one");
	valid_config();
	cr_expect_eq(config_validate(&cfg, err.f), 0, "%s", captured(&err));
	config_print(&cfg, out.f);
	cr_expect(strstr(captured(&out),
			 "\n# max_open_fds: not set; derived from RLIMIT_NOFILE at start\n"
			 "# rlimit_nofile: not set; the soft limit is raised to the hard one\n"),
		  "%s", captured(&out));
}

Test(config, file_descriptor_settings_are_stored_with_their_lines)
{
	cr_assert_eq(parse_conf("[server]\nmax_open_fds = 200\n\nrlimit_nofile = 64\n"), 0, "%s",
		     captured(&err));
	cr_expect_eq(cfg.max_open_fds, 200);
	cr_expect_eq(cfg.rlimit_nofile, 64);
	cr_expect(cfg.set & (1u << SERVER_KEY_MAX_OPEN_FDS));
	cr_expect_eq(cfg.origin[SERVER_KEY_MAX_OPEN_FDS].line, 2);
	cr_expect_eq(cfg.origin[SERVER_KEY_RLIMIT_NOFILE].line, 4);
	cr_expect_str_eq(cfg.origin[SERVER_KEY_RLIMIT_NOFILE].file, conf_path);
}

Test(config, file_max_open_fds_0_asks_for_the_derived_cap)
{
	cr_assert_eq(parse_conf("[server]\nmax_open_fds = 0\n"), 0, "%s", captured(&err));
	cr_expect_eq(cfg.max_open_fds, 0);
	valid_config();
	cr_expect_eq(config_validate(&cfg, err.f), 0, "%s", captured(&err));
}

Test(config, file_max_open_fds_that_is_not_a_number_is_an_error)
{
	conf_fails("[server]\nmax_open_fds = -1\n", 2,
		   "[server] max_open_fds: '-1' is not a number (accepted: 0..4294967295)");
}

Test(config, file_rlimit_nofile_below_64_is_an_error)
{
	conf_fails("[server]\nrlimit_nofile = 63\n", 2,
		   "[server] rlimit_nofile: 63 out of range (accepted: 64..4294967295)");
}

Test(config, file_rlimit_nofile_0_is_an_error_not_the_default)
{
	conf_fails("[server]\nrlimit_nofile = 0\n", 2,
		   "[server] rlimit_nofile: 0 out of range (accepted: 64..4294967295)");
}

Test(config, file_rlimit_nofile_beyond_32_bits_is_an_error)
{
	conf_fails("[server]\nrlimit_nofile = 4294967296\n", 2,
		   "[server] rlimit_nofile: 4294967296 out of range (accepted: 64..4294967295)");
}

Test(config, file_max_open_fds_set_twice_is_an_error)
{
	conf_fails("[server]\nmax_open_fds = 10\nmax_open_fds = 20\n", 3,
		   "[server] max_open_fds: already set at line 2 (accepted: one value)");
}

Test(config, cmdline_descriptor_options_fill_the_struct)
{
	cr_assert_eq(cmdline("--max-open-fds", "500", "--rlimit-nofile=2048", NULL), 0, "%s",
		     captured(&err));
	cr_expect_eq(cfg.max_open_fds, 500);
	cr_expect_eq(cfg.rlimit_nofile, 2048);
	cr_expect(cfg.set & (1u << SERVER_KEY_MAX_OPEN_FDS));
	cr_expect(cfg.set & (1u << SERVER_KEY_RLIMIT_NOFILE));
	cr_expect_null(cfg.origin[SERVER_KEY_RLIMIT_NOFILE].file, "the command line");
}

Test(config, cmdline_refuses_max_open_fds_that_is_not_a_number)
{
	cr_assert_eq(cmdline("--max-open-fds", "1k", NULL), -1);
	expect_usage_error("--max-open-fds: '1k' is not a number (accepted: 0..4294967295)");
}

Test(config, cmdline_refuses_rlimit_nofile_out_of_range)
{
	cr_assert_eq(cmdline("--rlimit-nofile", "16", NULL), -1);
	expect_usage_error("--rlimit-nofile: 16 out of range (accepted: 64..4294967295)");
}

Test(config, cmdline_help_lists_the_descriptor_options)
{
	cr_assert_eq(cmdline("--help", NULL), 1);
	cr_expect(strstr(captured(&out), "[--max-open-fds N]\n              [--rlimit-nofile N]"),
		  "%s", captured(&out));
	cr_expect(strstr(captured(&out), "  --max-open-fds N   descriptors"), "%s", captured(&out));
	cr_expect(strstr(captured(&out), "  --rlimit-nofile N  soft RLIMIT_NOFILE"), "%s",
		  captured(&out));
}

Test(config, merge_command_line_descriptor_options_override_the_file)
{
	tmp_path(conf_path, sizeof(conf_path), "ninepd.conf");
	write_file(conf_path, "[server]\nmax_open_fds = 100\nrlimit_nofile = 1024\n"
			      "[export r]\npath = /\n");
	cr_assert_eq(load(NULL, "-c", conf_path, NULL), 0, "%s", captured(&err));
	cr_expect_eq(cfg.max_open_fds, 100);
	cr_expect_eq(cfg.rlimit_nofile, 1024);
	cr_assert_eq(load(NULL, "-c", conf_path, "--max-open-fds", "0", NULL), 0, "%s",
		     captured(&err));
	cr_expect_eq(cfg.max_open_fds, 0, "an explicit 0 wins over the file");
	cr_expect_eq(cfg.rlimit_nofile, 1024, "the file's rlimit_nofile stays");
	cr_assert_eq(load(NULL, "-c", conf_path, "--rlimit-nofile", "512", NULL), 0, "%s",
		     captured(&err));
	cr_expect_eq(cfg.rlimit_nofile, 512);
	cr_expect_null(cfg.origin[SERVER_KEY_RLIMIT_NOFILE].file);
}

Test(config, validate_refuses_max_open_fds_not_below_rlimit_nofile_naming_the_file_line)
{
	char *want;

	tmp_path(conf_path, sizeof(conf_path), "ninepd.conf");
	write_file(conf_path, "[server]\nrlimit_nofile = 4096\nmax_open_fds = 4096\n"
			      "[export r]\npath = /\n");
	cr_assert_eq(config_parse_file(&cfg, conf_path, err.f), 0, "%s", captured(&err));
	cr_assert_neq(asprintf(&want,
			       "%s:3: [server] max_open_fds: 4096 is not below rlimit_nofile = "
			       "4096 (accepted: 0, or fewer than rlimit_nofile)\n",
			       conf_path),
		      -1);
	expect_invalid(want);
	free(want);
}

Test(config, validate_refuses_max_open_fds_not_below_rlimit_nofile_from_the_command_line)
{
	cr_expect_eq(load(NULL, "-e", "/", "--max-open-fds", "5000", "--rlimit-nofile", "4096",
			  NULL),
		     -1);
	cr_expect_str_eq(captured(&err), "command line: --max-open-fds: 5000 is not below "
					 "rlimit_nofile = 4096 (accepted: 0, or fewer than "
					 "rlimit_nofile)\n");
}

Test(config, validate_accepts_max_open_fds_below_rlimit_nofile_or_alone)
{
	valid_config();
	cfg.rlimit_nofile = 4096;
	cfg.max_open_fds = 4095;
	cr_expect_eq(config_validate(&cfg, err.f), 0, "%s", captured(&err));
	cfg.rlimit_nofile = 0;
	cfg.max_open_fds = 1u << 30;
	cr_expect_eq(config_validate(&cfg, err.f), 0, "%s", captured(&err));
}

Test(config, validate_refuses_rlimit_nofile_0_only_when_set)
{
	valid_config();
	cfg.rlimit_nofile = 0;
	cr_expect_eq(config_validate(&cfg, err.f), 0, "%s", captured(&err));
	cfg.set |= 1u << SERVER_KEY_RLIMIT_NOFILE;
	expect_invalid("command line: --rlimit-nofile: 0 out of range (accepted: "
		       "64..4294967295)\n");
}

Test(config, check_flag_prints_the_descriptor_settings_from_the_command_line)
{
	cr_assert_eq(load(NULL, "-n", "-e", "/,name=r", "--max-open-fds", "64",
			  "--rlimit-nofile", "65", NULL),
		     1, "%s", captured(&err));
	cr_expect(strstr(captured(&out), "\nmax_open_fds = 64\nrlimit_nofile = 65\n"), "%s",
		  captured(&out));
}

/* ---- throttling --------------------------------------------------------- */

Test(config, spec_without_throttle_keys_is_not_throttled)
{
	static const struct throttle_conf none;

	cr_assert_eq(parse_spec("/srv"), 0, "%s", spec_err);
	cr_expect_eq(memcmp(&spec.throttle, &none, sizeof(none)), 0);
	export_conf_free(&spec);
}

Test(config, spec_sets_every_throttle_key)
{
	cr_assert_eq(parse_spec("/srv,bps_limit=1,bps_read_limit=2,bps_write_limit=3,iops_limit=4,"
				"iops_read_limit=5,iops_write_limit=6,bps_burst=7,bps_read_burst=8,"
				"bps_write_burst=9,iops_burst=10,iops_read_burst=11,"
				"iops_write_burst=12"),
		     0, "%s", spec_err);
	for (int l = 0; l < THROTTLE_LIMITS; l++) {
		cr_expect_eq(spec.throttle.limit[l], (uint64_t)l + 1, "limit %d", l);
		cr_expect_eq(spec.throttle.burst[l], (uint64_t)l + 7, "burst %d", l);
	}
	export_conf_free(&spec);
}

Test(config, spec_throttle_keys_take_their_largest_values)
{
	cr_assert_eq(parse_spec("/srv,bps_limit=1099511627776,bps_burst=4294967296"), 0, "%s",
		     spec_err);
	cr_expect_eq(spec.throttle.limit[THROTTLE_BPS_TOTAL], 1ull << 40);
	cr_expect_eq(spec.throttle.burst[THROTTLE_BPS_TOTAL], 1ull << 32);
	export_conf_free(&spec);
}

Test(config, spec_refuses_a_limit_with_a_size_suffix)
{
	spec_fails("/srv,bps_limit=10M",
		   "bps_limit: '10M' is not a number (accepted: 1..1099511627776)");
}

Test(config, spec_refuses_a_limit_of_0)
{
	spec_fails("/srv,iops_read_limit=0",
		   "iops_read_limit: 0 out of range (accepted: 1..1099511627776)");
}

Test(config, spec_refuses_a_limit_above_1_tib)
{
	spec_fails("/srv,bps_write_limit=1099511627777",
		   "bps_write_limit: 1099511627777 out of range (accepted: 1..1099511627776)");
}

Test(config, spec_refuses_a_burst_above_4_gib)
{
	spec_fails("/srv,iops_limit=1,iops_burst=4294967297",
		   "iops_burst: 4294967297 out of range (accepted: 1..4294967296)");
}

Test(config, spec_refuses_a_throttle_key_without_value)
{
	spec_fails("/srv,bps_limit", "bps_limit: missing value (write bps_limit=VALUE)");
}

Test(config, spec_refuses_a_throttle_key_given_twice)
{
	spec_fails("/srv,iops_burst=1,iops_limit=5,iops_burst=2", "iops_burst: given twice");
}

Test(config, file_throttle_keys_fill_the_export_with_key_lines)
{
	cr_assert_eq(parse_conf("[export data]\n"
				"path = /srv\n"
				"bps_read_limit = 10485760\n"
				"bps_write_limit = 1048576\n"
				"bps_write_burst = 65536\n"
				"iops_limit = 100\n"
				"iops_burst = 1\n"),
		     0, "%s", captured(&err));
	cr_assert_eq(cfg.nexports, 1);
	const struct export_conf *e = &cfg.exports[0];
	cr_expect_eq(e->throttle.limit[THROTTLE_BPS_TOTAL], 0);
	cr_expect_eq(e->throttle.limit[THROTTLE_BPS_READ], 10485760);
	cr_expect_eq(e->throttle.burst[THROTTLE_BPS_READ], 0, "the default burst");
	cr_expect_eq(e->throttle.limit[THROTTLE_BPS_WRITE], 1048576);
	cr_expect_eq(e->throttle.burst[THROTTLE_BPS_WRITE], 65536);
	cr_expect_eq(e->throttle.limit[THROTTLE_OPS_TOTAL], 100);
	cr_expect_eq(e->throttle.burst[THROTTLE_OPS_TOTAL], 1);
	cr_expect_eq(e->key_line[EXPORT_KEY_BPS_READ_LIMIT], 3);
	cr_expect_eq(e->key_line[EXPORT_KEY_IOPS_BURST], 7);
}

Test(config, file_throttle_value_that_is_not_a_number_is_an_error)
{
	conf_fails("[export data]\npath = /srv\nbps_limit = 10 MiB\n", 3,
		   "[export data] bps_limit: '10 MiB' is not a number (accepted: "
		   "1..1099511627776)");
}

Test(config, file_throttle_burst_of_0_is_an_error)
{
	conf_fails("[export data]\npath = /srv\nbps_limit = 1000\nbps_burst = 0\n", 4,
		   "[export data] bps_burst: 0 out of range (accepted: 1..4294967296)");
}

Test(config, file_throttle_key_set_twice_is_an_error)
{
	conf_fails("[export data]\npath = /srv\niops_limit = 1\niops_limit = 2\n", 4,
		   "[export data] iops_limit: already set at line 3 (accepted: one value)");
}

/* Parse text as a config file that must parse, then validate it. */
static int validate_conf(const char *text)
{
	cr_assert_eq(parse_conf(text), 0, "%s", captured(&err));
	return config_validate(&cfg, err.f);
}

Test(config, validate_refuses_total_and_read_bps_limits_like_qemu)
{
	cr_expect_eq(validate_conf("[export data]\npath = /\nbps_limit = 100\n"
				   "bps_read_limit = 10\n"),
		     1);
	expect_conf_error(4, "[export data] bps_read_limit: cannot be used together with "
			      "bps_limit (accepted: bps_limit for reads and writes together, or "
			      "bps_read_limit and bps_write_limit apart)");
}

Test(config, validate_refuses_total_iops_with_each_direction_naming_each_line)
{
	cr_expect_eq(validate_conf("[export data]\npath = /\niops_write_limit = 5\n"
				   "iops_read_limit = 5\niops_limit = 10\n"),
		     2);
	char *want;
	cr_assert_neq(asprintf(&want,
			       "%s:4: [export data] iops_read_limit: cannot be used together with "
			       "iops_limit (accepted: iops_limit for reads and writes together, or "
			       "iops_read_limit and iops_write_limit apart)\n"
			       "%s:3: [export data] iops_write_limit: cannot be used together with "
			       "iops_limit (accepted: iops_limit for reads and writes together, or "
			       "iops_read_limit and iops_write_limit apart)\n",
			       conf_path, conf_path),
		      -1);
	cr_expect_str_eq(captured(&err), want);
	free(want);
}

Test(config, validate_refuses_total_and_write_limits_from_the_command_line)
{
	cr_expect_eq(load(NULL, "-e", "/,name=x,bps_write_limit=1,bps_limit=2", NULL), -1);
	cr_expect_str_eq(captured(&err),
			 "command line: -e x: bps_write_limit: cannot be used together with "
			 "bps_limit (accepted: bps_limit for reads and writes together, or "
			 "bps_read_limit and bps_write_limit apart)\n");
}

Test(config, validate_refuses_a_burst_without_its_limit)
{
	cr_expect_eq(validate_conf("[export data]\npath = /\nbps_read_limit = 100\n"
				   "bps_burst = 10\n"),
		     1);
	expect_conf_error(4, "[export data] bps_burst: set without bps_limit (accepted: the "
			      "burst of a limit that is set)");
}

Test(config, validate_refuses_a_direction_burst_beside_a_total_limit)
{
	cr_expect_eq(validate_conf("[export data]\npath = /\niops_limit = 100\n"
				   "iops_write_burst = 10\n"),
		     1);
	expect_conf_error(4, "[export data] iops_write_burst: set without iops_write_limit "
			      "(accepted: the burst of a limit that is set)");
}

Test(config, validate_accepts_bytes_and_ops_limits_of_different_directions)
{
	/* Total bytes with per-direction ops: the rule is per unit. */
	cr_expect_eq(validate_conf("[export data]\npath = /\nbps_limit = 100\nbps_burst = 1\n"
				   "iops_read_limit = 5\niops_write_limit = 6\n"
				   "iops_write_burst = 600\n"),
		     0, "%s", captured(&err));
	cr_expect_str_empty(captured(&err));
}

Test(config, check_flag_prints_throttle_keys_of_a_command_line_export)
{
	cr_assert_eq(load(NULL, "-n", "-e",
			  "/,name=r,iops_limit=7,bps_write_limit=9,bps_write_burst=3", NULL),
		     1, "%s", captured(&err));
	cr_expect(strstr(captured(&out),
			 "\nreadonly = no\n"
			 "bps_write_limit = 9\n"
			 "bps_write_burst = 3\n"
			 "iops_limit = 7\n"
			 "# iops_burst: not set; a tenth of a second at iops_limit\n"),
		  "%s", captured(&out));
}

Test(config, xml_filesystem_has_no_throttle_to_import)
{
	static const struct throttle_conf none;

	/* libvirt's <filesystem> has no iotune: only -e and the file set limits. */
	cr_assert_eq(parse_xml("<domain><devices><filesystem><source dir='/a'/><target dir='a'/>"
			       "</filesystem></devices></domain>"),
		     0, "%s", captured(&err));
	cr_assert_eq(cfg.nexports, 1);
	cr_expect_eq(memcmp(&cfg.exports[0].throttle, &none, sizeof(none)), 0);
}

/* ---- listen addresses ------------------------------------------------ */

static struct listen_addr addr;

static void listen_teardown(void)
{
	listen_addr_free(&addr);
	teardown();
}

TestSuite(listen, .init = setup, .fini = listen_teardown);

/* Parse text into addr, expecting success. */
static const struct listen_addr *parse_ok(const char *text)
{
	char msg[256] = "";

	listen_addr_free(&addr);
	cr_assert_eq(listen_addr_parse(&addr, text, msg, sizeof(msg)), 0, "'%s': %s", text, msg);
	cr_expect_str_eq(addr.text, text, "the text is kept as written");
	return &addr;
}

/* Parse text, expecting -EINVAL with problem and the accepted forms, an
 * empty addr, and the same refusal from config_add_listen(). */
static void parse_refused(const char *text, const char *problem)
{
	char msg[256] = "", *want;

	listen_addr_free(&addr);
	cr_expect_eq(listen_addr_parse(&addr, text, msg, sizeof(msg)), -EINVAL, "'%s'", text);
	cr_assert_neq(asprintf(&want, "%s (accepted: unix:PATH, tcp:HOST:PORT, vsock:[CID:]PORT[,allow=CIDS], stdio)", problem),
		      -1);
	cr_expect_str_eq(msg, want, "'%s'", text);
	free(want);
	cr_expect_eq(addr.kind, 0);
	cr_expect_null(addr.text);
	cr_expect_eq(config_add_listen(&cfg, text), -EINVAL);
	cr_expect_eq(cfg.nlisten, 0, "a refused address is not appended");
}

Test(listen, stdio_parses_to_the_stdio_kind)
{
	const struct listen_addr *a = parse_ok("stdio");

	cr_expect_eq(a->kind, LISTEN_STDIO);
	cr_expect_null(a->path);
	cr_expect_null(a->host);
	cr_expect_eq(a->port, 0);
}

Test(listen, unix_parses_to_its_socket_path)
{
	const struct listen_addr *a = parse_ok("unix:/run/ninepd.sock");

	cr_expect_eq(a->kind, LISTEN_UNIX);
	cr_expect_str_eq(a->path, "/run/ninepd.sock");
	cr_expect_null(a->host);
}

Test(listen, unix_path_may_be_relative_as_bind_takes_it)
{
	cr_expect_str_eq(parse_ok("unix:ninepd.sock")->path, "ninepd.sock");
}

Test(listen, unix_path_may_have_107_bytes_but_not_108)
{
	char text[5 + 109] = "unix:/";

	memset(text + 6, 'a', 106);
	cr_expect_eq(strlen(parse_ok(text)->path), 107);
	text[5 + 107] = 'a';
	parse_refused(text, "socket path longer than 107 bytes");
}

Test(listen, unix_refuses_an_empty_path)
{
	parse_refused("unix:", "empty socket path");
}

Test(listen, tcp_parses_an_ipv4_host_and_port)
{
	const struct listen_addr *a = parse_ok("tcp:127.0.0.1:564");

	cr_expect_eq(a->kind, LISTEN_TCP);
	cr_expect_str_eq(a->host, "127.0.0.1");
	cr_expect_eq(a->port, 564);
	cr_expect_null(a->path);
}

Test(listen, tcp_host_may_be_a_name)
{
	const struct listen_addr *a = parse_ok("tcp:example.org:65535");

	cr_expect_str_eq(a->host, "example.org");
	cr_expect_eq(a->port, 65535);
}

Test(listen, tcp_ipv6_host_loses_its_brackets)
{
	const struct listen_addr *a = parse_ok("tcp:[::1]:564");

	cr_expect_str_eq(a->host, "::1");
	cr_expect_eq(a->port, 564);
	cr_expect_str_eq(parse_ok("tcp:[fe80::1%eth0]:1")->host, "fe80::1%eth0");
}

Test(listen, tcp_empty_host_means_any_address)
{
	const struct listen_addr *a = parse_ok("tcp::564");

	cr_expect_str_eq(a->host, "");
	cr_expect_eq(a->port, 564);
}

Test(listen, tcp_port_may_have_leading_zeros_as_getaddrinfo_takes_them)
{
	cr_expect_eq(parse_ok("tcp:localhost:00564")->port, 564);
}

Test(listen, tcp_host_may_have_255_bytes_but_not_256)
{
	char text[4 + 256 + 3 + 1] = "tcp:";

	memset(text + 4, 'h', 255);
	strcpy(text + 4 + 255, ":1");
	cr_expect_eq(strlen(parse_ok(text)->host), 255);
	memset(text + 4, 'h', 256);
	strcpy(text + 4 + 256, ":1");
	parse_refused(text, "host longer than 255 bytes");
}

Test(listen, tcp_refuses_a_missing_port)
{
	parse_refused("tcp:localhost", "expected tcp:HOST:PORT");
	parse_refused("tcp:", "expected tcp:HOST:PORT");
}

Test(listen, tcp_refuses_an_empty_port)
{
	parse_refused("tcp:localhost:", "port is not a number from 1 to 65535");
}

Test(listen, tcp_refuses_port_zero)
{
	parse_refused("tcp:localhost:0", "port is not a number from 1 to 65535");
}

Test(listen, tcp_refuses_port_65536_and_beyond)
{
	parse_refused("tcp:localhost:65536", "port is not a number from 1 to 65535");
	parse_refused("tcp:localhost:18446744073709551617", "port is not a number from 1 to 65535");
}

Test(listen, tcp_refuses_a_service_name_or_sign_for_the_port)
{
	parse_refused("tcp:localhost:ninep", "port is not a number from 1 to 65535");
	parse_refused("tcp:localhost:+564", "port is not a number from 1 to 65535");
	parse_refused("tcp:localhost:-1", "port is not a number from 1 to 65535");
	parse_refused("tcp:localhost:564 ", "port is not a number from 1 to 65535");
}

Test(listen, tcp_refuses_an_unbracketed_ipv6_host)
{
	parse_refused("tcp:::1:564", "an IPv6 host must be in brackets: tcp:[IPV6]:PORT");
}

Test(listen, tcp_refuses_a_bracket_not_followed_by_the_port)
{
	parse_refused("tcp:[::1]564", "expected tcp:[IPV6]:PORT");
	parse_refused("tcp:[::1]", "expected tcp:[IPV6]:PORT");
	parse_refused("tcp:[::1:564", "expected tcp:[IPV6]:PORT");
}

Test(listen, tcp_refuses_empty_brackets)
{
	parse_refused("tcp:[]:564", "expected tcp:[IPV6]:PORT");
}

Test(listen, unknown_kinds_are_refused)
{
	parse_refused("vsocket:3:564", "unknown address type");
	parse_refused("udp:127.0.0.1:564", "unknown address type");
	parse_refused("STDIO", "unknown address type");
	parse_refused("", "unknown address type");
}

/* ---- vsock: [CID:]PORT and the allow list ---- */

Test(listen, vsock_port_alone_binds_every_local_cid)
{
	const struct listen_addr *a = parse_ok("vsock:5640");

	cr_expect_eq(a->kind, LISTEN_VSOCK);
	cr_expect_eq(a->cid, LISTEN_CID_ANY);
	cr_expect_eq(a->port, 5640);
	cr_expect_eq(a->nallow, 0, "no allow list: every peer");
	cr_expect_null(a->allow);
	cr_expect_null(a->path);
	cr_expect_null(a->host);
}

Test(listen, vsock_cid_and_port_bind_that_cid)
{
	const struct listen_addr *a = parse_ok("vsock:2:5640");

	cr_expect_eq(a->cid, 2);
	cr_expect_eq(a->port, 5640);
	cr_expect_eq(parse_ok("vsock:1:1")->cid, 1, "CID 1: vsock_loopback");
	cr_expect_eq(parse_ok("vsock:0:1")->cid, 0);
	cr_expect_eq(parse_ok("vsock:00003:00564")->port, 564, "leading zeros, as for tcp");
}

Test(listen, vsock_any_and_minus_one_mean_every_local_cid)
{
	cr_expect_eq(parse_ok("vsock:any:5640")->cid, LISTEN_CID_ANY);
	cr_expect_eq(parse_ok("vsock:-1:5640")->cid, LISTEN_CID_ANY);
	cr_expect_eq(parse_ok("vsock:4294967295:5640")->cid, LISTEN_CID_ANY,
		     "VMADDR_CID_ANY in decimal");
}

Test(listen, vsock_port_goes_up_to_4294967294)
{
	cr_expect_eq(parse_ok("vsock:4294967294")->port, 4294967294u);
	cr_expect_eq(parse_ok("vsock:3:1")->port, 1);
}

Test(listen, vsock_refuses_port_0_and_vmaddr_port_any)
{
	static const char *const bad[] = {
		"vsock:0", "vsock:4294967295", "vsock:99999999999", "vsock:", "vsock:3:",
		"vsock:+1", "vsock:-1", "vsock:1 ", "vsock:port", "vsock:3:0",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		parse_refused(bad[i], "port is not a number from 1 to 4294967294");
}

Test(listen, vsock_refuses_a_cid_that_is_not_a_number_any_or_minus_1)
{
	static const char *const bad[] = {
		"vsock:x:1", "vsock::1", "vsock:4294967296:1", "vsock:ANY:1", "vsock:-2:1", "vsock: 3:1",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		parse_refused(bad[i], "CID is not a number from 0 to 4294967295, any or -1");
	parse_refused("vsock:1:2:3", "expected vsock:PORT or vsock:CID:PORT");
}

Test(listen, vsock_allow_takes_cids_and_ranges_joined_by_plus)
{
	const struct listen_addr *a = parse_ok("vsock:5640,allow=3+4+10-19");

	cr_expect_eq(a->cid, LISTEN_CID_ANY);
	cr_expect_eq(a->port, 5640);
	cr_assert_eq(a->nallow, 3);
	cr_expect(a->allow[0].first == 3 && a->allow[0].last == 3);
	cr_expect(a->allow[1].first == 4 && a->allow[1].last == 4);
	cr_expect(a->allow[2].first == 10 && a->allow[2].last == 19);

	a = parse_ok("vsock:2:5640,allow=3,allow=0-4294967294");
	cr_expect_eq(a->cid, 2);
	cr_assert_eq(a->nallow, 2, "allow may be given more than once");
	cr_expect(a->allow[1].first == 0 && a->allow[1].last == 4294967294u);
}

Test(listen, vsock_allow_refuses_what_is_not_a_peer_cid)
{
	static const char *const bad[] = {
		"vsock:1,allow=3+", "vsock:1,allow=+3", "vsock:1,allow=any", "vsock:1,allow=-1",
		"vsock:1,allow=4294967295", "vsock:1,allow=3-", "vsock:1,allow=-3", "vsock:1,allow=3++4",
		"vsock:1,allow= 3",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		parse_refused(bad[i], "allow= takes peer CIDs from 0 to 4294967294 and ranges "
				      "FIRST-LAST, joined by '+'");
	parse_refused("vsock:1,allow=", "allow= needs peer CIDs, as in allow=3+4 or allow=3-9");
	parse_refused("vsock:1,allow=9-3", "allow= range FIRST-LAST with LAST below FIRST");
}

Test(listen, vsock_refuses_unknown_options)
{
	parse_refused("vsock:1,deny=3", "unknown vsock option, allow=CIDS is the only one");
	parse_refused("vsock:1,", "unknown vsock option, allow=CIDS is the only one");
	parse_refused("vsock:1,allow=3,", "unknown vsock option, allow=CIDS is the only one");
}

Test(listen, vsock_options_do_not_apply_to_a_unix_path_with_a_comma)
{
	cr_expect_str_eq(parse_ok("unix:/run/a,allow=3")->path, "/run/a,allow=3");
}

Test(listen, file_vsock_options_stay_with_their_address)
{
	cr_assert_eq(parse_conf("[server]\n"
				"listen = vsock:5640, allow=3+4 , unix:/run/a.sock,vsock:1:7,allow=1\n"
				"listen = vsock:2:5641 ,allow=5,allow=6-7\n"),
		     0, "%s", captured(&err));
	cr_assert_eq(cfg.nlisten, 4);
	cr_expect_str_eq(cfg.listen[0], "vsock:5640,allow=3+4", "blanks around pieces go");
	cr_expect_eq(cfg.listen_addrs[0].nallow, 2);
	cr_expect_str_eq(cfg.listen[1], "unix:/run/a.sock");
	cr_expect_str_eq(cfg.listen[2], "vsock:1:7,allow=1");
	cr_expect_str_eq(cfg.listen[3], "vsock:2:5641,allow=5,allow=6-7");
	cr_expect_eq(cfg.listen_addrs[3].nallow, 2);
	cr_expect_eq(cfg.listen_origin[3].line, 3);
}

Test(listen, file_refuses_a_bad_vsock_address_naming_file_line_and_key)
{
	conf_fails("[server]\nlisten = stdio\nlisten = vsock:5640, allow=3-x\n", 3,
		   "[server] listen: 'vsock:5640,allow=3-x': allow= takes peer CIDs from 0 to "
		   "4294967294 and ranges FIRST-LAST, joined by '+' (accepted: unix:PATH, "
		   "tcp:HOST:PORT, vsock:[CID:]PORT[,allow=CIDS], stdio)");
	cr_expect_eq(cfg.nlisten, 1, "the good address before it stays");
}

Test(listen, command_line_refuses_a_bad_vsock_address_naming_the_option)
{
	cr_expect_eq(cmdline("-l", "vsock:0", NULL), -1);
	cr_expect_str_eq(captured(&err), "command line: -l 'vsock:0': port is not a number from 1 "
					 "to 4294967294 (accepted: unix:PATH, tcp:HOST:PORT, "
					 "vsock:[CID:]PORT[,allow=CIDS], stdio)\n");
}

Test(listen, cid_allow_list_without_entries_lets_every_peer_in)
{
	cr_expect(listen_cid_allowed(NULL, 0, 0));
	cr_expect(listen_cid_allowed(NULL, 0, 3));
	cr_expect(listen_cid_allowed(NULL, 0, LISTEN_CID_ANY));
}

Test(listen, cid_allow_list_lets_in_its_cids_and_ranges_and_nothing_else)
{
	const struct cid_range allow[] = {{3, 3}, {10, 19}, {4294967294u, 4294967294u}};
	const size_t n = sizeof(allow) / sizeof(allow[0]);
	static const uint32_t in[] = {3, 10, 11, 19, 4294967294u};
	static const uint32_t out[] = {0, 1, 2, 4, 9, 20, 4294967293u, LISTEN_CID_ANY};

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		cr_expect(listen_cid_allowed(allow, n, in[i]), "CID %u refused", in[i]);
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		cr_expect(!listen_cid_allowed(allow, n, out[i]), "CID %u let in", out[i]);
}

Test(listen, cid_allow_list_parsed_from_text_is_what_is_checked)
{
	const struct listen_addr *a = parse_ok("vsock:5640,allow=2+7-8");

	cr_expect(listen_cid_allowed(a->allow, a->nallow, 2));
	cr_expect(listen_cid_allowed(a->allow, a->nallow, 8));
	cr_expect(!listen_cid_allowed(a->allow, a->nallow, 3));
	cr_expect(!listen_cid_allowed(a->allow, a->nallow, 9));
}

Test(listen, command_line_refuses_a_bad_address_naming_the_option)
{
	cr_expect_eq(cmdline("-l", "stdio", "-l", "tcp:localhost", NULL), -1);
	cr_expect_str_eq(captured(&err), "command line: -l 'tcp:localhost': expected "
					 "tcp:HOST:PORT (accepted: unix:PATH, tcp:HOST:PORT, "
					 "vsock:[CID:]PORT[,allow=CIDS], stdio)\n");
}

Test(listen, file_refuses_a_bad_address_naming_file_line_and_key)
{
	conf_fails("[server]\nlisten = stdio, tcp:localhost:0\n", 2,
		   "[server] listen: 'tcp:localhost:0': port is not a number from 1 to 65535 "
		   "(accepted: unix:PATH, tcp:HOST:PORT, vsock:[CID:]PORT[,allow=CIDS], stdio)");
	cr_expect_eq(cfg.nlisten, 1, "the good address before it stays");
}

Test(listen, a_bad_address_in_the_file_fails_the_load)
{
	tmp_path(conf_path, sizeof(conf_path), "ninepd.conf");
	write_file(conf_path, "[server]\nlisten = unix:\n[export r]\npath = /\n");
	cr_expect_eq(load(NULL, "-c", conf_path, NULL), -1);
	cr_expect(strstr(captured(&err), ":2: [server] listen: 'unix:': empty socket path"), "%s",
		  captured(&err));
}

Test(listen, load_parses_every_address_of_the_file_and_the_command_line)
{
	tmp_path(conf_path, sizeof(conf_path), "ninepd.conf");
	write_file(conf_path, "[server]\nlisten = unix:/run/f.sock, tcp:[::1]:564\n"
			      "[export r]\npath = /\n");
	cr_assert_eq(load(NULL, "-c", conf_path, NULL), 0, "%s", captured(&err));
	cr_assert_eq(cfg.nlisten, 2);
	cr_expect_eq(cfg.listen_addrs[0].kind, LISTEN_UNIX);
	cr_expect_str_eq(cfg.listen_addrs[0].path, "/run/f.sock");
	cr_expect_eq(cfg.listen_addrs[1].kind, LISTEN_TCP);
	cr_expect_str_eq(cfg.listen_addrs[1].host, "::1");
	cr_expect_eq(cfg.listen_addrs[1].port, 564);
	cr_expect_eq(cfg.listen[1], cfg.listen_addrs[1].text, "listen[] is the same text");

	/* -l replaces the file's list, parsed as well. */
	cr_assert_eq(load(NULL, "-c", conf_path, "-l", "tcp::5640", "-l", "stdio", NULL), 0, "%s",
		     captured(&err));
	cr_assert_eq(cfg.nlisten, 2);
	cr_expect_eq(cfg.listen_addrs[0].kind, LISTEN_TCP);
	cr_expect_str_eq(cfg.listen_addrs[0].host, "");
	cr_expect_eq(cfg.listen_addrs[0].port, 5640);
	cr_expect_eq(cfg.listen_addrs[1].kind, LISTEN_STDIO);
	cr_expect_str_eq(cfg.listen[1], "stdio");
}

/* Validate cfg with one listen address added; return the error count. */
static int validate_listen(const char *text)
{
	valid_config();
	cr_assert_eq(config_add_listen(&cfg, text), 0);
	return config_validate(&cfg, err.f);
}

Test(config, validate_accepts_distinct_listen_addresses)
{
	static const char *const good[] = {
		"stdio", "unix:/run/ninepd.sock", "tcp:127.0.0.1:564", "tcp:[::1]:1",
		"tcp:example.org:65535", "tcp::564",
	};

	valid_config();
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert_eq(config_add_listen(&cfg, good[i]), 0);
	cr_expect_eq(config_validate(&cfg, err.f), 0, "%s", captured(&err));
}

Test(config, validate_refuses_stdio_twice)
{
	cr_assert_eq(config_add_listen(&cfg, "stdio"), 0);
	cr_expect_eq(validate_listen("stdio"), 1);
	cr_expect_str_eq(captured(&err), "command line: -l stdio given more than once (accepted: "
					 "at most one stdio)\n");
}

Test(config, validate_refuses_the_same_address_twice_naming_the_file_line)
{
	tmp_path(conf_path, sizeof(conf_path), "ninepd.conf");
	write_file(conf_path, "[server]\nlisten = tcp:h:1\nlisten = tcp:h:1\n[export r]\npath=/\n");
	cr_assert_eq(config_parse_file(&cfg, conf_path, err.f), 0);
	cr_expect_eq(config_validate(&cfg, err.f), 1);
	char *want;
	cr_assert_neq(asprintf(&want,
			       "%s:3: [server] listen: 'tcp:h:1' given twice (accepted: distinct "
			       "addresses)\n",
			       conf_path),
		      -1);
	cr_expect_str_eq(captured(&err), want);
	free(want);
}

Test(config, validate_refuses_two_vsock_listeners_on_one_port_and_cid)
{
	static const char *const pairs[][2] = {
		{"vsock:5640", "vsock:any:5640"},
		{"vsock:5640", "vsock:2:5640"},
		{"vsock:2:5640", "vsock:-1:5640"},
		{"vsock:5640,allow=3", "vsock:5640,allow=4"},
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char *want;

		config_free(&cfg);
		config_init(&cfg);
		cr_assert_eq(config_add_listen(&cfg, pairs[i][0]), 0);
		cr_expect_eq(validate_listen(pairs[i][1]), 1, "%s and %s", pairs[i][0], pairs[i][1]);
		cr_assert_neq(asprintf(&want,
				       "command line: -l '%s' binds the port of '%s' (accepted: "
				       "distinct addresses; a vsock port once per CID, or once for "
				       "every CID)\n",
				       pairs[i][1], pairs[i][0]),
			      -1);
		cr_expect_str_eq(captured(&err), want);
		free(want);
		capture_close(&err);
		capture_open(&err);
	}
}

Test(config, validate_accepts_a_vsock_port_on_two_cids_and_two_ports)
{
	valid_config();
	static const char *const good[] = {"vsock:1:5640", "vsock:2:5640", "vsock:5641",
					   "tcp::5640", "unix:/run/vsock_5640"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert_eq(config_add_listen(&cfg, good[i]), 0);
	cr_expect_eq(config_validate(&cfg, err.f), 0, "%s", captured(&err));
}

Test(config, validate_msize_bounds_are_4096_and_16_mib)
{
	valid_config();
	cfg.max_msize = 4096;
	cr_expect_eq(config_validate(&cfg, err.f), 0);
	cfg.max_msize = 16u << 20;
	cr_expect_eq(config_validate(&cfg, err.f), 0);
	cfg.max_msize = 4095;
	expect_invalid("command line: --msize: 4095 out of range (accepted: 4096..16777216)\n");
}

Test(config, validate_refuses_threads_above_256)
{
	valid_config();
	cfg.threads = 257;
	cfg.set |= 1u << SERVER_KEY_THREADS;
	expect_invalid("command line: --threads: 257 out of range (accepted: 1..256)\n");
}

Test(config, validate_zero_threads_means_default_unless_set)
{
	valid_config();
	cfg.threads = 0;
	cr_expect_eq(config_validate(&cfg, err.f), 0);
	cfg.set |= 1u << SERVER_KEY_THREADS;
	expect_invalid("command line: --threads: 0 out of range (accepted: 1..256)\n");
}

Test(config, validate_refuses_zero_connections)
{
	valid_config();
	cfg.max_conns = 0;
	expect_invalid("command line: [server] max_connections: 0 out of range (accepted: "
		       "1..4294967295)\n");
}

Test(config, validate_refuses_fewer_than_16_fids_naming_the_file_line)
{
	valid_config();
	cfg.max_fids = 15;
	cfg.origin[SERVER_KEY_MAX_FIDS].file = strdup("/etc/n.conf");
	cfg.origin[SERVER_KEY_MAX_FIDS].line = 4;
	expect_invalid("/etc/n.conf:4: [server] max_fids: 15 out of range (accepted: "
		       "16..4294967295)\n");
}

Test(config, validate_refuses_an_unknown_log_level)
{
	valid_config();
	cfg.log_level = (enum log_level)4;
	expect_invalid("command line: [server] log_level: unknown value 4 (accepted: error, "
		       "warn, info, debug)\n");
}

/* A uid that no passwd entry names, for the tests of numeric users. */
static uid_t unnamed_uid(void)
{
	for (uid_t uid = 4242; uid < 4342; uid++)
		if (!getpwuid(uid))
			return uid;
	cr_assert_fail("every uid from 4242 to 4341 has a passwd entry");
	return 0;
}

Test(config, lookup_user_by_name_gives_its_uid_and_primary_gid)
{
	struct passwd *pw = getpwnam("nobody");
	uid_t uid = 0;
	gid_t gid = 0;
	char msg[256] = "";

	cr_assert_not_null(pw, "this test needs a user 'nobody'");
	uid_t want_uid = pw->pw_uid;
	gid_t want_gid = pw->pw_gid;
	cr_assert_eq(config_lookup_user("nobody", &uid, &gid, msg, sizeof(msg)), 0, "%s", msg);
	cr_expect_eq(uid, want_uid);
	cr_expect_eq(gid, want_gid);
}

Test(config, lookup_user_by_uid_with_an_entry_takes_the_entry_gid)
{
	struct passwd *pw = getpwnam("nobody");
	char text[16], msg[256] = "";
	uid_t uid = 0;
	gid_t gid = 0;

	cr_assert_not_null(pw, "this test needs a user 'nobody'");
	uid_t want_uid = pw->pw_uid;
	gid_t want_gid = pw->pw_gid;
	snprintf(text, sizeof(text), "%u", (unsigned)want_uid);
	cr_assert_eq(config_lookup_user(text, &uid, &gid, msg, sizeof(msg)), 0, "%s", msg);
	cr_expect_eq(uid, want_uid);
	cr_expect_eq(gid, want_gid);
}

Test(config, lookup_user_by_uid_without_an_entry_uses_the_same_number_as_gid)
{
	uid_t want = unnamed_uid(), uid = 0;
	gid_t gid = 0;
	char text[16], msg[256] = "";

	snprintf(text, sizeof(text), "%u", (unsigned)want);
	cr_assert_eq(config_lookup_user(text, &uid, &gid, msg, sizeof(msg)), 0, "%s", msg);
	cr_expect_eq(uid, want);
	cr_expect_eq(gid, (gid_t)want);
}

Test(config, lookup_user_refuses_an_unknown_name)
{
	uid_t uid;
	gid_t gid;
	char msg[256] = "";

	cr_expect_eq(config_lookup_user("no-such-user-ninepd", &uid, &gid, msg, sizeof(msg)),
		     -ENOENT);
	cr_expect_str_eq(msg, "no user 'no-such-user-ninepd' (accepted: a user name, or a "
			      "numeric uid from 1 to 4294967294)");
	cr_expect_eq(config_lookup_user("12ab", &uid, &gid, msg, sizeof(msg)), -ENOENT,
		     "digits then letters are a name, and no user has it");
}

Test(config, lookup_user_refuses_root_by_name_and_by_uid_0)
{
	uid_t uid;
	gid_t gid;
	char msg[256] = "";

	cr_expect_eq(config_lookup_user("root", &uid, &gid, msg, sizeof(msg)), -EINVAL);
	cr_expect_str_eq(msg, "'root' is uid 0, which would drop nothing (accepted: a user other "
			      "than root)");
	cr_expect_eq(config_lookup_user("0", &uid, &gid, msg, sizeof(msg)), -EINVAL);
	cr_expect_str_eq(msg, "'0' is uid 0, which would drop nothing (accepted: a user other "
			      "than root)");
}

Test(config, lookup_user_refuses_a_uid_beyond_4294967294)
{
	uid_t uid;
	gid_t gid;
	char msg[256] = "";

	cr_expect_eq(config_lookup_user("4294967295", &uid, &gid, msg, sizeof(msg)), -EINVAL,
		     "(uid_t)-1 means 'unchanged' to setresuid");
	cr_expect_str_eq(msg, "uid 4294967295 out of range (accepted: a user name, or a numeric "
			      "uid from 1 to 4294967294)");
	cr_expect_eq(config_lookup_user("99999999999999999999999", &uid, &gid, msg, sizeof(msg)),
		     -EINVAL);
}

Test(config, validate_accepts_an_existing_user_and_an_unnamed_uid)
{
	char text[16];

	valid_config();
	cfg.user = strdup("nobody");
	cr_expect_eq(config_validate(&cfg, err.f), 0, "%s", captured(&err));
	free(cfg.user);
	snprintf(text, sizeof(text), "%u", (unsigned)unnamed_uid());
	cfg.user = strdup(text);
	cr_expect_eq(config_validate(&cfg, err.f), 0, "%s", captured(&err));
}

Test(config, validate_refuses_an_unknown_user_from_the_command_line)
{
	valid_config();
	cfg.user = strdup("no-such-user-ninepd");
	expect_invalid("command line: -u: no user 'no-such-user-ninepd' (accepted: a user name, or "
		       "a numeric uid from 1 to 4294967294)\n");
}

Test(config, validate_refuses_root_naming_the_file_line)
{
	char *want;

	tmp_path(conf_path, sizeof(conf_path), "ninepd.conf");
	write_file(conf_path, "[server]\nuser = root\n[export r]\npath = /\n");
	cr_assert_eq(config_parse_file(&cfg, conf_path, err.f), 0, "%s", captured(&err));
	cr_assert_neq(asprintf(&want,
			       "%s:2: [server] user: 'root' is uid 0, which would drop nothing "
			       "(accepted: a user other than root)\n",
			       conf_path),
		      -1);
	cr_expect_eq(config_validate(&cfg, err.f), 1);
	cr_expect_str_eq(captured(&err), want);
	free(want);
}

Test(config, validate_counts_every_error)
{
	struct export_conf *e = valid_config();

	e->multidevs = (enum multidevs_policy)9;
	cfg.max_fids = 1;
	cr_assert_eq(config_add_listen(&cfg, "stdio"), 0);
	cr_assert_eq(config_add_listen(&cfg, "stdio"), 0);
	cr_expect_eq(config_validate(&cfg, err.f), 3, "%s", captured(&err));
}

/* ---- config_print and -n ---------------------------------------------- */

Test(config, print_output_reads_back_as_the_same_configuration)
{
	struct capture again;

	cr_assert_eq(load(NULL, "-c", TEST_DATA "/good.conf", NULL), 0, "%s",
		     captured(&err));
	config_print(&cfg, out.f);
	tmp_path(conf_path, sizeof(conf_path), "printed.conf");
	write_file(conf_path, captured(&out));

	struct ninepd_config first = cfg;
	config_init(&cfg);
	cr_assert_eq(config_parse_file(&cfg, conf_path, err.f), 0, "%s", captured(&err));
	capture_open(&again);
	config_print(&cfg, again.f);
	/* Drop the header comments, which name the files read. */
	const char *a = strstr(captured(&out), "[server]");
	const char *b = strstr(captured(&again), "[server]");
	cr_assert(a && b);
	cr_expect_str_eq(b, a);
	config_free(&first);
	capture_close(&again);
}

Test(config, print_says_when_no_user_is_set)
{
	valid_config();
	config_print(&cfg, out.f);
	cr_expect(strstr(captured(&out), "max_fids = 65536\n# user: not set; the daemon keeps the "
					 "identity it starts with\n"),
		  "%s", captured(&out));
	cfg.user = strdup("4242");
	config_print(&cfg, out.f);
	cr_expect(strstr(captured(&out), "\nuser = 4242\n"), "%s", captured(&out));
}

Test(config, example_config_in_docs_parses_without_errors)
{
	cr_assert_eq(config_parse_file(&cfg, EXAMPLE_CONF, err.f), 0, "%s", captured(&err));
	cr_assert_eq(cfg.nexports, 3);
	cr_expect_str_eq(cfg.exports[0].name, "data");
	cr_expect_eq(cfg.exports[0].multidevs, MULTIDEVS_REMAP);
	cr_expect_str_eq(cfg.exports[1].name, "media");
	cr_expect(cfg.exports[1].readonly);
	cr_expect_str_eq(cfg.exports[2].name, "container");
	cr_expect_eq(cfg.exports[2].uid_map.n, 1);
	cr_expect_eq(cfg.exports[2].gid_map.n, 1);
	cr_expect_str_eq(cfg.exports[2].xattrmap, ":map:security.selinux:trusted.ninepd.:");
}

Test(config, check_flag_on_good_file_prints_config_and_configuration_ok)
{
	cr_assert_eq(load(NULL, "-n", "-c", TEST_DATA "/good.conf", NULL), 1, "%s",
		     captured(&err));
	cr_expect_str_eq(captured(&err), "configuration OK\n");
	cr_expect_str_eq(captured(&out),
			 "# ninepd effective configuration\n"
			 "# read from " TEST_DATA "/good.conf\n"
			 "\n"
			 "[server]\n"
			 "listen = unix:/run/ninepd/test.sock\n"
			 "listen = tcp:127.0.0.1:5640\n"
			 "listen = stdio\n"
			 "max_msize = 65536\n"
			 "threads = 4\n"
			 "log_level = warn\n"
			 "max_connections = 8\n"
			 "max_fids = 128\n"
			 "user = nobody\n"
			 "max_open_fds = 1000\n"
			 "rlimit_nofile = 4096\n"
			 "# sandbox: not set; namespace when started as root, else none\n"
			 "seccomp = kill\n"
			 "\n"
			 "[export data]\n"
			 "path = " TEST_DATA "/.\n"
			 "multidevs = remap\n"
			 "security_model = mapped-xattr\n"
			 "readonly = yes\n"
			 "squash_uid = 1000\n"
			 "squash_gid = 100\n"
			 "remap_state = " TEST_DATA "/../../good-conf.remap\n"
			 "xattrmap = :map:security.selinux:trusted.ninepd.:\n"
			 "#   rules, first match wins; a name no rule matches is refused:\n"
			 "#   :prefix:all:security.selinux:trusted.ninepd.:\n"
			 "#   :bad:all:trusted.ninepd.:security.selinux:\n"
			 "#   :ok:all:::\n"
			 "bps_limit = 10485760\n"
			 "bps_burst = 1048576\n"
			 "iops_read_limit = 100\n"
			 "# iops_read_burst: not set; a tenth of a second at iops_read_limit\n"
			 "iops_write_limit = 50\n"
			 "iops_write_burst = 5\n"
			 "\n"
			 "[export parent]\n"
			 "path = " TEST_DATA "/..\n"
			 "multidevs = forbid\n"
			 "security_model = passthrough\n"
			 "readonly = no\n"
			 "translate_uid = map:0:100000:65534\n"
			 "#   guest 0..65533 <-> host 100000..165533\n"
			 "translate_uid = forbid-guest:65534:1\n"
			 "#   guest 65534..65534 refused (EPERM)\n"
			 "translate_uid = map:65535:165535:1\n"
			 "#   guest 65535..65535 <-> host 165535..165535\n"
			 "#   other guest ids refused (EPERM); other host ids shown as 65534\n"
			 "translate_gid = map:0:100000:65536\n"
			 "#   guest 0..65535 <-> host 100000..165535\n"
			 "#   other guest ids refused (EPERM); other host ids shown as 65534\n");
}

Test(config, check_flag_on_bad_file_prints_errors_and_fails)
{
	cr_expect_eq(load(NULL, "-n", "-c", TEST_DATA "/bad.conf", NULL), -1);
	cr_expect_str_empty(captured(&out));
	cr_expect_str_eq(captured(&err),
			 TEST_DATA "/bad.conf:2: [server] threads: 0 out of range (accepted: "
				   "1..256)\n" TEST_DATA
				   "/bad.conf:6: [export data] multidevs: unknown value 'foo' "
				   "(accepted: remap, forbid, warn, default)\n");
}

Test(config, check_flag_names_the_line_of_a_bad_xattrmap)
{
	char *want;

	tmp_path(conf_path, sizeof(conf_path), "ninepd.conf");
	write_file(conf_path, "[export x]\npath = .\n\nxattrmap = :ok:all:: :map:a:b:\n");
	cr_expect_eq(load(NULL, "-n", "-c", conf_path, NULL), -1);
	cr_assert_neq(asprintf(&want,
			       "%s:4: [export x] xattrmap: too many fields in rule 1 ':ok:all:: "
			       ":map:a:b:' (accepted: :type:scope:key:prepend: or "
			       ":map:key:prepend:, with any one printable character as the "
			       "separator in place of ':')\n",
			       conf_path),
		      -1);
	cr_expect_str_eq(captured(&err), want);
	free(want);
}

Test(config, check_flag_reports_validation_errors_after_a_clean_parse)
{
	char *want;

	tmp_path(conf_path, sizeof(conf_path), "ninepd.conf");
	write_file(conf_path, "[export missing]\npath = does-not-exist\n");
	cr_expect_eq(load(NULL, "-n", "-c", conf_path, NULL), -1);
	cr_expect_str_empty(captured(&out));
	cr_assert_neq(asprintf(&want,
			       "%s:2: [export missing] path: '%s/does-not-exist': No such file or "
			       "directory (accepted: an existing directory, as an absolute path)\n",
			       conf_path, tmpdir),
		      -1);
	cr_expect_str_eq(captured(&err), want);
	free(want);
}

Test(config, load_without_check_flag_prints_nothing_and_continues)
{
	cr_expect_eq(load(NULL, "-c", TEST_DATA "/good.conf", NULL), 0, "%s", captured(&err));
	cr_expect_str_empty(captured(&out));
	cr_expect_str_empty(captured(&err));
	cr_expect_not(cfg.check_only);
}

Test(config, load_help_asks_to_exit_0_without_reading_files)
{
	cr_expect_eq(load(NULL, "-c", "/nonexistent.conf", "--help", NULL), 1);
	cr_expect_str_empty(captured(&err));
}

Test(config, load_usage_error_asks_to_exit_1)
{
	cr_expect_eq(load(NULL, "--bogus", NULL), -1);
	cr_expect_str_eq(captured(&err), "ninepd: unknown option '--bogus'\nTry 'ninepd --help' "
					 "for more information.\n");
}

/* ---- sandbox and seccomp (issue 18) ------------------------------------ */

Test(config, sandbox_and_seccomp_default_to_unset_and_kill)
{
	cr_assert_eq(cmdline(NULL), 0);
	cr_expect_eq(cfg.sandbox, SANDBOX_DEFAULT, "namespace as root, decided at start");
	cr_expect_eq(cfg.seccomp, SECCOMP_FILTER_KILL);
}

Test(config, cmdline_sets_sandbox_and_seccomp)
{
	cr_assert_eq(cmdline("--sandbox", "chroot", "--seccomp=log", NULL), 0, "%s",
		     captured(&err));
	cr_expect_eq(cfg.sandbox, SANDBOX_CHROOT);
	cr_expect_eq(cfg.seccomp, SECCOMP_FILTER_LOG);
	cr_expect(cfg.set & (1u << SERVER_KEY_SANDBOX));
	cr_expect(cfg.set & (1u << SERVER_KEY_SECCOMP));
}

Test(config, cmdline_refuses_an_unknown_sandbox_naming_the_accepted_values)
{
	cr_assert_eq(cmdline("--sandbox", "jail", NULL), -1);
	expect_usage_error("--sandbox: unknown value 'jail' (accepted: namespace, chroot, none)");
}

Test(config, cmdline_refuses_an_unknown_seccomp_naming_the_accepted_values)
{
	cr_assert_eq(cmdline("--seccomp", "trap", NULL), -1);
	expect_usage_error("--seccomp: unknown value 'trap' (accepted: kill, log, none)");
}

Test(config, file_sets_sandbox_and_seccomp)
{
	cr_assert_eq(parse_conf("[server]\nsandbox = none\nseccomp = none\n"), 0, "%s",
		     captured(&err));
	cr_expect_eq(cfg.sandbox, SANDBOX_NONE);
	cr_expect_eq(cfg.seccomp, SECCOMP_FILTER_NONE);
}

Test(config, file_refuses_an_unknown_sandbox_naming_file_line_and_values)
{
	cr_assert_lt(parse_conf("[server]\nthreads = 2\nsandbox = container\n"), 0);
	expect_conf_error(3, "[server] sandbox: unknown value 'container' (accepted: namespace, "
			     "chroot, none)");
}

Test(config, the_command_line_overrides_the_files_sandbox)
{
	tmp_path(conf_path, sizeof(conf_path), "ninepd.conf");
	write_file(conf_path, "[server]\nsandbox = none\nseccomp = log\n[export root]\npath = /\n");
	cr_assert_eq(load(NULL, "-c", conf_path, "--sandbox", "chroot", NULL), 0, "%s",
		     captured(&err));
	cr_expect_eq(cfg.sandbox, SANDBOX_CHROOT);
	cr_expect_eq(cfg.seccomp, SECCOMP_FILTER_LOG, "the file's, not overridden");
}
