/* Route handlers. Each one replies exactly once through the http_reply_* helpers. */
#ifndef WAGATE_ROUTES_H
#define WAGATE_ROUTES_H

struct http_call;

void route_root(struct http_call *c);
void route_health(struct http_call *c);
void route_metrics(struct http_call *c);
void route_manager(struct http_call *c);
void route_instance_create(struct http_call *c);
void route_instance_connect(struct http_call *c);
void route_instance_state(struct http_call *c);
void route_instance_restart(struct http_call *c);
void route_instance_fetch(struct http_call *c);
void route_instance_presence(struct http_call *c);
void route_instance_logout(struct http_call *c);
void route_instance_delete(struct http_call *c);
void route_settings_set(struct http_call *c);
void route_settings_find(struct http_call *c);
void route_webhook_set(struct http_call *c);
void route_webhook_find(struct http_call *c);
void route_proxy_set(struct http_call *c);
void route_proxy_find(struct http_call *c);
void route_transport_set(struct http_call *c);
void route_transport_find(struct http_call *c);
void route_verify_creds(struct http_call *c);
void route_chat_find_messages(struct http_call *c);
void route_chat_find_chats(struct http_call *c);
void route_chat_find_contacts(struct http_call *c);
void route_message_send_text(struct http_call *c);
void route_chat_whatsapp_numbers(struct http_call *c);
void route_chat_mark_read(struct http_call *c);
void route_chat_send_presence(struct http_call *c);
void route_group_create(struct http_call *c);
void route_group_find_info(struct http_call *c);
void route_group_fetch_all(struct http_call *c);
void route_group_participants(struct http_call *c);

#endif
