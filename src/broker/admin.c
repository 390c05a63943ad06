/* admin.c: placeholder until the worker channel lands */
#include "postgres.h"

#include "broker/admin.h"

bool
nagare_admin_auto_create(const char *name, int len)
{
	return false;
}
