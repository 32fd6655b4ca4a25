/*
 * pollrec.c: freeing and sizing poll records (pollrec.h).
 */
#include <stdlib.h>
#include <string.h>

#include "pollrec.h"

void
client_key_free(struct client_key *k)
{
	free(k->database);
	free(k->user);
	free(k->application);
	free(k->client_addr);
	free(k->tls_version);
	free(k->cipher);
	free(k->client_dn);
	free(k->issuer_dn);
}

void
instance_facts_free(struct instance_facts *f)
{
	if (f == NULL)
		return;
	free(f->server_version);
	free(f->force_ssl);
	free(f->cert.subject);
	free(f->cert.issuer);
	free(f->cert.sha256);
	free(f);
}

void
poll_record_free(struct poll_record *r)
{
	if (r == NULL)
		return;
	free(r->error);
	instance_facts_free(r->facts);
	for (size_t i = 0; i < r->nclients; i++) {
		client_key_free(&r->clients[i].key);
		free(r->clients[i].client_hostname);
	}
	free(r->clients);
	free(r->new_sessions);
	free(r->ended_sessions);
	for (size_t i = 0; i < r->ncounters; i++) {
		free(r->counters[i].database);
		free(r->counters[i].stats_reset);
	}
	free(r->counters);
	free(r->dropped);
	free(r);
}

static size_t
slen(const char *v)
{
	return v ? strlen(v) + 1 : 0;
}

size_t
poll_record_size(const struct poll_record *r)
{
	const struct client_key *k;
	size_t n;

	if (r == NULL)
		return 0;
	n = sizeof *r + slen(r->error);
	if (r->facts != NULL)
		n += sizeof *r->facts + slen(r->facts->server_version) + slen(r->facts->force_ssl) +
		     slen(r->facts->cert.subject) + slen(r->facts->cert.issuer) +
		     slen(r->facts->cert.sha256);
	n += r->nclients * sizeof *r->clients;
	for (size_t i = 0; i < r->nclients; i++) {
		k = &r->clients[i].key;
		n += slen(k->database) + slen(k->user) + slen(k->application) +
		     slen(k->client_addr) + slen(k->tls_version) + slen(k->cipher) +
		     slen(k->client_dn) + slen(k->issuer_dn) + slen(r->clients[i].client_hostname);
	}
	n += (r->n_new + r->n_ended) * sizeof(struct session_ref);
	n += r->ncounters * sizeof *r->counters + r->ndropped * sizeof *r->dropped;
	for (size_t i = 0; i < r->ncounters; i++)
		n += slen(r->counters[i].database) + slen(r->counters[i].stats_reset);
	return n;
}
