/*-------------------------------------------------------------------------
 *
 * nagare.c
 *	  _PG_init: settings, shared memory hooks and background workers.
 *
 * The root of the extension: it may call into any subsystem, and nothing
 * calls into it.
 *
 * nagare must be in shared_preload_libraries: the broker is a background
 * worker started by the postmaster, and its queue lives in shared memory.
 * Loaded any other way (a plain LOAD, or CREATE EXTENSION without preload),
 * the SQL functions refuse to run with a hint that says so.
 *
 * The fourth worker, "nagare http" (web/web.c), is registered only while
 * nagare.http_listen_addresses is not empty; the fifth, "nagare dns"
 * (registry/dns_server.c), only while nagare.dns_listen_addresses is not.
 *
 * The settings are guc.c's (and topic/config.c's for the topic defaults);
 * _PG_init registers them first, then asks for shared memory and starts the
 * workers.
 *
 * It also watches for DROP EXTENSION nagare (an object access hook): the
 * dropping transaction, once committed, wakes the nagare worker, which then
 * cleans up what the extension leaves outside its catalog (its replication
 * slot, the broker's topics and their files; worker/worker.c).  An event
 * trigger could not: the extension's own triggers are gone by the time a
 * sql_drop trigger fires, and ddl_command_start comes before the drop is
 * decided.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "utils/guc.h"

#include "nagare.h"
#include "shmem.h"
#include "sql/send.h"
#include "topic/config.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static void nagare_register_workers(void);
static void nagare_object_access(ObjectAccessType access, Oid classId, Oid objectId,
								 int subId, void *arg);

static object_access_hook_type prev_object_access_hook = NULL;

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	nagare_define_gucs();
	nagare_topic_define_gucs();
	MarkGUCPrefixReserved("nagare");
	nagare_shmem_install_hooks();
	nagare_register_workers();
	RegisterXactCallback(nagare_send_xact_callback, NULL);
	RegisterSubXactCallback(nagare_send_subxact_callback, NULL);
	prev_object_access_hook = object_access_hook;
	object_access_hook = nagare_object_access;
}

/*
 * DROP EXTENSION nagare: wake the nagare worker when the transaction
 * commits (as topic DDL does).
 */
static void
nagare_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId,
					 void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access == OAT_DROP && classId == ExtensionRelationId)
	{
		char *name = get_extension_name(objectId);

		if (name != NULL && strcmp(name, "nagare") == 0)
			nagare_xact_note_ddl();
	}
}

static void
nagare_register_workers(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 1;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "nagare");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "nagare_broker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "nagare broker");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "nagare broker");
	RegisterBackgroundWorker(&bgw);

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "nagare");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "nagare_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "nagare worker");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "nagare worker");
	RegisterBackgroundWorker(&bgw);

	/* publish() and table topics: logical decoding into the topics */
	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "nagare");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "nagare_ingest_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "nagare ingest");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "nagare ingest");
	RegisterBackgroundWorker(&bgw);

	/* the HTTP endpoint (web/web.c): no database, shared memory only */
	if (nagare_http_listen_addresses != NULL && nagare_http_listen_addresses[0] != '\0')
	{
		memset(&bgw, 0, sizeof(bgw));
		bgw.bgw_flags = BGWORKER_SHMEM_ACCESS;
		bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
		bgw.bgw_restart_time = 10;
		snprintf(bgw.bgw_library_name, BGW_MAXLEN, "nagare");
		snprintf(bgw.bgw_function_name, BGW_MAXLEN, "nagare_http_main");
		snprintf(bgw.bgw_name, BGW_MAXLEN, "nagare http");
		snprintf(bgw.bgw_type, BGW_MAXLEN, "nagare http");
		RegisterBackgroundWorker(&bgw);
	}

	/* the registry's DNS server (registry/dns_server.c): shared memory only */
	if (nagare_dns_listen_addresses != NULL && nagare_dns_listen_addresses[0] != '\0')
	{
		memset(&bgw, 0, sizeof(bgw));
		bgw.bgw_flags = BGWORKER_SHMEM_ACCESS;
		bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
		bgw.bgw_restart_time = 10;
		snprintf(bgw.bgw_library_name, BGW_MAXLEN, "nagare");
		snprintf(bgw.bgw_function_name, BGW_MAXLEN, "nagare_dns_main");
		snprintf(bgw.bgw_name, BGW_MAXLEN, "nagare dns");
		snprintf(bgw.bgw_type, BGW_MAXLEN, "nagare dns");
		RegisterBackgroundWorker(&bgw);
	}
}
