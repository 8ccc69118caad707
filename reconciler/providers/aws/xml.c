/* xml.c: expat → struct xnode, capped and wiped. */
#include "xml.h"

#include <expat.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct builder {
	struct xnode *root;
	struct xnode *cur;
	int depth;
	size_t nodes;
	int failed; /* ROTOR_E* */
	const char *why;
	XML_Parser parser;
};

static const char *local_name(const char *name)
{
	const char *colon = strrchr(name, ':');
	return colon ? colon + 1 : name;
}

static void stop(struct builder *b, int code, const char *why)
{
	if (!b->failed) {
		b->failed = code;
		b->why = why;
	}
	XML_StopParser(b->parser, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct builder *b = ud;
	(void)attrs;
	if (b->failed)
		return;
	if (++b->depth > XML_MAX_DEPTH || ++b->nodes > XML_MAX_NODES) {
		stop(b, ROTOR_EINVALID, "XML nested too deeply or too large");
		return;
	}
	struct xnode *n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(local_name(name)))) {
		free(n);
		stop(b, ROTOR_ENOMEM, "out of memory");
		return;
	}
	n->parent = b->cur;
	if (b->cur) {
		struct xnode *p = b->cur;
		if (p->nkids == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 4;
			struct xnode **kids = realloc(p->kids, cap * sizeof(*kids));
			if (!kids) {
				free(n->name);
				free(n);
				stop(b, ROTOR_ENOMEM, "out of memory");
				return;
			}
			p->kids = kids;
			p->cap = cap;
		}
		p->kids[p->nkids++] = n;
	} else if (!b->root) {
		b->root = n;
	} else {
		free(n->name);
		free(n);
		stop(b, ROTOR_EINVALID, "more than one root element");
		return;
	}
	b->cur = n;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct builder *b = ud;
	(void)name;
	if (b->failed || !b->cur)
		return;
	b->depth--;
	b->cur = b->cur->parent;
}

/* Text arrives in pieces; growth copies and wipes so a secret is never
 * left behind in freed memory. */
static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct builder *b = ud;
	if (b->failed || !b->cur || len <= 0)
		return;
	struct xnode *n = b->cur;
	size_t add = (size_t)len;
	if (n->text_len + add > XML_MAX_TEXT) {
		stop(b, ROTOR_EINVALID, "XML text too long");
		return;
	}
	char *t = malloc(n->text_len + add + 1);
	if (!t) {
		stop(b, ROTOR_ENOMEM, "out of memory");
		return;
	}
	if (n->text) {
		memcpy(t, n->text, n->text_len);
		OPENSSL_cleanse(n->text, n->text_len);
		free(n->text);
	}
	memcpy(t + n->text_len, s, add);
	n->text_len += add;
	t[n->text_len] = '\0';
	n->text = t;
}

void rotor_xml_free(struct xnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		rotor_xml_free(n->kids[i]);
	free(n->kids);
	if (n->text) {
		OPENSSL_cleanse(n->text, n->text_len);
		free(n->text);
	}
	free(n->name);
	free(n);
}

/* Entity declarations are refused outright: AWS never sends a DTD, and
 * refusing them rules out entity-expansion attacks from a hostile endpoint. */
static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int pe, const XML_Char *value,
                                   int value_len, const XML_Char *base, const XML_Char *sys,
                                   const XML_Char *pub, const XML_Char *notation)
{
	struct builder *b = ud;
	(void)name, (void)pe, (void)value, (void)value_len, (void)base, (void)sys, (void)pub,
	    (void)notation;
	stop(b, ROTOR_EINVALID, "XML entity declarations are not accepted");
}

int rotor_xml_parse(struct xnode **out, const char *data, size_t len, struct rotor_error *err)
{
	struct builder b;
	*out = NULL;
	memset(&b, 0, sizeof(b));
	if (len > (size_t)INT32_MAX)
		return rotor_error_set(err, ROTOR_EINVALID, "XML reply too large");
	b.parser = XML_ParserCreate("UTF-8");
	if (!b.parser)
		return rotor_error_set(err, ROTOR_ENOMEM, "out of memory creating an XML parser");
	XML_SetUserData(b.parser, &b);
	XML_SetElementHandler(b.parser, on_start, on_end);
	XML_SetCharacterDataHandler(b.parser, on_text);
	XML_SetEntityDeclHandler(b.parser, on_entity_decl);
	enum XML_Status st = XML_Parse(b.parser, data, (int)len, XML_TRUE);
	if (!b.failed && st != XML_STATUS_OK) {
		char why[160];
		snprintf(why, sizeof(why), "%s at line %lu",
		         XML_ErrorString(XML_GetErrorCode(b.parser)),
		         (unsigned long)XML_GetCurrentLineNumber(b.parser));
		XML_ParserFree(b.parser);
		rotor_xml_free(b.root);
		return rotor_error_set(err, ROTOR_EINVALID, "malformed XML: %s", why);
	}
	XML_ParserFree(b.parser);
	if (b.failed) {
		rotor_xml_free(b.root);
		return rotor_error_set(err, b.failed, "%s", b.why);
	}
	if (!b.root)
		return rotor_error_set(err, ROTOR_EINVALID, "malformed XML: no root element");
	*out = b.root;
	return 0;
}

const struct xnode *rotor_xml_child(const struct xnode *n, const char *name)
{
	if (!n)
		return NULL;
	for (size_t i = 0; i < n->nkids; i++)
		if (strcmp(n->kids[i]->name, name) == 0)
			return n->kids[i];
	return NULL;
}

const struct xnode *rotor_xml_find(const struct xnode *n, const char *name)
{
	if (!n)
		return NULL;
	if (strcmp(n->name, name) == 0)
		return n;
	for (size_t i = 0; i < n->nkids; i++) {
		const struct xnode *x = rotor_xml_find(n->kids[i], name);
		if (x)
			return x;
	}
	return NULL;
}

const struct xnode *rotor_xml_path(const struct xnode *n, const char *path)
{
	char step[128];
	while (n && *path) {
		const char *slash = strchr(path, '/');
		size_t len = slash ? (size_t)(slash - path) : strlen(path);
		if (len >= sizeof(step))
			return NULL;
		memcpy(step, path, len);
		step[len] = '\0';
		n = rotor_xml_child(n, step);
		path += len + (slash ? 1 : 0);
	}
	return n;
}

const char *rotor_xml_text(const struct xnode *n)
{
	return n && n->text ? n->text : "";
}

int rotor_xml_copy(const struct xnode *n, const char *path, char *buf, size_t len)
{
	const struct xnode *x = rotor_xml_path(n, path);
	if (!x) {
		if (len)
			buf[0] = '\0';
		return 0;
	}
	snprintf(buf, len, "%s", rotor_xml_text(x));
	/* Trim the whitespace pretty-printed replies put around values. */
	size_t start = strspn(buf, " \t\r\n");
	memmove(buf, buf + start, strlen(buf + start) + 1);
	size_t end = strlen(buf);
	while (end > 0 && strchr(" \t\r\n", buf[end - 1]))
		buf[--end] = '\0';
	return 1;
}
