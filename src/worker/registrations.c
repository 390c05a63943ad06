/*-------------------------------------------------------------------------
 *
 * registrations.c
 *	  The nagare worker carries out the service registry's writes for HTTP
 *	  clients (Consul's agent API, served by the "nagare http" process):
 *	  registering and deregistering instances, and whether a role may beat
 *	  an instance.
 *
 * Each request (NAGARE_REGISTRY_* in shmem.h) runs in a transaction of its
 * own, as the role the http process authenticated ("as"; none when no
 * listener authenticates, and the worker's own role acts), through the
 * same SQL functions users call: nagare._consul_registration() reads
 * Consul's JSON, nagare.register_instance() and deregister_instance()
 * validate, check the walls and write the audit rows (with the HTTP client
 * as nagare.audit_client).  A registration reaches the shared instance
 * table when its transaction commits, before the answer, as from SQL.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "worker/worker.h"

/* The SQL of one request (a transaction of nagare_worker_sql()) */
static bool
registration_sql(void *arg)
{
	NagareWorkerRequest *req = arg;
	Jsonb *payload =
		DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(req->payload)));
	char *as_role = nagare_worker_json_string(payload, "as");
	char *client = nagare_worker_json_string(payload, "k");
	Datum args[2];
	Oid types[2] = {TEXTOID, TEXTOID};
	char nulls[2] = {' ', ' '};
	const char *sql;
	char *s;
	int ret;

	if (client != NULL)
		nagare_worker_set_local("nagare.audit_client", client);
	if (as_role != NULL)
		nagare_worker_set_local("role", as_role);

	switch (req->kind)
	{
		case NAGARE_REGISTRY_REGISTER:
			/*
			 * The body as it came, as a string: read as JSON here, as the
			 * role, so that a malformed body is the client's 22P02 and no
			 * body can add members to the request
			 */
			if ((s = nagare_worker_json_string(payload, "r")) == NULL)
				elog(ERROR, "malformed registration request");
			args[0] = CStringGetTextDatum(s);
			s = nagare_worker_json_string(payload, "peer");
			nulls[1] = s ? ' ' : 'n';
			args[1] = s ? CStringGetTextDatum(s) : (Datum) 0;
			sql = "SELECT nagare.register_instance(r.service, r.id, r.address, r.port, r.tags, "
				  "r.meta, r.ttl, r.deregister_critical_after, r.status) "
				  "FROM nagare._consul_registration($1::jsonb, $2) r";
			ret = SPI_execute_with_args(sql, 2, types, args, nulls, false, 0);
			break;
		case NAGARE_REGISTRY_DEREGISTER:
		case NAGARE_REGISTRY_MAY_BEAT:
			if ((s = nagare_worker_json_string(payload, "id")) == NULL)
				elog(ERROR, "malformed registry request");
			args[0] = CStringGetTextDatum(s);
			sql = req->kind == NAGARE_REGISTRY_DEREGISTER
					  ? "SELECT nagare.deregister_instance($1)"
					  : "SELECT nagare._instance_check($1, 'beat')";
			ret = SPI_execute_with_args(sql, 1, types, args, NULL, false, 0);
			break;
		default:
			elog(ERROR, "unexpected registry request kind %d", (int) req->kind);
	}
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not carry out a registry request: %s",
			 SPI_result_code_string(ret));
	/* asking changes nothing */
	return req->kind != NAGARE_REGISTRY_MAY_BEAT;
}

/*
 * Carry out the registry requests of a pass, each in a transaction of its
 * own, and fill in their answers (no result; an error's SQLSTATE and
 * message).  The caller answers them.
 */
void
nagare_worker_run_registrations(NagareWorkerRequest **reqs, int n)
{
	for (int i = 0; i < n; i++)
	{
		ErrorData *edata = nagare_worker_sql(registration_sql, reqs[i]);

		if (edata != NULL)
		{
			nagare_worker_request_failed(reqs[i], edata);
			FreeErrorData(edata);
		}
		else
			strlcpy(reqs[i]->sqlstate, "00000", sizeof(reqs[i]->sqlstate));
	}
}
