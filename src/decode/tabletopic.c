/*-------------------------------------------------------------------------
 *
 * tabletopic.c
 *	  Which tables feed a topic (nagare.table_topic), for the checks of
 *	  other modules.
 *
 * nagare.delete_topic() refuses to delete the topic of a table topic
 * (sql/topics.c): its changes would have nowhere to go.  The caller has
 * already passed its ACL check (DELETE on the TOPIC), so the catalog is read
 * here directly, whatever the caller's privileges on nagare.table_topic.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "decode/decode.h"

/*
 * The table (schema-qualified, e.g. public.orders) of a table topic whose
 * topic is name, or NULL if none; palloc'd.
 */
char *
nagare_table_topic_of(const char *name)
{
	Oid nsp = get_namespace_oid("nagare", true);
	Oid cfgid = OidIsValid(nsp) ? get_relname_relid("table_topic", nsp) : InvalidOid;
	Relation cfg;
	SysScanDesc scan;
	HeapTuple tup;
	char *found = NULL;

	if (!OidIsValid(cfgid))
		return NULL;
	cfg = table_open(cfgid, AccessShareLock);
	scan = systable_beginscan(cfg, InvalidOid, false, NULL, 0, NULL);
	while (found == NULL && (tup = systable_getnext(scan)) != NULL)
	{
		bool isnull;
		Datum relid = heap_getattr(tup, 1, RelationGetDescr(cfg), &isnull);
		Datum topic = heap_getattr(tup, 2, RelationGetDescr(cfg), &isnull);

		if (strcmp(TextDatumGetCString(topic), name) == 0)
		{
			Oid r = DatumGetObjectId(relid);
			char *rel = get_rel_name(r);

			found =
				rel ? quote_qualified_identifier(get_namespace_name(get_rel_namespace(r)),
												 rel)
					: psprintf("%u", r);
		}
	}
	systable_endscan(scan);
	table_close(cfg, AccessShareLock);
	return found;
}
