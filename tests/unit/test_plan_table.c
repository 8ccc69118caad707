/*
 * test_plan_table.c: the planner's decision table. One row per rule of the
 * contract (docs/rotation.md; ../shared/design/rotation.md §3–§5b): the
 * manifest settings and observed state that matter, `now`, and the exact
 * actions, status and forecast expected. One generic checker runs them all
 * and prints the case, expected and actual on a mismatch.
 *
 * Reading a row: times are relative to NOW (2026-06-01T00:00:00Z). A key
 * is {id, 'A'ctive or 'I'nactive, age, last use ago (NEVER, UNKN), record
 * synced ago, record inactive ago, ...}; zero means "not recorded".
 * Consumers are a string, one letter each: s in sync, d drifted, u unknown
 * (NULL means "ss", "" means a store-only manifest). Actions are written
 * `kind[:key id][#consumer]`, space-separated, in plan order.
 */
#include <stdio.h>
#include <string.h>

#include "rotor/plan.h"
#include "rotor/timefmt.h"
#include "testsupport.h"

#define NOW ((int64_t)1780272000) /* 2026-06-01T00:00:00Z */
#define M ((int64_t)60)
#define H ((int64_t)3600)
#define D ((int64_t)86400)
#define NEVER ((int64_t)-1) /* last use: never used */
#define UNKN ((int64_t)-2)  /* last use: could not be read */

struct kspec {
	const char *id;
	char st;          /* 'A' Active, 'I' Inactive */
	int64_t age;      /* created NOW - age */
	int64_t used;     /* last used NOW - used ago; NEVER; UNKN */
	int64_t synced;   /* record: every consumer held it since NOW - synced; 0 none */
	int64_t inactive; /* record: Inactive since NOW - inactive; 0 none */
	int64_t sv;       /* record: store version rotor wrote; 0 none */
	int rotor;        /* record: rotor created it (created= in its tag) */
};

struct row {
	const char *name;
	/* manifest (0: the test default 30d / 1h / 1d) */
	int64_t cadence, deact, del;
	int64_t rra; /* spec.rotateRequestedAt as NOW + rra; 0 absent */
	int observe, suspend;
	const char *cons;
	/* observed */
	struct kspec keys[3];
	const char *store; /* the store's access key id; NULL: empty store */
	int half;          /* 1: only the key id stored, 2: only the secret */
	int noauth;        /* store_auth 0 (the pair was rejected) */
	int unchecked;     /* store_auth -1 */
	int64_t intent;    /* intent recorded at NOW - intent; 0 none */
	int rotate_now, iam_unknown, store_unknown;
	const char *stale;   /* a record tag of a key IAM no longer has, or NULL */
	int rb_suspended;    /* the user carries rotor rollback's suspension tag */
	int rb;              /* `rotor rollback` requested; the history was read */
	const char *rb_prev; /* the key id the store held before ("" none) */
	/* expected */
	const char *actions;
	const char *status;
	const char *reason;       /* substring of the status reason */
	const char *act_reason;   /* substring of the first action's reason, optional */
	const char *store_reason; /* substring of the store action's reason, optional */
	const char *forecast;     /* "kind[:key]@time ...", optional */
	const char *roles;        /* roles per key, optional */
};

/* clang-format off: one row per rule reads better than clang-format's layout */
#define CUR(age_, synced_)                                                                         \
	{                                                                                          \
		.id = "AKIACUR", .st = 'A', .age = (age_), .used = 1 * H, .synced = (synced_)      \
	}

