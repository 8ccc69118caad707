/*
 * render.c: plans for people and machines — text like Terraform's (colour
 * only on a TTY), markdown for a pull-request comment, and JSON with a
 * versioned schema (docs/plan-json.md). The model holds no secret, so
 * nothing here can print one; key ids are not secret.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "rotor/plan.h"
#include "rotor/timefmt.h"

#define PLAN_JSON_SCHEMA 1

static const char *symbol(enum rotor_action_kind k)
{
	switch (k) {
	case ROTOR_ACT_CREATE:
		return "+";
	case ROTOR_ACT_DELETE:
	case ROTOR_ACT_DELETE_STRAY:
		return "-";
	case ROTOR_ACT_STORE:
	case ROTOR_ACT_PROPAGATE:
	case ROTOR_ACT_DEACTIVATE:
	case ROTOR_ACT_ROLLBACK_REACTIVATE:
	case ROTOR_ACT_ROLLBACK_STORE:
		return "~";
	case ROTOR_ACT_VALIDATE:
		return "?";
	default:
		return "#";
	}
}

static const char *colour(enum rotor_action_kind k)
{
	switch (k) {
	case ROTOR_ACT_CREATE:
		return "\033[32m";
	case ROTOR_ACT_DELETE:
	case ROTOR_ACT_DELETE_STRAY:
		return "\033[31m";
	case ROTOR_ACT_STORE:
	case ROTOR_ACT_PROPAGATE:
	case ROTOR_ACT_DEACTIVATE:
		return "\033[33m";
	default:
		return "\033[2m";
	}
}

static const char *status_colour(enum rotor_status s)
{
	switch (s) {
	case ROTOR_STATUS_READY:
		return "\033[32m";
	case ROTOR_STATUS_RECONCILING:
		return "\033[33m";
	case ROTOR_STATUS_STALLED:
	case ROTOR_STATUS_UNKNOWN:
		return "\033[31m";
	default:
		return "\033[36m";
	}
}

const char *rotor_forecast_name(enum rotor_forecast_kind k)
{
	switch (k) {
	case ROTOR_FC_ROTATE:
		return "rotate";
	case ROTOR_FC_DEACTIVATE:
		return "deactivate";
	default:
		return "delete";
	}
}

static void summary_line(char *buf, size_t len, const struct rotor_plan_summary *s)
{
	size_t o = 0;
	o += (size_t)snprintf(buf + o, len - o, "%zu manifest%s:", s->manifests,
	                      s->manifests == 1 ? "" : "s");
	const struct {
		size_t n;
		const char *what;
	} parts[] = {
	    {s->to_roll_back, "to roll back"}, {s->to_rotate, "to rotate"},
	    {s->to_prune, "to prune"},         {s->to_sync, "to sync"},
	    {s->waiting, "waiting"},           {s->stalled, "stalled"},
	    {s->unknown, "unknown"},           {s->suspended, "suspended"},
	    {s->in_sync, "in sync"},
	};
	int first = 1;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && o < len; i++) {
		if (!parts[i].n)
			continue;
		o += (size_t)snprintf(buf + o, len - o, "%s %zu %s", first ? "" : ",", parts[i].n,
		                      parts[i].what);
		first = 0;
	}
	if (first && o < len)
		snprintf(buf + o, len - o, " none");
	if (s->observe_only && o < len) {
		o = strlen(buf);
		snprintf(buf + o, len - o, " (%zu in observe mode: reported, never applied)",
		         s->observe_only);
	}
}

static void action_target(char *buf, size_t len, const struct rotor_manifest_plan *p,
                          const struct rotor_action *a)
{
	const struct rotor_manifest *m = p->manifest;
	if (a->kind == ROTOR_ACT_PROPAGATE && a->consumer >= 0 &&
	    (size_t)a->consumer < m->nconsumers)
		snprintf(buf, len, "%s", m->consumers[a->consumer].name);
	else if (a->key_id[0])
		snprintf(buf, len, "%s", a->key_id);
	else if (a->kind == ROTOR_ACT_CREATE || a->kind == ROTOR_ACT_VALIDATE ||
	         a->kind == ROTOR_ACT_RECORD_SYNC)
		snprintf(buf, len, "new key");
	else if (a->kind == ROTOR_ACT_STORE)
		snprintf(buf, len, "%s:%s", m->store.connection ? m->store.connection : "store",
		         m->store.secret_path ? m->store.secret_path : "/");
	else
		snprintf(buf, len, "%s", m->user);
}

/* What a forecast step acts on: a key, or the key a rotation will make. */
static const char *forecast_target(const struct rotor_forecast *fc)
{
	if (fc->key_id[0])
		return fc->key_id;
	return fc->kind == ROTOR_FC_ROTATE ? "the new key" : "the replaced key";
}

