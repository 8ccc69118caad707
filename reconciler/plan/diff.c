/* diff.c: what a manifest change means (rotor/diff.h). */
#include "rotor/diff.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "rotor/timefmt.h"

#define MD_MARKER "<!-- rotor-diff -->"
#define MD_MAX_DEFAULT 65536

static const char *str(const char *s)
{
	return s ? s : "";
}

static int same(const char *a, const char *b)
{
	return strcmp(str(a), str(b)) == 0;
}

static struct rotor_diff_note *note(struct rotor_diff_entry *e, const char *field, const char *from,
                                    const char *to, int loud, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static struct rotor_diff_note *note(struct rotor_diff_entry *e, const char *field, const char *from,
                                    const char *to, int loud, const char *fmt, ...)
{
	if (e->nnotes == ROTOR_DIFF_MAX_NOTES)
		return NULL;
	struct rotor_diff_note *n = &e->notes[e->nnotes++];
	va_list ap;
	snprintf(n->field, sizeof(n->field), "%s", field);
	snprintf(n->from, sizeof(n->from), "%s", str(from));
	snprintf(n->to, sizeof(n->to), "%s", str(to));
	va_start(ap, fmt);
	vsnprintf(n->what, sizeof(n->what), fmt, ap);
	va_end(ap);
	n->loud = loud;
	return n;
}

static void store_place(const struct rotor_manifest *m, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s/%s%s (%s, %s)", str(m->store.connection),
	         str(m->store.project_id), str(m->store.environment), str(m->store.secret_path),
	         str(m->store.akid_name), str(m->store.secret_name));
}

static void consumer_target(const struct rotor_consumer *c, char *buf, size_t len)
{
	switch (c->kind) {
	case ROTOR_CONSUMER_HEROKU:
		snprintf(buf, len, "heroku %s/%s", str(c->connection), str(c->app));
		break;
	case ROTOR_CONSUMER_GITHUB:
		snprintf(buf, len, "githubActions %s/%s%s%s", str(c->connection),
		         str(c->repository), c->environment ? " env " : "", str(c->environment));
		break;
	default:
		snprintf(buf, len, "envFile %s", str(c->path));
		break;
	}
	size_t n = strlen(buf);
	if ((c->akid_name && strcmp(c->akid_name, ROTOR_DEFAULT_AKID_NAME) != 0) ||
	    (c->secret_name && strcmp(c->secret_name, ROTOR_DEFAULT_SECRET_NAME) != 0))
		snprintf(buf + n, len - n, " as %s/%s", str(c->akid_name), str(c->secret_name));
}

static const struct rotor_consumer *find_consumer(const struct rotor_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->nconsumers; i++)
		if (strcmp(m->consumers[i].name, name) == 0)
			return &m->consumers[i];
	return NULL;
}

static void dur(char *buf, size_t len, int64_t s)
{
	rotor_duration_format(buf, len, s);
}

static void describe_added(struct rotor_diff_entry *e, int64_t now)
{
	const struct rotor_manifest *m = e->head;
	char place[400], list[400] = "";
	(void)now;
	store_place(m, place, sizeof(place));
	for (size_t i = 0; i < m->nconsumers; i++) {
		size_t n = strlen(list);
		snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", m->consumers[i].name);
	}
	if (m->suspend) {
		e->stops = 1;
		note(e, "manifest", NULL, m->name, 0,
		     "added suspended (spec.suspend): rotor does not touch %s until it is resumed",
		     m->user);
		return;
	}
	if (m->mode == ROTOR_MODE_OBSERVE) {
		note(e, "manifest", NULL, m->name, 0,
		     "added in observe mode: the next pass reports what it would do to %s and "
		     "changes nothing",
		     m->user);
		return;
	}
	e->rotates = 1;
	note(e, "manifest", NULL, m->name, 1,
	     "adopted on the next pass: rotor owns every access key of IAM user %s on %s, creates "
	     "a new key, writes the pair to %s%s%s, and deactivates the old key once nothing uses "
	     "it",
	     m->user, m->aws, place, m->nconsumers ? " and to " : "", list);
}