static const struct row rows[] = {
    /* ---- due conditions ------------------------------------------------ */
    {.name = "nothing due: in sync, young key",
     .keys = {CUR(10 * D, 9 * D)},
     .store = "AKIACUR",
     .actions = "",
     .status = "Ready",
     .reason = "in sync; next rotation 2026-06-21T00:00:00Z",
     .forecast = "rotate:AKIACUR@2026-06-21T00:00:00Z",
     .roles = "current"},
    {.name = "cadence reached exactly",
     .keys = {CUR(30 * D, 29 * D)},
     .store = "AKIACUR",
     .actions = "record-intent create validate store propagate#0 propagate#1 record-sync",
     .status = "Reconciling",
     .reason = "AKIACUR is 30d old (cadence 30d)",
     .forecast = "deactivate:AKIACUR@2026-06-01T01:00:00Z delete:AKIACUR@2026-06-02T01:00:00Z "
                 "rotate@2026-07-01T00:00:00Z"},
    {.name = "cadence one second short",
     .keys = {CUR(30 * D - 1, 29 * D)},
     .store = "AKIACUR",
     .actions = "",
     .status = "Ready",
     .reason = "next rotation 2026-06-01T00:00:01Z"},
    {.name = "custom cadence 7d reached",
     .cadence = 7 * D,
     .keys = {CUR(8 * D, 7 * D)},
     .store = "AKIACUR",
     .actions = "record-intent create validate store propagate#0 propagate#1 record-sync",
     .status = "Reconciling",
     .reason = "AKIACUR is 8d old (cadence 1w)"},
    {.name = "rotateRequestedAt past, key older than it",
     .rra = -1 * D,
     .keys = {CUR(10 * D, 9 * D)},
     .store = "AKIACUR",
     .actions = "record-intent create validate store propagate#0 propagate#1 record-sync",
     .status = "Reconciling",
     .reason = "rotation requested at 2026-05-31T00:00:00Z (spec.rotateRequestedAt)"},
    {.name = "rotateRequestedAt past, key newer than it",
     .rra = -20 * D,
     .keys = {CUR(10 * D, 9 * D)},
     .store = "AKIACUR",
     .actions = "",
     .status = "Ready",
     .forecast = "rotate:AKIACUR@2026-06-21T00:00:00Z"},
    {.name = "rotateRequestedAt future: forecast at it",
     .rra = 2 * D,
     .keys = {CUR(10 * D, 9 * D)},
     .store = "AKIACUR",
     .actions = "",
     .status = "Ready",
     .reason = "next rotation 2026-06-03T00:00:00Z",
     .forecast = "rotate:AKIACUR@2026-06-03T00:00:00Z"},
    {.name = "rotateRequestedAt future but after the cadence date",
     .rra = 25 * D,
     .keys = {CUR(10 * D, 9 * D)},
     .store = "AKIACUR",
     .actions = "",
     .status = "Ready",
     .forecast = "rotate:AKIACUR@2026-06-21T00:00:00Z"},
    {.name = "rotor rotate on a young key",
     .rotate_now = 1,
     .keys = {CUR(1 * D, 1 * D)},
     .store = "AKIACUR",
     .actions = "record-intent create validate store propagate#0 propagate#1 record-sync",
     .status = "Reconciling",
     .reason = "rotation requested (rotor rotate)"},
    {.name = "heal: adoption, empty store, one legacy key",
     .keys = {{.id = "AKIALEGACY", .st = 'A', .age = 400 * D, .used = 1 * H}},
     .actions = "record-intent create validate store propagate#0 propagate#1 record-sync",
     .status = "Reconciling",
     .reason = "the store holds no key yet (adopting app-user)",
     .forecast = "deactivate:AKIALEGACY@2026-06-01T01:00:00Z "
                 "delete:AKIALEGACY@2026-06-02T01:00:00Z rotate@2026-07-01T00:00:00Z",
     .roles = "legacy"},
    {.name = "heal: adoption, no key at all",
     .actions = "record-intent create validate store propagate#0 propagate#1 record-sync",
     .store_reason = "in one request",
     .status = "Reconciling",
     .reason = "the store holds no key yet"},
    {.name = "heal: half pair, key id only",
     .keys = {CUR(5 * D, 5 * D)},
     .store = "AKIACUR",
     .half = 1,
     .actions = "record-intent create validate store propagate#0 propagate#1 record-sync",
     .status = "Reconciling",
     .reason = "only the access key id of the pair",
     .store_reason = "it holds only AWS_ACCESS_KEY_ID: the missing name may take a request "
                     "of its own"},
    {.name = "heal: half pair, secret only",
     .keys = {CUR(5 * D, 5 * D)},
     .half = 2,
     .actions = "record-intent create validate store propagate#0 propagate#1 record-sync",
     .status = "Reconciling",
     .reason = "only the secret of the pair",
     .store_reason = "it holds only AWS_SECRET_ACCESS_KEY",
     .roles = "legacy"},
    {.name = "heal: stored key gone from IAM",
     .keys = {{.id = "AKIAOTHER", .st = 'A', .age = 50 * D, .used = 2 * H}},
     .store = "AKIAGONE",
     .actions = "record-intent create validate store propagate#0 propagate#1 record-sync",
     .status = "Reconciling",
     .reason = "the stored key AKIAGONE no longer exists in IAM",
     .roles = "legacy"},
    {.name = "heal: stored key Inactive",
     .keys = {{.id = "AKIACUR", .st = 'I', .age = 5 * D, .used = 2 * D, .inactive = 1 * H}},
     .store = "AKIACUR",
     .actions = "record-intent create validate store propagate#0 propagate#1 record-sync",
     .status = "Reconciling",
     .reason = "the stored key AKIACUR is Inactive",
     .forecast = "delete:AKIACUR@2026-06-01T23:00:00Z rotate@2026-07-01T00:00:00Z"},
    {.name = "heal: stored pair does not authenticate",
     .keys = {CUR(5 * D, 5 * D)},
     .store = "AKIACUR",
     .noauth = 1,
     .actions = "record-intent create validate store propagate#0 propagate#1 record-sync",
     .status = "Reconciling",
     .reason = "the stored pair does not authenticate"},
    {.name = "auth not checked is no heal",
     .keys = {CUR(5 * D, 5 * D)},
     .store = "AKIACUR",
     .unchecked = 1,
     .actions = "",
     .status = "Ready"},

    /* ---- making room under the two-key limit ------------------------------ */
    {.name = "room: Inactive predecessor past its window: delete, then create",
     .keys = {CUR(30 * D, 29 * D),
              {.id = "AKIAOLD", .st = 'I', .age = 60 * D, .used = 30 * D, .inactive = 2 * D}},
     .store = "AKIACUR",
     .actions = "delete:AKIAOLD record-intent create validate store propagate#0 propagate#1 "
                "record-sync",
     .status = "Reconciling",
     .reason = "(cadence 30d)",
     .act_reason = "make room: AKIAOLD has been Inactive since 2026-05-30T00:00:00Z "
                   "(deleteAfter 1d elapsed)",
     .roles = "current predecessor"},
    {.name = "room: Inactive predecessor inside its window: Waiting",
     .keys = {CUR(30 * D, 29 * D),
              {.id = "AKIAOLD", .st = 'I', .age = 60 * D, .used = 30 * D, .inactive = 2 * H}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Waiting",
     .reason = "Inactive AKIAOLD is inside its deleteAfter window until 2026-06-01T22:00:00Z "
               "(`rotor rotate app` cuts it short)",
     .forecast = "delete:AKIAOLD@2026-06-01T22:00:00Z rotate:AKIACUR@2026-06-01T22:00:00Z"},
    {.name = "room: rotor rotate cuts the window and says so",
     .rotate_now = 1,
     .keys = {CUR(3 * D, 3 * D),
              {.id = "AKIAOLD", .st = 'I', .age = 60 * D, .used = 30 * D, .inactive = 2 * H}},
     .store = "AKIACUR",
     .actions = "delete:AKIAOLD record-intent create validate store propagate#0 propagate#1 "
                "record-sync",
     .status = "Reconciling",
     .reason = "rotor rotate",
     .act_reason = "deleting Inactive AKIAOLD early because the rotation was requested "
                   "explicitly (its deleteAfter window would end 2026-06-01T22:00:00Z)"},
    {.name = "room: rotateRequestedAt cuts the window too",
     .rra = -1 * H,
     .keys = {CUR(3 * D, 3 * D),
              {.id = "AKIAOLD", .st = 'I', .age = 60 * D, .used = 30 * D, .inactive = 2 * H}},
     .store = "AKIACUR",
     .actions = "delete:AKIAOLD record-intent create validate store propagate#0 propagate#1 "
                "record-sync",
     .status = "Reconciling",
     .reason = "spec.rotateRequestedAt",
     .act_reason = "early"},
    {.name = "room: Active predecessor in its grace: Waiting",
     .keys = {CUR(30 * D, 20 * M), {.id = "AKIAOLD", .st = 'A', .age = 60 * D, .used = 40 * M}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Waiting",
     .reason = "the user has 2 keys and AKIAOLD is still Active",
     .forecast = "deactivate:AKIAOLD@2026-06-01T00:40:00Z rotate:AKIACUR@2026-06-02T00:40:00Z"},
    {.name = "room: Active predecessor deactivated now, the rotation waits",
     .keys = {CUR(30 * D, 2 * H), {.id = "AKIAOLD", .st = 'A', .age = 60 * D, .used = 3 * H}},
     .store = "AKIACUR",
     .actions = "deactivate:AKIAOLD",
     .status = "Waiting",
     .reason = "AKIAOLD is still Active",
     .forecast = "delete:AKIAOLD@2026-06-02T00:00:00Z rotate:AKIACUR@2026-06-02T00:00:00Z"},
    {.name = "room: explicit request with an Active predecessor deactivates it first",
     .rotate_now = 1,
     .keys = {CUR(3 * D, 2 * H), {.id = "AKIAOLD", .st = 'A', .age = 60 * D, .used = 3 * H}},
     .store = "AKIACUR",
     .actions = "deactivate:AKIAOLD",
     .status = "Waiting",
     .reason = "rotation due (rotation requested (rotor rotate))",
     .forecast = "rotate:AKIACUR@2026-06-01T00:00:00Z delete:AKIAOLD@2026-06-02T00:00:00Z"},
    {.name = "room: Inactive key without record: record it, Waiting",
     .keys = {CUR(30 * D, 29 * D), {.id = "AKIAOLD", .st = 'I', .age = 60 * D, .used = 30 * D}},
     .store = "AKIACUR",
     .actions = "record-inactive:AKIAOLD",
     .status = "Waiting",
     .reason = "inside its deleteAfter window until 2026-06-02T00:00:00Z"},
    {.name = "room: stored key Inactive, other key Active: Stalled",
     .keys = {{.id = "AKIACUR", .st = 'I', .age = 5 * D, .used = 2 * D, .inactive = 1 * H},
              {.id = "AKIAOLD", .st = 'A', .age = 60 * D, .used = 1 * H}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Stalled",
     .reason = "AKIAOLD is Active: rotor will not deactivate it while the store holds no "
               "working key"},
    {.name = "room: adoption with two Active keys: Stalled",
     .keys = {{.id = "AKIALEGACY1", .st = 'A', .age = 400 * D, .used = 1 * H},
              {.id = "AKIALEGACY2", .st = 'A', .age = 300 * D, .used = 2 * H}},
     .actions = "",
     .status = "Stalled",
     .reason = "deactivate AKIALEGACY1 by hand",
     .roles = "legacy legacy"},
    {.name = "room: adoption with an Inactive legacy key past its window",
     .keys = {{.id = "AKIALEGACY1", .st = 'A', .age = 400 * D, .used = 1 * H},
              {.id = "AKIALEGACY2", .st = 'I', .age = 300 * D, .used = 90 * D, .inactive = 3 * D}},
     .actions = "delete:AKIALEGACY2 record-intent create validate store propagate#0 "
                "propagate#1 record-sync",
     .status = "Reconciling",
     .reason = "adopting"},
    /* IAM allows two keys: a reply with three is implausible (issue 15). */
    {.name = "three keys (implausible), both old Inactive past their window: Stalled",
     .keys = {CUR(30 * D, 29 * D),
              {.id = "AKIAOLD1", .st = 'I', .age = 60 * D, .used = 30 * D, .inactive = 2 * D},
              {.id = "AKIAOLD2", .st = 'I', .age = 90 * D, .used = 60 * D, .inactive = 5 * D}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Stalled",
     .reason = "IAM reports 3 keys for app-user, more than the 2 IAM allows"},
    {.name = "one key listed twice (implausible): Stalled",
     .keys = {CUR(31 * D, 30 * D), {.id = "AKIACUR", .st = 'I', .age = 31 * D, .used = 30 * D}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Stalled",
     .reason = "IAM lists key AKIACUR twice"},
    {.name = "three keys (implausible), one still in its window: Stalled",
     .keys = {CUR(30 * D, 29 * D),
              {.id = "AKIAOLD1", .st = 'I', .age = 60 * D, .used = 30 * D, .inactive = 2 * D},
              {.id = "AKIAOLD2", .st = 'I', .age = 90 * D, .used = 60 * D, .inactive = 2 * H}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Stalled",
     .reason = "AKIACUR (Active), AKIAOLD1 (Inactive), AKIAOLD2 (Inactive)"},

    /* ---- housekeeping and suspension: decided by the planner (issue 16) ---- */
    {.name = "stale record of a deleted key, in sync: forget-record",
     .keys = {CUR(10 * D, 9 * D)},
     .store = "AKIACUR",
     .stale = "AKIAGONE0000000000001",
     .actions = "forget-record:AKIAGONE0000000000001",
     .status = "Reconciling",
     .act_reason = "IAM no longer has that key"},
    {.name = "stale record while Stalled: left alone",
     .keys = {CUR(5 * D, 5 * D), {.id = "AKIANEW", .st = 'A', .age = 1 * D, .used = 1 * H}},
     .store = "AKIACUR",
     .stale = "AKIAGONE0000000000001",
     .actions = "",
     .status = "Stalled"},
    {.name = "suspended by rotor rollback: Suspended, nothing planned",
     .keys = {CUR(40 * D, 39 * D)},
     .store = "AKIACUR",
     .rb_suspended = 1,
     .stale = "AKIAGONE0000000000001",
     .actions = "",
     .status = "Suspended",
     .reason = "suspended by rotor rollback (v1 by=rollback at=T): run `rotor resume app`"},

    /* ---- rollback: every step decided by the planner (issue 16) ---------- */
    {.name = "rollback to the Inactive predecessor: reactivate, restore, propagate, deactivate, "
             "suspend",
     .keys = {CUR(5 * D, 5 * D),
              {.id = "AKIAOLD", .st = 'I', .age = 40 * D, .used = 5 * D, .inactive = 2 * D}},
     .store = "AKIACUR",
     .rb = 1,
     .rb_prev = "AKIAOLD",
     .actions = "rollback-reactivate:AKIAOLD rollback-store:AKIAOLD propagate#0 propagate#1 "
                "deactivate:AKIACUR suspend",
     .status = "Reconciling",
     .reason = "rollback to AKIAOLD requested"},
    {.name = "rollback while the predecessor is still Active: no reactivation",
     .keys = {CUR(1 * D, 1 * D), {.id = "AKIAOLD", .st = 'A', .age = 31 * D, .used = 2 * D}},
     .store = "AKIACUR",
     .rb = 1,
     .rb_prev = "AKIAOLD",
     .actions = "rollback-store:AKIAOLD propagate#0 propagate#1 deactivate:AKIACUR suspend",
     .status = "Reconciling"},
    {.name = "rollback when the previous key is gone: refused, roll forward",
     .keys = {CUR(5 * D, 5 * D)},
     .store = "AKIACUR",
     .rb = 1,
     .rb_prev = "AKIAGONE",
     .actions = "",
     .status = "Stalled",
     .reason = "the previous key AKIAGONE no longer exists in IAM; roll forward instead"},
    {.name = "rollback without an earlier key id in the store's history: refused",
     .keys = {CUR(5 * D, 5 * D)},
     .store = "AKIACUR",
     .rb = 1,
     .rb_prev = "",
     .actions = "",
     .status = "Stalled",
     .reason = "holds no earlier key id than AKIACUR"},

    /* ---- strays ------------------------------------------------------------- */
    {.name = "stray never used, after recorded intent: delete-stray",
     .intent = 2 * H,
     .keys = {CUR(5 * D, 5 * D), {.id = "AKIANEW", .st = 'A', .age = 1 * H, .used = NEVER}},
     .store = "AKIACUR",
     .actions = "delete-stray:AKIANEW",
     .status = "Reconciling",
     .act_reason = "left by an interrupted rotation",
     .roles = "current stray"},
    {.name = "stray never used, no intent: delete-stray",
     .keys = {CUR(5 * D, 5 * D), {.id = "AKIANEW", .st = 'A', .age = 1 * H, .used = NEVER}},
     .store = "AKIACUR",
     .actions = "delete-stray:AKIANEW",
     .status = "Reconciling",
     .act_reason = "created outside rotor and never used"},
    {.name = "stray never used, rotor's record without store version",
     .keys = {CUR(5 * D, 5 * D),
              {.id = "AKIANEW", .st = 'A', .age = 1 * H, .used = NEVER, .rotor = 1}},
     .store = "AKIACUR",
     .actions = "delete-stray:AKIANEW",
     .status = "Reconciling",
     .act_reason = "interrupted rotation"},
    {.name = "stray never used and cadence due: delete-stray, then rotate",
     .keys = {CUR(31 * D, 30 * D), {.id = "AKIANEW", .st = 'A', .age = 1 * H, .used = NEVER}},
     .store = "AKIACUR",
     .actions = "delete-stray:AKIANEW record-intent create validate store propagate#0 "
                "propagate#1 record-sync",
     .status = "Reconciling",
     .reason = "cadence"},
    {.name = "stray used: Stalled with who, where, when; nothing else",
     .keys = {CUR(5 * D, 5 * D), {.id = "AKIANEW", .st = 'A', .age = 1 * D, .used = 3 * H}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Stalled",
     .reason = "stray key AKIANEW is not in the store but was last used "
               "2026-05-31T21:00:00Z by s3 in eu-west-1",
     .forecast = ""},
    {.name = "stray used while a rotation is due: still no action at all",
     .cons = "sd",
     .keys = {CUR(40 * D, 39 * D), {.id = "AKIANEW", .st = 'A', .age = 1 * D, .used = 3 * H}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Stalled",
     .reason = "unknown party"},
    {.name = "stray used after recorded intent is still Stalled",
     .intent = 1 * D,
     .keys = {CUR(5 * D, 5 * D), {.id = "AKIANEW", .st = 'A', .age = 2 * H, .used = 1 * H}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Stalled",
     .reason = "AKIANEW"},
    {.name = "stray with unknown last use: Stalled, no action",
     .keys = {CUR(5 * D, 5 * D), {.id = "AKIANEW", .st = 'A', .age = 1 * D, .used = UNKN}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Stalled",
     .reason = "the last use of AKIANEW could not be read"},
    {.name = "interrupted adoption: empty store, intent, never-used new key",
     .intent = 20 * M,
     .keys = {{.id = "AKIALEGACY", .st = 'A', .age = 300 * D, .used = 1 * H},
              {.id = "AKIANEW", .st = 'A', .age = 10 * M, .used = NEVER}},
     .actions = "delete-stray:AKIANEW record-intent create validate store propagate#0 "
                "propagate#1 record-sync",
     .status = "Reconciling",
     .roles = "legacy stray"},
    {.name = "stale intent: a key rotor stored is no stray",
     .intent = 20 * D,
     .keys = {{.id = "AKIAMINE",
               .st = 'A',
               .age = 10 * D,
               .used = NEVER,
               .synced = 10 * D,
               .sv = 4,
               .rotor = 1}},
     .store = "AKIAGONE",
     .actions = "record-intent create validate store propagate#0 propagate#1 record-sync",
     .status = "Reconciling",
     .reason = "AKIAGONE no longer exists",
     .roles = "legacy"},
    {.name = "used Inactive stray (rolled back) waits out its window",
     .keys = {CUR(40 * D, 2 * H),
              {.id = "AKIANEW",
               .st = 'I',
               .age = 2 * D,
               .used = 3 * H,
               .synced = 2 * D,
               .inactive = 2 * H,
               .sv = 9,
               .rotor = 1}},
     .store = "AKIACUR",
     .cadence = 90 * D,
     .actions = "",
     .status = "Ready",
     .forecast = "delete:AKIANEW@2026-06-01T22:00:00Z rotate:AKIACUR@2026-07-21T00:00:00Z",
     .roles = "current stray"},
    {.name = "used Inactive stray past its window: delete",
     .keys = {CUR(10 * D, 2 * D),
              {.id = "AKIANEW", .st = 'I', .age = 4 * D, .used = 3 * D, .inactive = 2 * D}},
     .store = "AKIACUR",
     .actions = "delete:AKIANEW",
     .status = "Reconciling",
     .act_reason = "Inactive since 2026-05-30T00:00:00Z"},

    /* ---- deactivation gating ---------------------------------------------------- */
    {.name = "deactivate: in sync, grace over, unused since sync",
     .keys = {CUR(2 * D, 2 * H), {.id = "AKIAOLD", .st = 'A', .age = 40 * D, .used = 3 * H}},
     .store = "AKIACUR",
     .actions = "deactivate:AKIAOLD",
     .status = "Reconciling",
     .reason = "every consumer holds AKIACUR since 2026-05-31T22:00:00Z (deactivateAfter 1h "
               "elapsed) and AKIAOLD was not used since",
     .forecast = "delete:AKIAOLD@2026-06-02T00:00:00Z rotate:AKIACUR@2026-06-29T00:00:00Z",
     .roles = "current predecessor"},
    {.name = "deactivate: predecessor never used",
     .keys = {CUR(2 * D, 2 * H), {.id = "AKIAOLD", .st = 'A', .age = 40 * D, .used = NEVER}},
     .store = "AKIACUR",
     .actions = "deactivate:AKIAOLD",
     .status = "Reconciling",
     .reason = "never used"},
    {.name = "deactivate: store-only manifest",
     .cons = "",
     .keys = {CUR(2 * D, 2 * H), {.id = "AKIAOLD", .st = 'A', .age = 40 * D, .used = 3 * H}},
     .store = "AKIACUR",
     .actions = "deactivate:AKIAOLD",
     .status = "Reconciling"},
    {.name = "grace not over: Waiting, deactivation forecast",
     .deact = 6 * H,
     .keys = {CUR(2 * D, 2 * H), {.id = "AKIAOLD", .st = 'A', .age = 40 * D, .used = 3 * H}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Waiting",
     .reason = "deactivateAfter grace: AKIAOLD is deactivated at 2026-06-01T04:00:00Z if unused",
     .forecast = "deactivate:AKIAOLD@2026-06-01T04:00:00Z rotate:AKIACUR@2026-06-29T00:00:00Z"},
    {.name = "used after sync: Stalled, a consumer was missed",
     .keys = {CUR(2 * D, 2 * H), {.id = "AKIAOLD", .st = 'A', .age = 40 * D, .used = 30 * M}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Stalled",
     .reason = "AKIAOLD (the predecessor) was last used 2026-05-31T23:30:00Z by s3 in "
               "eu-west-1, after every consumer switched to AKIACUR at 2026-05-31T22:00:00Z: a "
               "consumer was missed"},
    {.name = "consumer drifted: propagate and record sync, no deactivation",
     .cons = "sd",
     .keys = {CUR(2 * D, 2 * H), {.id = "AKIAOLD", .st = 'A', .age = 40 * D, .used = 3 * H}},
     .store = "AKIACUR",
     .actions = "propagate:AKIACUR#1 record-sync:AKIACUR",
     .status = "Reconciling",
     .reason = "consumer c1 does not hold the store's pair",
     .act_reason = "consumer c1"},
    {.name = "consumer drifted, no predecessor: keep in sync",
     .cons = "ds",
     .keys = {CUR(10 * D, 9 * D)},
     .store = "AKIACUR",
     .actions = "propagate:AKIACUR#0 record-sync:AKIACUR",
     .status = "Reconciling",
     .act_reason = "rewrite it"},
    {.name = "consumer unknown: no deactivation, Unknown",
     .cons = "su",
     .keys = {CUR(2 * D, 2 * H), {.id = "AKIAOLD", .st = 'A', .age = 40 * D, .used = 3 * H}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Unknown",
     .reason = "consumer c1 could not be observed"},
    {.name = "consumer unknown and one drifted: propagate, no sync record",
     .cons = "ud",
     .keys = {CUR(2 * D, 2 * H), {.id = "AKIAOLD", .st = 'A', .age = 40 * D, .used = 3 * H}},
     .store = "AKIACUR",
     .actions = "propagate:AKIACUR#1",
     .status = "Reconciling"},
    {.name = "no sync record yet: record it, the grace starts now",
     .keys = {CUR(2 * D, 0), {.id = "AKIAOLD", .st = 'A', .age = 40 * D, .used = 3 * H}},
     .store = "AKIACUR",
     .actions = "record-sync:AKIACUR",
     .status = "Reconciling",
     .reason = "no record yet"},
    {.name = "predecessor's last use unreadable: Stalled",
     .keys = {CUR(2 * D, 2 * H), {.id = "AKIAOLD", .st = 'A', .age = 40 * D, .used = UNKN}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Stalled",
     .reason = "the last use of AKIAOLD could not be read"},

    /* ---- the Inactive predecessor ---------------------------------------------- */
    {.name = "Inactive predecessor past deleteAfter: delete",
     .keys = {CUR(5 * D, 5 * D),
              {.id = "AKIAOLD", .st = 'I', .age = 40 * D, .used = 5 * D, .inactive = 1 * D}},
     .store = "AKIACUR",
     .actions = "delete:AKIAOLD",
     .status = "Reconciling",
     .reason = "AKIAOLD has been Inactive since 2026-05-31T00:00:00Z (deleteAfter 1d elapsed)"},
    {.name = "Inactive predecessor inside deleteAfter: Ready, deletion forecast",
     .del = 7 * D,
     .keys = {CUR(5 * D, 5 * D),
              {.id = "AKIAOLD", .st = 'I', .age = 40 * D, .used = 5 * D, .inactive = 1 * D}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Ready",
     .forecast = "delete:AKIAOLD@2026-06-07T00:00:00Z rotate:AKIACUR@2026-06-26T00:00:00Z"},
    {.name = "Inactive predecessor without record: record-inactive",
     .keys = {CUR(5 * D, 5 * D), {.id = "AKIAOLD", .st = 'I', .age = 40 * D, .used = 5 * D}},
     .store = "AKIACUR",
     .actions = "record-inactive:AKIAOLD",
     .status = "Reconciling",
     .reason = "rotor has no record of since when",
     .forecast = "delete:AKIAOLD@2026-06-02T00:00:00Z rotate:AKIACUR@2026-06-26T00:00:00Z"},

    /* ---- what could not be observed --------------------------------------------- */
    {.name = "IAM unknown: Unknown, nothing even when due",
     .iam_unknown = 1,
     .keys = {CUR(40 * D, 39 * D)},
     .store = "AKIACUR",
     .actions = "",
     .status = "Unknown",
     .reason = "could not read app-user's keys"},
    {.name = "store unknown: Unknown, nothing even when due",
     .store_unknown = 1,
     .keys = {CUR(40 * D, 39 * D)},
     .store = "AKIACUR",
     .actions = "",
     .status = "Unknown",
     .reason = "could not read the store"},

    /* ---- modes --------------------------------------------------------------------- */
    {.name = "suspend: nothing, whatever is due",
     .suspend = 1,
     .cons = "d",
     .keys = {CUR(40 * D, 39 * D), {.id = "AKIANEW", .st = 'A', .age = 1 * D, .used = NEVER}},
     .store = "AKIACUR",
     .actions = "",
     .status = "Suspended",
     .reason = "spec.suspend is true",
     .roles = "current stray"},
    {.name = "observe: the same rotation, reported only",
     .observe = 1,
     .keys = {CUR(30 * D, 29 * D)},
     .store = "AKIACUR",
     .actions = "record-intent create validate store propagate#0 propagate#1 record-sync",
     .status = "Reconciling",
     .reason = "cadence"},
    {.name = "observe: drift and a stray reported",
     .observe = 1,
     .cons = "ds",
     .keys = {CUR(5 * D, 5 * D), {.id = "AKIANEW", .st = 'A', .age = 1 * H, .used = NEVER}},
     .store = "AKIACUR",
     .actions = "delete-stray:AKIANEW propagate:AKIACUR#0 record-sync:AKIACUR",
     .status = "Reconciling"},

    /* ---- store-only manifests -------------------------------------------------------- */
    {.name = "store-only: rotation without consumers",
     .cons = "",
     .keys = {CUR(30 * D, 29 * D)},
     .store = "AKIACUR",
     .actions = "record-intent create validate store record-sync",
     .status = "Reconciling"},
    {.name = "store-only: in sync, nothing to do",
     .cons = "",
     .keys = {CUR(3 * D, 3 * D)},
     .store = "AKIACUR",
     .actions = "",
     .status = "Ready"},
    {.name = "store-only: no sync record yet",
     .cons = "",
     .keys = {CUR(3 * D, 0)},
     .store = "AKIACUR",
     .actions = "record-sync:AKIACUR",
     .status = "Reconciling"},
    {.name = "rotation with a consumer unknown: no sync record, no deactivate forecast",
     .cons = "su",
     .keys = {CUR(30 * D, 29 * D)},
     .store = "AKIACUR",
     .actions = "record-intent create validate store propagate#0",
     .status = "Reconciling",
     .forecast = "rotate@2026-07-01T00:00:00Z"},
};

/* clang-format on */

/* ---- building the inputs ------------------------------------------------- */

static struct rotor_consumer consumers[8];
static const char *const consumer_names[8] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"};

static void build_extra(const struct row *r, struct rotor_observed *o)
{
	if (r->stale) {
		snprintf(o->stale_records[0], sizeof(o->stale_records[0]), "%s", r->stale);
		o->nstale = 1;
	}
	if (r->rb) {
		o->rollback = 1;
		o->rollback_history_known = 1;
		snprintf(o->rollback_prev_akid, sizeof(o->rollback_prev_akid), "%s",
		         r->rb_prev ? r->rb_prev : "");
		o->rollback_prev_akid_version = 1;
	}
	if (r->rb_suspended) {
		o->suspended_by_rollback = 1;
		snprintf(o->suspended_note, sizeof(o->suspended_note), "v1 by=rollback at=T");
	}
}

static void build(const struct row *r, struct rotor_manifest *m, struct rotor_observed *o)
{
	const char *cons = r->cons ? r->cons : "ss";
	memset(m, 0, sizeof(*m));
	memset(o, 0, sizeof(*o));
	memset(consumers, 0, sizeof(consumers));
	m->name = "app";
	m->user = "app-user";
	m->aws = "aws-prod";
	m->cadence = r->cadence ? r->cadence : 30 * D;
	m->deactivate_after = r->deact ? r->deact : 1 * H;
	m->delete_after = r->del ? r->del : 1 * D;
	m->rotate_requested_at = r->rra ? NOW + r->rra : 0;
	m->mode = r->observe ? ROTOR_MODE_OBSERVE : ROTOR_MODE_ENFORCE;
	m->suspend = r->suspend;
	m->store.connection = "infisical-main";
	m->store.secret_path = "/aws";
	m->store.akid_name = "AWS_ACCESS_KEY_ID";
	m->store.secret_name = "AWS_SECRET_ACCESS_KEY";
	m->nconsumers = strlen(cons);
	m->consumers = consumers;
	for (size_t i = 0; i < m->nconsumers; i++) {
		consumers[i].name = (char *)consumer_names[i];
		consumers[i].kind = (enum rotor_consumer_kind)(i % 3);
		o->consumers[i].state = cons[i] == 's'   ? ROTOR_CONSUMER_IN_SYNC
		                        : cons[i] == 'd' ? ROTOR_CONSUMER_DRIFTED
		                                         : ROTOR_CONSUMER_UNKNOWN;
		snprintf(o->consumers[i].detail, sizeof(o->consumers[i].detail), "%s",
		         cons[i] == 'd'   ? "holds AKIAOLD"
		         : cons[i] == 'u' ? "HTTP 503"
		                          : "");
	}
	o->nconsumers = (int)m->nconsumers;

	o->iam_known = !r->iam_unknown;
	o->store_known = !r->store_unknown;
	snprintf(o->iam_error, sizeof(o->iam_error), "%s", r->iam_unknown ? "throttled" : "");
	snprintf(o->store_error, sizeof(o->store_error), "%s", r->store_unknown ? "HTTP 500" : "");
	for (int i = 0; i < 3 && r->keys[i].id; i++) {
		const struct kspec *s = &r->keys[i];
		struct rotor_obs_key *k = &o->keys[o->nkeys++];
		snprintf(k->id, sizeof(k->id), "%s", s->id);
		k->active = s->st == 'A';
		k->created = NOW - s->age;
		k->last_used_known = s->used != UNKN;
		k->last_used = s->used >= 0 ? NOW - s->used : 0;
		if (k->last_used) {
			snprintf(k->last_service, sizeof(k->last_service), "s3");
			snprintf(k->last_region, sizeof(k->last_region), "eu-west-1");
		}
		struct rotor_key_record *rec = &k->record;
		rec->present = s->synced || s->inactive || s->sv || s->rotor;
		snprintf(rec->manifest, sizeof(rec->manifest), "%s", rec->present ? "app" : "");
		rec->created = s->rotor ? k->created : 0;
		rec->synced = s->synced ? NOW - s->synced : 0;
		rec->inactive = s->inactive ? NOW - s->inactive : 0;
		rec->store_version = s->sv;
	}
	o->intent_at = r->intent ? NOW - r->intent : 0;
	if (r->store || r->half == 2) {
		o->store_has_akid = r->half != 2;
		o->store_has_secret = r->half != 1;
		snprintf(o->store_akid, sizeof(o->store_akid), "%s",
		         o->store_has_akid ? r->store : "");
		o->store_akid_version = o->store_secret_version = 3;
		o->store_auth = r->noauth ? 0 : r->unchecked ? -1 : 1;
		if (r->noauth)
			snprintf(o->store_auth_detail, sizeof(o->store_auth_detail),
			         "InvalidClientTokenId");
	} else {
		o->store_auth = -1;
	}
	o->rotate_now = r->rotate_now;
}

/* ---- the checker ---------------------------------------------------------- */

static void format_actions(char *buf, size_t len, const struct rotor_manifest_plan *p)
{
	size_t o = 0;
	buf[0] = '\0';
	for (int i = 0; i < p->nactions && o < len; i++) {
		const struct rotor_action *a = &p->actions[i];
		int w = snprintf(buf + o, len - o, "%s%s%s%s", i ? " " : "",
		                 rotor_action_name(a->kind), a->key_id[0] ? ":" : "", a->key_id);
		o += (size_t)w;
		if (a->consumer >= 0 && o < len)
			o += (size_t)snprintf(buf + o, len - o, "#%d", a->consumer);
	}
}

static const char *forecast_kind(enum rotor_forecast_kind k)
{
	return k == ROTOR_FC_ROTATE ? "rotate" : k == ROTOR_FC_DEACTIVATE ? "deactivate" : "delete";
}

static void format_forecast(char *buf, size_t len, const struct rotor_manifest_plan *p)
{
	size_t o = 0;
	char t[32];
	buf[0] = '\0';
	for (int i = 0; i < p->nforecast && o < len; i++) {
		const struct rotor_forecast *f = &p->forecast[i];
		rotor_time_format(t, sizeof(t), f->at);
		o +=
		    (size_t)snprintf(buf + o, len - o, "%s%s%s%s@%s", i ? " " : "",
		                     forecast_kind(f->kind), f->key_id[0] ? ":" : "", f->key_id, t);
	}
}

static void format_roles(char *buf, size_t len, const struct rotor_manifest_plan *p,
                         const struct rotor_observed *o)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int i = 0; i < o->nkeys && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? " " : "",
		                      rotor_role_name(p->roles[i]));
}

static int check_row(const struct row *r)
{
	struct rotor_manifest m;
	struct rotor_observed o;
	struct rotor_manifest_plan p;
	char got[1024], fc[512], roles[128];
	int bad = 0;
	build(r, &m, &o);
	build_extra(r, &o);
	rotor_plan_compute(&m, &o, NOW, &p);
	format_actions(got, sizeof(got), &p);
	format_forecast(fc, sizeof(fc), &p);
	format_roles(roles, sizeof(roles), &p, &o);
	if (strcmp(got, r->actions) != 0) {
		printf("  actions:  expected \"%s\"\n            actual   \"%s\"\n", r->actions,
		       got);
		bad = 1;
	}
	if (strcmp(rotor_status_name(p.status), r->status) != 0) {
		printf("  status:   expected %s, actual %s\n", r->status,
		       rotor_status_name(p.status));
		bad = 1;
	}
	if (r->reason && !strstr(p.status_reason, r->reason)) {
		printf("  reason:   expected to contain \"%s\"\n", r->reason);
		bad = 1;
	}
	if (r->act_reason && (p.nactions == 0 || !strstr(p.actions[0].reason, r->act_reason))) {
		printf("  action reason: expected \"%s\" in \"%s\"\n", r->act_reason,
		       p.nactions ? p.actions[0].reason : "(no action)");
		bad = 1;
	}
	if (r->store_reason) {
		const char *sr = NULL;
		for (int i = 0; i < p.nactions; i++)
			if (p.actions[i].kind == ROTOR_ACT_STORE)
				sr = p.actions[i].reason;
		if (!sr || !strstr(sr, r->store_reason)) {
			printf("  store reason: expected \"%s\" in \"%s\"\n", r->store_reason,
			       sr ? sr : "(no store action)");
			bad = 1;
		}
	}
	if (r->forecast && strcmp(fc, r->forecast) != 0) {
		printf("  forecast: expected \"%s\"\n            actual   \"%s\"\n", r->forecast,
		       fc);
		bad = 1;
	}
	if (r->roles && strcmp(roles, r->roles) != 0) {
		printf("  roles:    expected \"%s\", actual \"%s\"\n", r->roles, roles);
		bad = 1;
	}
	if (p.observe_only != r->observe) {
		printf("  observe_only: expected %d, actual %d\n", r->observe, p.observe_only);
		bad = 1;
	}
	if (p.rotation_due != (strstr(got, "create") != NULL)) {
		printf("  rotation_due %d disagrees with the actions\n", p.rotation_due);
		bad = 1;
	}
	if (bad) {
		printf("  status reason: %s\n", p.status_reason);
		for (int i = 0; i < p.nactions; i++)
			printf("  action %d reason: %s\n", i, p.actions[i].reason);
	}
	return bad;
}

static void test_decision_table(void **state)
{
	(void)state;
	size_t n = sizeof(rows) / sizeof(rows[0]), failed = 0;
	for (size_t i = 0; i < n; i++) {
		if (check_row(&rows[i])) {
			printf("FAIL case %zu: %s\n", i, rows[i].name);
			failed++;
		}
	}
	printf("%zu decision-table cases, %zu failed\n", n, failed);
	assert_true(n >= 40);
	assert_int_equal(failed, 0);
}

/* ---- the --max-deletions guard, across plans ------------------------------ */

static const struct row guard_rows[] = {
    /* 0: a deletion to make room (the stored key is gone: heal), then a rotation */
    {.name = "a",
     .keys = {{.id = "AKIAOLD", .st = 'I', .age = 60 * D, .used = 30 * D, .inactive = 2 * D},
              {.id = "AKIANEW", .st = 'A', .age = 1 * H, .used = NEVER}},
     .store = "AKIAGONE"},
    /* 1: observe mode: its deletion is reported, never counted */
    {.name = "b",
     .observe = 1,
     .keys = {CUR(5 * D, 5 * D),
              {.id = "AKIAOLD", .st = 'I', .age = 40 * D, .used = 5 * D, .inactive = 2 * D}},
     .store = "AKIACUR"},
    /* 2: one deletion: past the limit of 2 */
    {.name = "c",
     .keys = {CUR(5 * D, 5 * D),
              {.id = "AKIAOLD", .st = 'I', .age = 40 * D, .used = 5 * D, .inactive = 2 * D}},
     .store = "AKIACUR"},
    /* 3: a rotation that needs a deletion first: held with it */
    {.name = "d",
     .keys = {CUR(30 * D, 29 * D),
              {.id = "AKIAOLD", .st = 'I', .age = 60 * D, .used = 30 * D, .inactive = 2 * D}},
     .store = "AKIACUR"},
    /* 4: no deletion: untouched */
    {.name = "e", .keys = {CUR(30 * D, 29 * D)}, .store = "AKIACUR"},
};

static void test_max_deletions(void **state)
{
	(void)state;
	enum { N = sizeof(guard_rows) / sizeof(guard_rows[0]) };
	static struct rotor_manifest ms[N];
	static struct rotor_observed os[N];
	static struct rotor_manifest_plan ps[N];
	static struct rotor_consumer cons[N][8];
	char got[1024];
	for (int i = 0; i < N; i++) {
		build(&guard_rows[i], &ms[i], &os[i]);
		memcpy(cons[i], consumers, sizeof(consumers));
		ms[i].consumers = cons[i];
		rotor_plan_compute(&ms[i], &os[i], NOW, &ps[i]);
	}
	format_actions(got, sizeof(got), &ps[0]);
	assert_string_equal(got, "delete:AKIAOLD record-intent create validate store propagate#0 "
	                         "propagate#1 record-sync");
	assert_true(ps[3].rotation_due);
	assert_int_equal(rotor_plan_limit_deletions(ps, N, 1), 1);

	format_actions(got, sizeof(got), &ps[0]);
	assert_string_equal(got, "delete:AKIAOLD record-intent create validate store propagate#0 "
	                         "propagate#1 record-sync");
	assert_int_equal(ps[0].deletions_held, 0);

	format_actions(got, sizeof(got), &ps[1]); /* observe: not counted, not cut */
	assert_string_equal(got, "delete:AKIAOLD");

	assert_int_equal(ps[2].nactions, 0);
	assert_int_equal(ps[2].deletions_held, 1);
	assert_string_equal(rotor_status_name(ps[2].status), "Waiting");
	assert_non_null(strstr(ps[2].status_reason, "held by --max-deletions=1"));

	assert_int_equal(ps[3].nactions, 0); /* the rotation stops before its deletion */
	assert_int_equal(ps[3].deletions_held, 8);
	assert_false(ps[3].rotation_due);
	assert_int_equal(ps[3].nforecast, 0);

	format_actions(got, sizeof(got), &ps[4]);
	assert_string_equal(got, "record-intent create validate store propagate#0 propagate#1 "
	                         "record-sync");
	assert_true(rotor_plan_has_changes(ps, N));

	struct rotor_plan_summary s;
	rotor_plan_summarize(ps, N, &s);
	assert_int_equal(s.to_rotate, 2); /* a and e; d was held */
	assert_int_equal(s.observe_only, 1);

	/* A limit of 0 holds every deletion; a high one none. */
	for (int i = 0; i < N; i++)
		rotor_plan_compute(&ms[i], &os[i], NOW, &ps[i]);
	assert_int_equal(rotor_plan_limit_deletions(ps, N, 0), 0);
	assert_int_equal(ps[0].nactions, 0);
	assert_int_equal(ps[2].nactions, 0);
	assert_int_equal(ps[4].nactions, 7);
	for (int i = 0; i < N; i++)
		rotor_plan_compute(&ms[i], &os[i], NOW, &ps[i]);
	assert_int_equal(rotor_plan_limit_deletions(ps, N, 10), 3);
	for (int i = 0; i < N; i++)
		assert_int_equal(ps[i].deletions_held, 0);
}

/* Names used by the renderers and the docs stay what they are. */
static void test_names(void **state)
{
	(void)state;
	static const char *const kinds[] = {
	    "delete-stray",   "delete",          "record-intent", "create",
	    "validate",       "store",           "propagate",     "record-sync",
	    "deactivate",     "record-inactive", "forget-record", "rollback-reactivate",
	    "rollback-store", "suspend"};
	for (int k = 0; k < ROTOR_ACT__COUNT; k++) {
		assert_string_equal(rotor_action_name((enum rotor_action_kind)k), kinds[k]);
		assert_int_equal(rotor_action_mutates((enum rotor_action_kind)k),
		                 k != ROTOR_ACT_VALIDATE);
	}
	assert_string_equal(rotor_status_name(ROTOR_STATUS_READY), "Ready");
	assert_string_equal(rotor_status_name(ROTOR_STATUS_RECONCILING), "Reconciling");
	assert_string_equal(rotor_status_name(ROTOR_STATUS_WAITING), "Waiting");
	assert_string_equal(rotor_status_name(ROTOR_STATUS_STALLED), "Stalled");
	assert_string_equal(rotor_status_name(ROTOR_STATUS_SUSPENDED), "Suspended");
	assert_string_equal(rotor_status_name(ROTOR_STATUS_UNKNOWN), "Unknown");
	assert_string_equal(rotor_role_name(ROTOR_ROLE_CURRENT), "current");
	assert_string_equal(rotor_role_name(ROTOR_ROLE_PREDECESSOR), "predecessor");
	assert_string_equal(rotor_role_name(ROTOR_ROLE_STRAY), "stray");
	assert_string_equal(rotor_role_name(ROTOR_ROLE_LEGACY), "legacy");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decision_table),
	    cmocka_unit_test(test_max_deletions),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