/* The status line repeats nothing: when the reason is the first action's
 * own, the action below says it. */
static const char *status_detail(const struct rotor_manifest_plan *p)
{
	if (p->nactions && strcmp(p->status_reason, p->actions[0].reason) == 0)
		return NULL;
	return p->status_reason;
}

void rotor_plan_render_text_blocks(FILE *f, const struct rotor_manifest_plan *plans, size_t n,
                                   const struct rotor_plan_render *opts)
{
	const char *reset = opts->color ? "\033[0m" : "";
	char t[32], target[96];
	for (size_t i = 0; i < n; i++) {
		const struct rotor_manifest_plan *p = &plans[i];
		const struct rotor_manifest *m = p->manifest;
		fprintf(f, "%s%s%s %s (%s on %s)%s%s\n", opts->color ? "\033[1m" : "",
		        p->nactions ? (p->observe_only ? "?" : "~") : " ", "", m->name, m->user,
		        m->aws, p->observe_only ? " [observe]" : "", reset);
		const char *detail = status_detail(p);
		fprintf(f, "    status: %s%s%s%s%s\n", opts->color ? status_colour(p->status) : "",
		        rotor_status_name(p->status), reset, detail ? ": " : "",
		        detail ? detail : "");
		if (p->consumers && p->holding_akid[0])
			fprintf(f, "    %d/%d consumers hold %s\n", p->consumers_holding,
			        p->consumers, p->holding_akid);
		for (int a = 0; a < p->nactions; a++) {
			const struct rotor_action *x = &p->actions[a];
			action_target(target, sizeof(target), p, x);
			fprintf(f, "  %s%s %-15s %-22s%s %s\n", opts->color ? colour(x->kind) : "",
			        symbol(x->kind), rotor_action_name(x->kind), target, reset,
			        x->reason);
		}
		if (p->deletions_held)
			fprintf(f, "    (%d further step%s held by --max-deletions)\n",
			        p->deletions_held, p->deletions_held == 1 ? "" : "s");
		for (int k = 0; k < p->nforecast; k++) {
			const struct rotor_forecast *fc = &p->forecast[k];
			rotor_time_format(t, sizeof(t), fc->at);
			fprintf(f, "    %s %s %-10s %s: %s\n", k ? "     " : "next:", t,
			        rotor_forecast_name(fc->kind), forecast_target(fc), fc->note);
		}
		fputc('\n', f);
	}
}

void rotor_plan_render_summary(FILE *f, const struct rotor_plan_summary *s)
{
	char line[512];
	summary_line(line, sizeof(line), s);
	fprintf(f, "%s\n", line);
}

void rotor_plan_summary_add(struct rotor_plan_summary *sum, const struct rotor_plan_summary *part)
{
	sum->manifests += part->manifests;
	sum->to_roll_back += part->to_roll_back;
	sum->to_rotate += part->to_rotate;
	sum->to_prune += part->to_prune;
	sum->to_sync += part->to_sync;
	sum->in_sync += part->in_sync;
	sum->waiting += part->waiting;
	sum->stalled += part->stalled;
	sum->suspended += part->suspended;
	sum->unknown += part->unknown;
	sum->observe_only += part->observe_only;
}

static void render_text(FILE *f, const struct rotor_manifest_plan *plans, size_t n,
                        const struct rotor_plan_render *opts)
{
	struct rotor_plan_summary s;
	rotor_plan_render_text_blocks(f, plans, n, opts);
	rotor_plan_summarize(plans, n, &s);
	rotor_plan_render_summary(f, &s);
}

/* Markdown keeps the table to manifests that change or need attention so
 * a comment stays short for 500 manifests; the rest is one line. */
static void md_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '|' || *s == '<' || *s == '>' || *s == '`' || *s == '*' || *s == '_')
			fputc('\\', f);
		fputc(*s, f);
	}
}

static int md_listed(const struct rotor_manifest_plan *p)
{
	return p->nactions || p->status != ROTOR_STATUS_READY;
}

/* "record-intent, create, validate, store, propagate ×3, record-sync" */
static void md_changes(FILE *f, const struct rotor_manifest_plan *p)
{
	if (!p->nactions) {
		fputs("—", f);
		return;
	}
	for (int a = 0; a < p->nactions;) {
		int n = 1;
		while (a + n < p->nactions && p->actions[a + n].kind == p->actions[a].kind)
			n++;
		fprintf(f, "%s%s", a ? ", " : "", rotor_action_name(p->actions[a].kind));
		if (n > 1)
			fprintf(f, " ×%d", n);
		a += n;
	}
}

