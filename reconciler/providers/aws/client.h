/*
 * client.h (internal): one Query-protocol call, shared by iam.c and sts.c.
 */
/* Thread rules: as aws.h: a client carries one HTTP handle, one thread at a time. */
#ifndef ROTOR_AWS_CLIENT_H
#define ROTOR_AWS_CLIENT_H

#include "providers/aws/aws.h"
#include "xml.h"

struct aws_param {
	const char *name;
	const char *value; /* may be a secret's bytes: the body is wiped */
};

#define AWS_MAX_PARAMS 128

struct aws_call {
	const char *action;  /* "ListAccessKeys" */
	const char *version; /* "2010-05-08" */
	struct aws_param params[AWS_MAX_PARAMS];
	size_t nparams;
	const struct rotor_aws_credentials *as; /* sign with these, else the provider */
	int unsigned_call;                      /* AssumeRoleWithWebIdentity */
	int not_idempotent;                     /* CreateAccessKey: a lost reply may hide a
	                                           created key, so a connection failure is
	                                           not retried (an error reply still is) */
	char what[160];                         /* "CreateAccessKey(raxx-s3-backup)" */
};

/* The clock the client signs and sleeps with. */
struct rotor_clock *rotor_aws_client_clock(struct rotor_aws_client *c);

/* Adds a parameter (pointers borrowed). */
void rotor_aws_call_param(struct aws_call *call, const char *name, const char *value);

/* Performs the call with AWS's standard retries. On success *result is
 * the reply's root element (free with rotor_xml_free). On an AWS error, err
 * holds the kind, the AWS code, the request id and a message that names
 * the call and says what to do. */
int rotor_aws_call_do(struct rotor_aws_client *c, struct aws_call *call, struct xnode **result,
                      struct rotor_error *err);

/* The kind an AWS error code maps onto (HTTP status as a fallback). */
int rotor_aws_error_kind(const char *code, long status);
/* Whether an AWS error code is worth retrying (throttling and failures). */
int rotor_aws_error_retryable(const char *code);

#endif
