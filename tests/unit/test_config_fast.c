/*
 * test_config_fast.c: fast_interval and fast_for (docs/CONTRACT.md
 * section 2) through config_load() on real files: their defaults, `off`,
 * the override of [defaults] and of a cluster, the errors with FILE:LINE
 * and key, and what --check prints. (test_config.c holds the other keys.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static char tmpdir[] = "/tmp/test_config_fast.XXXXXX";
static char path[256];
static char err[1024];

static struct config *
load(const char *text)
{
	FILE *f;

	snprintf(path, sizeof(path), "%s/t.conf", tmpdir);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
	return config_load(path, err, sizeof(err));
}

static void
test_values(void)
{
	static const struct {
		const char *text;
		int64_t fast, fast_for;		/* daemon-wide */
		int64_t c_fast, c_fast_for;	/* cluster a's */
	} cases[] = {
		{ "[cluster a]\nhost = h\n", 1000, 600000, 1000, 600000 },
		{ "[sslhistd]\nfast_interval = off\n[cluster a]\nhost = h\n", 0, 600000, 0, 600000 },
		{ "[sslhistd]\nfast_interval = 200ms\nfast_for = 2s\n[cluster a]\nhost = h\n",
		  200, 2000, 200, 2000 },
		{ "[defaults]\nfast_interval = 5s\n[cluster a]\nhost = h\n", 1000, 600000, 5000,
		  600000 },
		{ "[defaults]\nfast_interval = 5s\n[cluster a]\nhost = h\nfast_interval = off\n"
		  "fast_for = 1h\n", 1000, 600000, 0, 3600000 },
		{ "[sslhistd]\nfast_interval = off\n[cluster a]\nhost = h\nfast_interval = 100ms\n",
		  0, 600000, 100, 600000 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cfg = load(cases[i].text);

		CHECK(cfg != NULL);
		if (cfg == NULL) {
			fprintf(stderr, "  case %zu: %s\n", i, err);
			continue;
		}
		CHECK_INT(cfg->fast_interval_ms, cases[i].fast);
		CHECK_INT(cfg->fast_for_ms, cases[i].fast_for);
		CHECK_INT(cfg->nclusters, 1);
		CHECK_INT(cfg->clusters[0].fast_interval_ms, cases[i].c_fast);
		CHECK_INT(cfg->clusters[0].fast_for_ms, cases[i].c_fast_for);
		config_free(cfg);
	}
}

static void
test_errors(void)
{
	static const struct { const char *text; const char *want; } cases[] = {
		{ "[sslhistd]\nfast_interval = 50ms\n", ":2: key 'fast_interval': 50ms must be at "
		  "least 100ms" },
		{ "[sslhistd]\nfast_interval = never\n", ":2: key 'fast_interval': bad duration" },
		{ "[sslhistd]\nfast_for = 0s\n", ":2: key 'fast_for': 0s must be above 0" },
		{ "[cluster a]\nhost = h\nfast_interval = OFF\n", ":3: key 'fast_interval': bad "
		  "duration" },
		{ "[defaults]\nfast_for = soon\n", ":2: key 'fast_for': bad duration" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cfg = load(cases[i].text);

		CHECK(cfg == NULL);
		config_free(cfg);
		if (strstr(err, cases[i].want) == NULL || strncmp(err, path, strlen(path)) != 0)
			fprintf(stderr, "  case %zu: got \"%s\", want \"%s\"\n", i, err,
				cases[i].want);
		CHECK(strstr(err, cases[i].want) != NULL);
		CHECK(strncmp(err, path, strlen(path)) == 0);
	}
}

static void
test_print(void)
{
	struct config *cfg = load("[sslhistd]\nfast_interval = 200ms\nfast_for = 2s\n"
				  "[cluster a]\nhost = h\n[cluster b]\nhost = h\n"
				  "fast_interval = off\n");
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	CHECK(cfg != NULL && f != NULL);
	if (cfg == NULL || f == NULL)
		return;
	config_print(cfg, f);
	fclose(f);
	CHECK(strstr(text, "cluster a\n") != NULL);
	CHECK(strstr(text, "  fast_interval 200ms, fast_for 2s\n") != NULL);
	CHECK(strstr(text, "  fast_interval off\n") != NULL);
	CHECK(strstr(text, "  fast_interval off\n") > strstr(text, "cluster b\n"));
	free(text);
	config_free(cfg);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_values();
	test_errors();
	test_print();
	unlink(path);
	rmdir(tmpdir);
	return check_done();
}