static void render_markdown(FILE *f, const struct rotor_manifest_plan *plans, size_t n,
                            const struct rotor_plan_render *opts)
{
	struct rotor_plan_summary s;
	char line[512], t[32], target[96];
	size_t quiet = 0;
	int header = 0;
	rotor_plan_summarize(plans, n, &s);
	summary_line(line, sizeof(line), &s);
	fprintf(f, "### rotor plan\n\n**%s**", line);
	if (opts->revision)
		fprintf(f, " at `%s`", opts->revision);
	fputs("\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct rotor_manifest_plan *p = &plans[i];
		if (!md_listed(p)) {
			quiet++;
			continue;
		}
		if (!header++)
			fputs("\n| manifest | user | status | changes now | next step |\n"
			      "|---|---|---|---|---|\n",
			      f);
		fprintf(f, "| `%s` | `%s` | %s%s | ", p->manifest->name, p->manifest->user,
		        rotor_status_name(p->status), p->observe_only ? " (observe only)" : "");
		md_changes(f, p);
		fputs(" | ", f);
		if (p->nforecast) { /* the forecast is in time order */
			rotor_time_format(t, sizeof(t), p->forecast[0].at);
			const struct rotor_forecast *fc = &p->forecast[0];
			fprintf(f, "%s %s %s%s%s", t, rotor_forecast_name(fc->kind),
			        fc->key_id[0] ? "`" : "", forecast_target(fc),
			        fc->key_id[0] ? "`" : "");
		} else {
			fputs("—", f);
		}
		fputs(" |\n", f);
	}
	if (quiet)
		fprintf(f, "\n%zu manifest%s in sync with nothing to do.\n", quiet,
		        quiet == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		const struct rotor_manifest_plan *p = &plans[i];
		if (!md_listed(p))
			continue;
		fprintf(f, "\n<details><summary><code>%s</code> (%s): %s</summary>\n\n",
		        p->manifest->name, p->manifest->user, rotor_status_name(p->status));
		/* Blocks (the status, what happens now, what happens next) are
		 * separated by one blank line. */
		int blocks = 0;
		const char *detail = status_detail(p);
		if (detail) {
			md_escape(f, detail);
			fputc('\n', f);
			blocks++;
		}
		if (p->nactions || p->deletions_held)
			fprintf(f, "%s**Now**%s\n\n", blocks++ ? "\n" : "",
			        p->observe_only ? " (observe mode: not applied)" : "");
		for (int a = 0; a < p->nactions; a++) {
			const struct rotor_action *x = &p->actions[a];
			action_target(target, sizeof(target), p, x);
			fprintf(f, "- `%s %s %s`: ", symbol(x->kind), rotor_action_name(x->kind),
			        target);
			md_escape(f, x->reason);
			fputc('\n', f);
		}
		if (p->deletions_held)
			fprintf(f, "- %d step%s held by --max-deletions\n", p->deletions_held,
			        p->deletions_held == 1 ? "" : "s");
		if (p->nforecast)
			fprintf(f, "%s**Next**\n\n", blocks++ ? "\n" : "");
		for (int k = 0; k < p->nforecast; k++) {
			const struct rotor_forecast *fc = &p->forecast[k];
			rotor_time_format(t, sizeof(t), fc->at);
			fprintf(f, "- %s %s %s%s%s: ", t, rotor_forecast_name(fc->kind),
			        fc->key_id[0] ? "`" : "", forecast_target(fc),
			        fc->key_id[0] ? "`" : "");
			md_escape(f, fc->note);
			fputc('\n', f);
		}
		fputs("\n</details>\n", f);
	}
}

static json_t *time_or_null(int64_t t)
{
	char buf[32];
	if (!t)
		return json_null();
	rotor_time_format(buf, sizeof(buf), t);
	return json_string(buf);
}

