/* SQL shared by several routes. JSON is built by PostgreSQL so replies need no re-encoding. */
#ifndef WAGATE_SQL_H
#define WAGATE_SQL_H

/* Evolution's timestamp format: ISO 8601 in UTC with milliseconds and Z. */
#define SQL_TS(col) "to_char((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define SQL_PROXY_JSON(alias)                                                                     \
	"json_build_object('id', " alias ".instance_id, 'enabled', " alias ".enabled,"             \
	" 'host', " alias ".host, 'port', " alias ".port, 'protocol', " alias ".protocol,"         \
	" 'username', " alias ".username, 'password', " alias ".password,"                         \
	" 'createdAt', " SQL_TS(alias ".created_at") ", 'updatedAt', " SQL_TS(alias ".updated_at") "," \
	" 'instanceId', " alias ".instance_id)"

#define SQL_WEBHOOK_JSON(alias)                                                                   \
	"json_build_object('id', " alias ".instance_id, 'url', " alias ".url,"                     \
	" 'headers', " alias ".headers, 'enabled', " alias ".enabled, 'events', to_json(" alias ".events),"  \
	" 'webhookByEvents', " alias ".by_events, 'webhookBase64', " alias ".base64,"              \
	" 'createdAt', " SQL_TS(alias ".created_at") ", 'updatedAt', " SQL_TS(alias ".updated_at") "," \
	" 'instanceId', " alias ".instance_id)"

#endif
