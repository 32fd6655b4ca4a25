/*
 * listen.c: parsing `metrics_listen` (listen.h). The address is checked
 * with inet_pton, so what the config accepts is exactly what bind() takes.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "parse.h"

const char *
listen_parse(const char *s, struct listen_addr *out)
{
	const char *colon, *host = s;
	size_t hlen;
	long port;
	unsigned char bin[16];
	char tmp[64];

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL)
			return "an IPv6 address needs its closing ']'";
		if (close[1] != ':')
			return "expected ':PORT' after ']'";
		host = s + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return "expected ADDRESS:PORT";
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen) != NULL)
			return "write an IPv6 address in brackets: [ADDRESS]:PORT";
	}
	if (hlen == 0)
		return "empty address (write 127.0.0.1, [::1], localhost or *)";
	if (hlen >= sizeof(tmp))
		return "address too long";
	memcpy(tmp, host, hlen);
	tmp[hlen] = '\0';
	if (parse_int_range(colon + 1, 1, 65535, &port) != NULL)
		return "the port must be a number from 1 to 65535";
	if (strcmp(tmp, "*") == 0 && s[0] != '[') {
		strcpy(out->addr, "0.0.0.0");
	} else if (strcmp(tmp, "localhost") == 0 && s[0] != '[') {
		strcpy(out->addr, "127.0.0.1");
	} else if (s[0] == '[' ? inet_pton(AF_INET6, tmp, bin) == 1 :
		   inet_pton(AF_INET, tmp, bin) == 1) {
		strcpy(out->addr, tmp);
	} else {
		return "not an IP address (a host name is not resolved: write "
		       "127.0.0.1, [::1], localhost or *)";
	}
	out->port = (int)port;
	return NULL;
}

const char *
listen_format(const struct listen_addr *a, char *buf, unsigned long len)
{
	if (strchr(a->addr, ':') != NULL)
		snprintf(buf, len, "[%s]:%d", a->addr, a->port);
	else
		snprintf(buf, len, "%s:%d", a->addr, a->port);
	return buf;
}
