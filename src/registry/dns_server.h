/*-------------------------------------------------------------------------
 *
 * dns_server.h
 *	  The "nagare dns" background worker: the registry's DNS server.
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/registry/dns_server.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_DNS_SERVER_H
#define NAGARE_DNS_SERVER_H

#include "postgres.h"

/* Entry point, registered by ../nagare.c while nagare.dns_listen_addresses is set */
extern PGDLLEXPORT void nagare_dns_main(Datum main_arg);

#endif /* NAGARE_DNS_SERVER_H */