static int render_json(FILE *f, const struct rotor_manifest_plan *plans, size_t n,
                       const struct rotor_observed *obs, const struct rotor_plan_render *opts)
{
	struct rotor_plan_summary s;
	json_t *root = json_object(), *list = json_array();
	rotor_plan_summarize(plans, n, &s);
	json_object_set_new(root, "schemaVersion", json_integer(PLAN_JSON_SCHEMA));
	json_object_set_new(root, "generatedAt", time_or_null(opts->now));
	json_object_set_new(root, "revision",
	                    opts->revision ? json_string(opts->revision) : json_null());
	json_object_set_new(root, "hasChanges", json_boolean(rotor_plan_has_changes(plans, n)));
	json_object_set_new(
	    root, "summary",
	    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "manifests",
	              (json_int_t)s.manifests, "toRollBack", (json_int_t)s.to_roll_back, "toRotate",
	              (json_int_t)s.to_rotate, "toPrune", (json_int_t)s.to_prune, "toSync",
	              (json_int_t)s.to_sync, "inSync", (json_int_t)s.in_sync, "waiting",
	              (json_int_t)s.waiting, "stalled", (json_int_t)s.stalled, "suspended",
	              (json_int_t)s.suspended, "unknown", (json_int_t)s.unknown, "observeOnly",
	              (json_int_t)s.observe_only));
	for (size_t i = 0; i < n; i++) {
		const struct rotor_manifest_plan *p = &plans[i];
		const struct rotor_manifest *m = p->manifest;
		json_t *j = json_object(), *keys = json_array(), *acts = json_array(),
		       *fc = json_array();
		json_object_set_new(j, "name", json_string(m->name));
		json_object_set_new(j, "user", json_string(m->user));
		json_object_set_new(j, "aws", json_string(m->aws));
		json_object_set_new(j, "mode", json_string(rotor_mode_name(m->mode)));
		json_object_set_new(j, "status", json_string(rotor_status_name(p->status)));
		json_object_set_new(j, "statusReason", json_string(p->status_reason));
		if (p->consumers) {
			json_object_set_new(j, "consumersHolding",
			                    json_integer(p->consumers_holding));
			json_object_set_new(j, "consumersTotal", json_integer(p->consumers));
		}
		json_object_set_new(j, "rotationDue", json_boolean(p->rotation_due));
		json_object_set_new(j, "dueReason",
		                    p->due_reason[0] ? json_string(p->due_reason) : json_null());
		if (obs) {
			const struct rotor_observed *o = &obs[i];
			for (int k = 0; o->iam_known && k < o->nkeys; k++) {
				const struct rotor_obs_key *key = &o->keys[k];
				/* Roles need the store's key id: none when it is unknown. */
				json_t *jk = json_pack(
				    "{s:s, s:o, s:s, s:o}", "id", key->id, "role",
				    o->store_known ? json_string(rotor_role_name(p->roles[k]))
				                   : json_null(),
				    "status", key->active ? "Active" : "Inactive", "created",
				    time_or_null(key->created));
				json_object_set_new(jk, "lastUsed",
				                    !key->last_used_known ? json_string("unknown")
				                    : key->last_used
				                        ? json_pack("{s:o, s:s, s:s}", "date",
				                                    time_or_null(key->last_used),
				                                    "service", key->last_service,
				                                    "region", key->last_region)
				                        : json_null());
				json_array_append_new(keys, jk);
			}
			json_object_set_new(j, "storeVersion",
			                    o->store_known && o->store_has_akid
			                        ? json_integer(o->store_akid_version)
			                        : json_null());
		}
		for (int a = 0; a < p->nactions; a++) {
			const struct rotor_action *x = &p->actions[a];
			json_t *ja =
			    json_pack("{s:s, s:s, s:b}", "kind", rotor_action_name(x->kind),
			              "reason", x->reason, "willApply", !p->observe_only);
			json_object_set_new(ja, "keyId",
			                    x->key_id[0] ? json_string(x->key_id) : json_null());
			json_object_set_new(ja, "consumer",
			                    x->consumer >= 0 && (size_t)x->consumer < m->nconsumers
			                        ? json_string(m->consumers[x->consumer].name)
			                        : json_null());
			json_array_append_new(acts, ja);
		}
		for (int k = 0; k < p->nforecast; k++) {
			const struct rotor_forecast *x = &p->forecast[k];
			json_t *jf =
			    json_pack("{s:s, s:o, s:s}", "kind", rotor_forecast_name(x->kind), "at",
			              time_or_null(x->at), "note", x->note);
			json_object_set_new(jf, "keyId",
			                    x->key_id[0] ? json_string(x->key_id) : json_null());
			json_array_append_new(fc, jf);
		}
		json_object_set_new(j, "keys", keys);
		json_object_set_new(j, "actions", acts);
		json_object_set_new(j, "forecast", fc);
		json_object_set_new(j, "heldByMaxDeletions", json_integer(p->deletions_held));
		json_array_append_new(list, j);
	}
	json_object_set_new(root, "manifests", list);
	int rc = json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', f);
	json_decref(root);
	return rc;
}

int rotor_plan_render(FILE *f, const struct rotor_manifest_plan *plans, size_t n,
                      const struct rotor_observed *obs, const struct rotor_plan_render *opts)
{
	switch (opts->format) {
	case ROTOR_PLAN_MARKDOWN:
		render_markdown(f, plans, n, opts);
		return 0;
	case ROTOR_PLAN_JSON:
		return render_json(f, plans, n, obs, opts);
	default:
		render_text(f, plans, n, opts);
		return 0;
	}
}