static void compare(struct rotor_diff_entry *e, int64_t now)
{
	const struct rotor_manifest *a = e->base, *b = e->head;
	char x[400], y[400];
	if (!same(a->user, b->user) || !same(a->aws, b->aws)) {
		snprintf(x, sizeof(x), "%s on %s", a->user, a->aws);
		snprintf(y, sizeof(y), "%s on %s", b->user, b->aws);
		note(
		    e, "spec.user", x, y, 1,
		    "a different IAM user: %s is no longer managed (its keys are left as they are) "
		    "and %s is adopted on the next pass (a new key)",
		    x, y);
		e->rotates = 1;
	}
	store_place(a, x, sizeof(x));
	store_place(b, y, sizeof(y));
	if (strcmp(x, y) != 0) {
		note(e, "spec.store", x, y, 1,
		     "the pair is written to a NEW place and the old place is no longer updated: "
		     "whatever reads the old place keeps the old key, which rotor deactivates once "
		     "the new place holds a new one. Move every reader first");
		e->rotates = 1;
	}
	if (a->cadence != b->cadence) {
		dur(x, sizeof(x), a->cadence);
		dur(y, sizeof(y), b->cadence);
		if (b->cadence < a->cadence) {
			e->may_rotate = 1;
			note(e, "spec.cadence", x, y, 0,
			     "a shorter cadence: the key rotates on the next pass if it is older "
			     "than "
			     "%s",
			     y);
		} else {
			note(e, "spec.cadence", x, y, 0,
			     "a longer cadence: the next rotation comes later");
		}
	}
	if (a->deactivate_after != b->deactivate_after) {
		dur(x, sizeof(x), a->deactivate_after);
		dur(y, sizeof(y), b->deactivate_after);
		note(e, "spec.deactivateAfter", x, y, 0,
		     "after a rotation the old key stays Active %s once every consumer holds the "
		     "new "
		     "one (and only while nothing uses it)",
		     y);
	}
	if (a->delete_after != b->delete_after) {
		dur(x, sizeof(x), a->delete_after);
		dur(y, sizeof(y), b->delete_after);
		note(e, "spec.deleteAfter", x, y, 0,
		     "an Inactive old key is deleted %s after its deactivation (the window to "
		     "re-enable it)",
		     y);
	}
	if (a->rotate_requested_at != b->rotate_requested_at && b->rotate_requested_at) {
		rotor_time_format(y, sizeof(y), b->rotate_requested_at);
		if (a->rotate_requested_at)
			rotor_time_format(x, sizeof(x), a->rotate_requested_at);
		else
			x[0] = '\0';
		if (b->rotate_requested_at <= now || !now) {
			e->rotates = 1;
			note(e, "spec.rotateRequestedAt", x, y, 1,
			     "a rotation is requested: the next pass rotates %s if its key was "
			     "created "
			     "before %s",
			     b->user, y);
		} else {
			note(e, "spec.rotateRequestedAt", x, y, 0,
			     "a rotation is requested for %s: the first pass after it rotates", y);
		}
	}
	if (a->mode != b->mode) {
		if (b->mode == ROTOR_MODE_OBSERVE) {
			e->stops = 1;
			note(e, "spec.mode", "enforce", "observe", 1,
			     "rotor stops changing %s: passes only report what they would do",
			     b->user);
		} else {
			note(e, "spec.mode", "observe", "enforce", 1,
			     "rotor starts changing %s on the next pass: read its `rotor plan` "
			     "first",
			     b->user);
		}
	}
	if (a->suspend != b->suspend) {
		if (b->suspend)
			e->stops = 1;
		note(e, "spec.suspend", a->suspend ? "true" : "false",
		     b->suspend ? "true" : "false", 1,
		     b->suspend ? "suspended: rotor stops touching %s (no reads, no changes)"
		                : "resumed: the next pass manages %s again",
		     b->user);
	}
	for (size_t i = 0; i < a->nconsumers; i++) {
		const struct rotor_consumer *c = &a->consumers[i], *d = find_consumer(b, c->name);
		char field[48];
		snprintf(field, sizeof(field), "consumer %s", c->name);
		consumer_target(c, x, sizeof(x));
		if (!d) {
			note(e, field, x, NULL, 1,
			     "no longer updated: it keeps the current pair, and at the next "
			     "rotation "
			     "rotor deactivates that key once nothing uses it. Move it off the key "
			     "first");
			continue;
		}
		consumer_target(d, y, sizeof(y));
		if (strcmp(x, y) != 0)
			note(e, field, x, y, 1,
			     "the pair goes to a NEW place on the next pass; the old place is no "
			     "longer "
			     "updated and keeps a key rotor will deactivate");
	}
	for (size_t i = 0; i < b->nconsumers; i++) {
		const struct rotor_consumer *d = &b->consumers[i];
		char field[48];
		if (find_consumer(a, d->name))
			continue;
		snprintf(field, sizeof(field), "consumer %s", d->name);
		consumer_target(d, y, sizeof(y));
		note(
		    e, field, NULL, y, 0,
		    "written on the next pass (the current pair); the old key's deactivation waits "
		    "for it");
	}
	if (a->nlabels != b->nlabels) {
		snprintf(x, sizeof(x), "%zu", a->nlabels);
		snprintf(y, sizeof(y), "%zu", b->nlabels);
		note(e, "metadata.labels", x, y, 0,
		     "labels changed: selectors pick it differently");
	} else {
		for (size_t i = 0; i < a->nlabels; i++)
			if (!same(a->labels[i].key, b->labels[i].key) ||
			    !same(a->labels[i].value, b->labels[i].value)) {
				note(e, "metadata.labels", "", "", 0,
				     "labels changed: selectors pick it differently");
				break;
			}
	}
}

