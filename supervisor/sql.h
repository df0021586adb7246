/* SQL shared by several routes. JSON is built by PostgreSQL so replies need no re-encoding. */
#ifndef WAGATE_SQL_H
#define WAGATE_SQL_H

/* Evolution's timestamp format: ISO 8601 in UTC with milliseconds and Z. */
#define SQL_TS(col) "to_char((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define SQL_SETTING_JSON(alias)                                                                   \
	"json_build_object('id', " alias ".instance_id, 'rejectCall', " alias ".reject_call,"      \
	" 'msgCall', " alias ".msg_call, 'groupsIgnore', " alias ".groups_ignore,"                 \
	" 'alwaysOnline', " alias ".always_online, 'readMessages', " alias ".read_messages,"       \
	" 'readStatus', " alias ".read_status, 'syncFullHistory', " alias ".sync_full_history,"    \
	" 'wavoipToken', " alias ".wavoip_token, 'createdAt', " SQL_TS(alias ".created_at") ","    \
	" 'updatedAt', " SQL_TS(alias ".updated_at") ", 'instanceId', " alias ".instance_id)"

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

/* $1 client name, $2 instance id, $3 instance name, $4 number, $5 token (NULL for the global key).
 * Counts are aggregated once per table for the selected instances instead of one subquery per row. */
#define SQL_FETCH_INSTANCES                                                                       \
	"WITH sel AS (SELECT * FROM instance i WHERE i.client_name = $1"                           \
	" AND ($2::text IS NULL OR i.id = $2::uuid) AND ($3::text IS NULL OR i.name = $3)"         \
	" AND ($4::text IS NULL OR i.number = $4) AND ($5::text IS NULL OR i.token = $5)),"        \
	" mc AS (SELECT instance_id, count(*) AS n FROM message WHERE instance_id IN (SELECT id FROM sel) GROUP BY 1)," \
	" cc AS (SELECT instance_id, count(*) AS n FROM contact WHERE instance_id IN (SELECT id FROM sel) GROUP BY 1)," \
	" hc AS (SELECT instance_id, count(*) AS n FROM chat WHERE instance_id IN (SELECT id FROM sel) GROUP BY 1)"   \
	" SELECT coalesce(json_agg(json_build_object("                                             \
	"'id', i.id, 'name', i.name, 'connectionStatus', i.connection_status,"                    \
	" 'ownerJid', i.owner_jid, 'profileName', i.profile_name, 'profilePicUrl', i.profile_pic_url," \
	" 'integration', i.integration, 'number', i.number, 'businessId', i.business_id,"         \
	" 'token', i.token, 'clientName', i.client_name,"                                          \
	" 'disconnectionReasonCode', i.disconnection_reason_code,"                                 \
	" 'disconnectionObject', i.disconnection_object,"                                          \
	" 'disconnectionAt', " SQL_TS("i.disconnection_at") ","                                   \
	" 'createdAt', " SQL_TS("i.created_at") ", 'updatedAt', " SQL_TS("i.updated_at") ","      \
	" 'Chatwoot', NULL,"                                                                        \
	" 'Proxy', CASE WHEN p.instance_id IS NULL THEN NULL ELSE " SQL_PROXY_JSON("p") " END,"    \
	" 'Rabbitmq', NULL, 'Sqs', NULL, 'Websocket', NULL,"                                       \
	" 'Setting', CASE WHEN s.instance_id IS NULL THEN NULL ELSE " SQL_SETTING_JSON("s") " END," \
	" '_count', json_build_object('Message', coalesce(mc.n, 0), 'Contact', coalesce(cc.n, 0),"  \
	" 'Chat', coalesce(hc.n, 0))"                                                              \
	") ORDER BY i.created_at, i.name), '[]'::json)::text"                                      \
	" FROM sel i LEFT JOIN instance_setting s ON s.instance_id = i.id"                         \
	" LEFT JOIN instance_proxy p ON p.instance_id = i.id"                                      \
	" LEFT JOIN mc ON mc.instance_id = i.id LEFT JOIN cc ON cc.instance_id = i.id"             \
	" LEFT JOIN hc ON hc.instance_id = i.id"

#endif
