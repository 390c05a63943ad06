/*-------------------------------------------------------------------------
 *
 * console.h
 *	  The console (console.c): read-only web pages under /console/ and
 *	  their JSON API, with logins of PostgreSQL roles kept as sessions.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_WEB_CONSOLE_H
#define NAGARE_WEB_CONSOLE_H

#include "web/web.h"

/* Read the console's files into memory (once, at the process's start) */
extern void nagare_console_init(void);

/*
 * The role of the request's console session cookie: true with who filled
 * (web.c asks this first wherever a request's role is resolved); false
 * when there is none, it is unknown or expired, or nobody logs in.
 */
extern bool nagare_console_session(const HttpRequest *req, WebIdentity *who);

/* /console, /console/, /console/login, /console/logout, /console/assets/... */
extern void nagare_console_page(const HttpRequest *req, WebResponse *resp);
/* GET /console/api/<name>?<parameters> (a route with login) */
extern void nagare_console_api(const HttpRequest *req, WebResponse *resp);

#endif /* NAGARE_WEB_CONSOLE_H */