static int by_name(const void *x, const void *y)
{
	const struct rotor_diff_entry *a = x, *b = y;
	const char *na = a->head ? a->head->name : a->base->name;
	const char *nb = b->head ? b->head->name : b->base->name;
	return strcmp(na, nb);
}

int rotor_diff_compute(const struct rotor_manifest_set *base, const struct rotor_manifest_set *head,
                       int64_t now, struct rotor_diff *out)
{
	memset(out, 0, sizeof(*out));
	size_t cap = (base ? base->n : 0) + (head ? head->n : 0);
	out->entries = calloc(cap ? cap : 1, sizeof(*out->entries));
	if (!out->entries)
		return -8; /* ROTOR_ENOMEM */
	for (size_t i = 0; head && i < head->n; i++) {
		const struct rotor_manifest *h = &head->items[i];
		const struct rotor_manifest *b =
		    base ? rotor_manifest_set_find(base, h->name) : NULL;
		struct rotor_diff_entry *e = &out->entries[out->n];
		memset(e, 0, sizeof(*e));
		e->head = h;
		e->base = b;
		if (!b) {
			e->kind = ROTOR_DIFF_ADDED;
			describe_added(e, now);
		} else {
			e->kind = ROTOR_DIFF_CHANGED;
			compare(e, now);
			if (!e->nnotes)
				continue; /* unchanged */
		}
		out->n++;
	}
	for (size_t i = 0; base && i < base->n; i++) {
		const struct rotor_manifest *b = &base->items[i];
		if (head && rotor_manifest_set_find(head, b->name))
			continue;
		struct rotor_diff_entry *e = &out->entries[out->n++];
		memset(e, 0, sizeof(*e));
		e->kind = ROTOR_DIFF_REMOVED;
		e->base = b;
		e->stops = !b->suspend;
		note(e, "manifest", b->name, NULL, 1,
		     "no longer managed: the keys of %s on %s are left as they are, the store and "
		     "the "
		     "consumers keep the last pair, and nobody rotates it any more",
		     b->user, b->aws);
	}
	qsort(out->entries, out->n, sizeof(*out->entries), by_name);
	for (size_t i = 0; i < out->n; i++) {
		const struct rotor_diff_entry *e = &out->entries[i];
		out->added += e->kind == ROTOR_DIFF_ADDED;
		out->removed += e->kind == ROTOR_DIFF_REMOVED;
		out->changed += e->kind == ROTOR_DIFF_CHANGED;
		out->rotate += e->rotates != 0;
		out->may_rotate += !e->rotates && e->may_rotate;
		out->stop += e->stops != 0;
		for (int k = 0; k < e->nnotes; k++)
			if (e->notes[k].loud) {
				out->loud++;
				break;
			}
	}
	return 0;
}

void rotor_diff_dispose(struct rotor_diff *d)
{
	free(d->entries);
	memset(d, 0, sizeof(*d));
}

void rotor_diff_summary(const struct rotor_diff *d, char *buf, size_t len)
{
	snprintf(buf, len, "%zu user%s rotate%s on merge%s, %zu stop%s being managed, %zu error%s",
	         d->rotate, d->rotate == 1 ? "" : "s", d->rotate == 1 ? "s" : "",
	         d->may_rotate ? " (more if their keys are old enough)" : "", d->stop,
	         d->stop == 1 ? "s" : "", d->errors, d->errors == 1 ? "" : "s");
}

