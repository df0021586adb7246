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

/* $1 client name, $2 instance id, $3 instance name, $4 number, $5 token (NULL for the global key). */
#define SQL_FETCH_INSTANCES                                                                       \
	"SELECT coalesce(json_agg(json_build_object("                                              \
	"'id', i.id, 'name', i.name, 'connectionStatus', i.connection_status,"                    \
	" 'ownerJid', i.owner_jid, 'profileName', i.profile_name, 'profilePicUrl', i.profile_pic_url," \
	" 'integration', i.integration, 'number', i.number, 'businessId', i.business_id,"         \
	" 'token', i.token, 'clientName', i.client_name,"                                          \
	" 'disconnectionReasonCode', i.disconnection_reason_code,"                                 \
	" 'disconnectionObject', i.disconnection_object,"                                          \
	" 'disconnectionAt', " SQL_TS("i.disconnection_at") ","                                   \
	" 'createdAt', " SQL_TS("i.created_at") ", 'updatedAt', " SQL_TS("i.updated_at") ","      \
	" 'Chatwoot', NULL,"                                                                        \
	" 'Proxy', (SELECT " SQL_PROXY_JSON("p") " FROM instance_proxy p WHERE p.instance_id = i.id)," \
	" 'Rabbitmq', NULL, 'Sqs', NULL, 'Websocket', NULL,"                                       \
	" 'Setting', (SELECT " SQL_SETTING_JSON("s") " FROM instance_setting s WHERE s.instance_id = i.id)," \
	" '_count', json_build_object("                                                            \
	"'Message', (SELECT count(*) FROM message m WHERE m.instance_id = i.id),"                  \
	" 'Contact', (SELECT count(*) FROM contact ct WHERE ct.instance_id = i.id),"               \
	" 'Chat', (SELECT count(*) FROM chat ch WHERE ch.instance_id = i.id))"                     \
	") ORDER BY i.created_at, i.name), '[]'::json)::text"                                      \
	" FROM instance i WHERE i.client_name = $1"                                                \
	" AND ($2::text IS NULL OR i.id = $2::uuid) AND ($3::text IS NULL OR i.name = $3)"         \
	" AND ($4::text IS NULL OR i.number = $4) AND ($5::text IS NULL OR i.token = $5)"

#endif
