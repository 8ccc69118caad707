/* consumer_kind.c: the consumer kinds a manifest may name, and what they
 * share (consumer_kind.h). */
#include "desired/consumer_kind.h"

#include <stdio.h>
#include <string.h>

static const struct consumer_kind *const kinds[ROTOR_CONSUMER__COUNT] = {
    [ROTOR_CONSUMER_HEROKU] = &rotor_consumer_kind_heroku,
    [ROTOR_CONSUMER_GITHUB] = &rotor_consumer_kind_github,
    [ROTOR_CONSUMER_ENVFILE] = &rotor_consumer_kind_envfile,
};

const struct consumer_kind *rotor_consumer_kind_of(enum rotor_consumer_kind kind)
{
	return (unsigned)kind < ROTOR_CONSUMER__COUNT ? kinds[kind] : &rotor_consumer_kind_envfile;
}

const char *rotor_consumer_kind_name(enum rotor_consumer_kind kind)
{
	return rotor_consumer_kind_of(kind)->name;
}

struct rotor_pos rotor_ypos(struct yctx *c, const struct ydoc_node *n)
{
	struct rotor_pos p = {c->file, n ? n->line : 0, n ? n->col : 0};
	return p;
}

void rotor_check_connection(struct rotor_diags *d, const struct rotor_config *cfg,
                            const struct rotor_pos *pos, const char *name, const char *want,
                            const char *field, int found)
{
	if (found)
		return;
	const char *actual = rotor_config_connection_kind(cfg, name);
	if (actual)
		rotor_diags_add(d, ROTOR_DIAG_ERROR, pos->file, pos->line, pos->col,
		                "%s \"%s\" is under connections.%s in %s; this field needs one "
		                "from connections.%s",
		                field, name, actual, cfg->origin, want);
	else
		rotor_diags_add(d, ROTOR_DIAG_ERROR, pos->file, pos->line, pos->col,
		                "%s: no %s connection named \"%s\" in %s (add it under "
		                "connections.%s)",
		                field, want, name, cfg->origin, want);
}

void rotor_trimmed_lower(char *out, size_t len, const char *s, int lower_case)
{
	if (!s)
		s = "";
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= len)
		n = len - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = lower_case && s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
	out[n] = '\0';
}

void rotor_canon_path(char *out, size_t len, const char *path)
{
	size_t o = 0;
	char trimmed[1024];
	rotor_trimmed_lower(trimmed, sizeof(trimmed), path, 0);
	for (const char *p = trimmed; *p && o + 1 < len; p++) {
		if (*p == '/' && o > 0 && out[o - 1] == '/')
			continue;
		out[o++] = *p;
	}
	while (o > 1 && out[o - 1] == '/')
		o--;
	out[o] = '\0';
}

void rotor_ascii_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}