static const char *kind_word(enum rotor_diff_kind k)
{
	return k == ROTOR_DIFF_ADDED ? "added" : k == ROTOR_DIFF_REMOVED ? "removed" : "changed";
}

static const char *entry_name(const struct rotor_diff_entry *e)
{
	return e->head ? e->head->name : e->base->name;
}

static const struct rotor_manifest *entry_m(const struct rotor_diff_entry *e)
{
	return e->head ? e->head : e->base;
}

static void write_text(FILE *f, const struct rotor_diff *d, const struct rotor_diff_render *o)
{
	char line[400];
	rotor_diff_summary(d, line, sizeof(line));
	if (o->base_rev || o->head_rev)
		fprintf(f, "rotor diff %.12s..%.12s\n\n", str(o->base_rev), str(o->head_rev));
	for (size_t i = 0; i < d->n; i++) {
		const struct rotor_diff_entry *e = &d->entries[i];
		const struct rotor_manifest *m = entry_m(e);
		fprintf(f, "%c %s (%s on %s): %s\n",
		        e->kind == ROTOR_DIFF_ADDED     ? '+'
		        : e->kind == ROTOR_DIFF_REMOVED ? '-'
		                                        : '~',
		        entry_name(e), m->user, m->aws, kind_word(e->kind));
		for (int k = 0; k < e->nnotes; k++) {
			const struct rotor_diff_note *n = &e->notes[k];
			if (e->kind == ROTOR_DIFF_CHANGED)
				fprintf(f, "    %s%s: %s -> %s\n", n->loud ? "!! " : "", n->field,
				        n->from[0] ? n->from : "(none)",
				        n->to[0] ? n->to : "(none)");
			fprintf(f, "      %s%s\n",
			        e->kind != ROTOR_DIFF_CHANGED && n->loud ? "!! " : "", n->what);
		}
		if (e->observed)
			fprintf(f, "    observed now: %s\n", e->observation);
		fputc('\n', f);
	}
	fprintf(f, "%zu added, %zu removed, %zu changed: %s\n", d->added, d->removed, d->changed,
	        line);
}

/* Markdown-safe: escapes what would start markup inside table cells and
 * inline text. */
static void md_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f) { /* a CR or LF would end the line: a forged heading */
			fputc(' ', f);
			continue;
		}
		if (strchr("\\|<>`*_[]!#&", *s))
			fputc('\\', f);
		fputc(*s, f);
	}
}

/* One manifest's section into a string, so it can be measured before it
 * is written. */
static char *md_section(const struct rotor_diff_entry *e, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	const struct rotor_manifest *m = entry_m(e);
	int loud = 0;
	for (int k = 0; k < e->nnotes; k++)
		loud |= e->notes[k].loud;
	fprintf(f, "\n<details%s><summary>%s <code>", loud ? " open" : "",
	        e->kind == ROTOR_DIFF_ADDED     ? "➕"
	        : e->kind == ROTOR_DIFF_REMOVED ? "➖"
	                                        : "✏️");
	md_text(f, entry_name(e));
	fprintf(f, "</code> (");
	md_text(f, m->user);
	fprintf(f, "): %s%s</summary>\n\n", kind_word(e->kind),
	        e->rotates ? ", rotates on merge"
	        : e->stops ? ", stops being managed"
	                   : "");
	for (int k = 0; k < e->nnotes; k++) {
		const struct rotor_diff_note *n = &e->notes[k];
		fputs(n->loud ? "- ⚠️ **" : "- **", f);
		md_text(f, n->field);
		fputs("**", f);
		if (e->kind == ROTOR_DIFF_CHANGED) {
			fputs(": ", f);
			md_text(f, n->from[0] ? n->from : "(none)");
			fputs(" → ", f);
			md_text(f, n->to[0] ? n->to : "(none)");
		}
		fputs(": ", f);
		md_text(f, n->what);
		fputc('\n', f);
	}
	if (e->observed) {
		fputs("- 🔭 **observed now**: ", f);
		md_text(f, e->observation);
		fputc('\n', f);
	}
	fputs("\n</details>\n", f);
	fclose(f);
	return buf;
}

static void write_markdown(FILE *f, const struct rotor_diff *d, const struct rotor_diff_render *o)
{
	char line[400];
	size_t max = o->max_bytes ? o->max_bytes : MD_MAX_DEFAULT, used = 0;
	char *head = NULL;
	size_t hlen = 0;
	FILE *h = open_memstream(&head, &hlen);
	if (!h)
		return;
	rotor_diff_summary(d, line, sizeof(line));
	fprintf(h, "%s\n### rotor diff\n\n**%s**\n\n", MD_MARKER, line);
	fprintf(h, "%zu added, %zu removed, %zu changed", d->added, d->removed, d->changed);
	if (o->base_rev && o->head_rev)
		fprintf(h, " (`%.12s`..`%.12s`)", o->base_rev, o->head_rev);
	fputs(".\n", h);
	if (o->nproblems) {
		/* in a fenced block: nothing in a message can break the comment */
		fprintf(h,
		        "\n<details open><summary>❌ %zu problem%s in the manifests at head (as "
		        "<code>rotor validate</code> reports them)</summary>\n\n```text\n",
		        o->nproblems, o->nproblems == 1 ? "" : "s");
		for (size_t i = 0; i < o->nproblems && i < 50; i++) {
			for (const char *c = o->problems[i]; *c && c - o->problems[i] < 300; c++)
				fputc(*c == '`' ? '\'' : *c, h);
			fputc('\n', h);
		}
		if (o->nproblems > 50)
			fprintf(h, "... and %zu more\n", o->nproblems - 50);
		fputs("```\n\n</details>\n", h);
	}
	fclose(h);
	fwrite(head, 1, hlen, f);
	used += hlen;
	free(head);
	static const char cut[] = "\n_… %zu more manifest%s not shown: the comment would pass "
	                          "GitHub's size limit. Run `rotor diff` locally for all of "
	                          "them._\n";
	size_t reserve = sizeof(cut) + 40;
	for (size_t i = 0; i < d->n; i++) {
		size_t len = 0;
		char *sec = md_section(&d->entries[i], &len);
		if (!sec)
			return;
		if (used + len + reserve > max) {
			free(sec);
			fprintf(f, cut, d->n - i, d->n - i == 1 ? "" : "s");
			return;
		}
		fwrite(sec, 1, len, f);
		used += len;
		free(sec);
	}
}

static int write_json(FILE *f, const struct rotor_diff *d, const struct rotor_diff_render *o)
{
	char line[400];
	json_t *root = json_object(), *list = json_array();
	rotor_diff_summary(d, line, sizeof(line));
	json_object_set_new(root, "base", o->base_rev ? json_string(o->base_rev) : json_null());
	json_object_set_new(root, "head", o->head_rev ? json_string(o->head_rev) : json_null());
	json_object_set_new(root, "summary",
	                    json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "line", line,
	                              "added", (json_int_t)d->added, "removed",
	                              (json_int_t)d->removed, "changed", (json_int_t)d->changed,
	                              "rotateOnMerge", (json_int_t)d->rotate, "mayRotate",
	                              (json_int_t)d->may_rotate, "stopManaged", (json_int_t)d->stop,
	                              "errors", (json_int_t)d->errors));
	for (size_t i = 0; i < d->n; i++) {
		const struct rotor_diff_entry *e = &d->entries[i];
		json_t *notes = json_array();
		for (int k = 0; k < e->nnotes; k++) {
			const struct rotor_diff_note *n = &e->notes[k];
			json_array_append_new(
			    notes, json_pack("{s:s, s:o, s:o, s:s, s:b}", "field", n->field, "from",
			                     n->from[0] ? json_string(n->from) : json_null(), "to",
			                     n->to[0] ? json_string(n->to) : json_null(), "what",
			                     n->what, "loud", n->loud));
		}
		json_t *jm =
		    json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:o}", "name", entry_name(e), "user",
		              entry_m(e)->user, "kind", kind_word(e->kind), "rotates", e->rotates,
		              "mayRotate", e->may_rotate, "stopsManaged", e->stops, "notes", notes);
		json_object_set_new(jm, "observed",
		                    e->observed ? json_string(e->observation) : json_null());
		json_array_append_new(list, jm);
	}
	json_object_set_new(root, "manifests", list);
	int rc = json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', f);
	json_decref(root);
	return rc;
}

int rotor_diff_write(FILE *f, const struct rotor_diff *d, const struct rotor_diff_render *opts)
{
	switch (opts->format) {
	case ROTOR_DIFF_MARKDOWN:
		write_markdown(f, d, opts);
		return 0;
	case ROTOR_DIFF_JSON:
		return write_json(f, d, opts);
	default:
		write_text(f, d, opts);
		return 0;
	}
}
