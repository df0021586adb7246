/* The control API's route handlers (the table is in fw_ctl.c, the API in fw_ctl.h). Each answers exactly once
 * through fw_ctl_reply, at once or, for the mock phone, when the pairing ends. */
#ifndef WAGATE_FW_ROUTES_H
#define WAGATE_FW_ROUTES_H

struct fw_account;
struct fw_ctl_call;

/* fw_routes_phone.c: helpers of the phone's routes. The account an account=DIGITS (or phone=DIGITS) parameter
 * names, or NULL after a 404 answer; and an error answer {"error":err} with this status. */
struct fw_account *fw_route_phone_account(struct fw_ctl_call *call);
void fw_route_error(struct fw_ctl_call *call, int code, const char *err);

/* fw_routes_clients.c: inspect the connections and inject faults. */
void fw_route_clients(struct fw_ctl_call *call);
void fw_route_drop(struct fw_ctl_call *call);
void fw_route_stream_error(struct fw_ctl_call *call);
void fw_route_stream_end(struct fw_ctl_call *call);
void fw_route_stall(struct fw_ctl_call *call);
void fw_route_unstall(struct fw_ctl_call *call);
void fw_route_reg_refresh(struct fw_ctl_call *call);

/* fw_routes_phone.c: the mock phone and its accounts. */
void fw_route_scan_qr(struct fw_ctl_call *call);
void fw_route_pair_code(struct fw_ctl_call *call);
void fw_route_remove_device(struct fw_ctl_call *call);
void fw_route_prekey_low(struct fw_ctl_call *call);
void fw_route_accounts(struct fw_ctl_call *call);

/* fw_routes_phone.c: the phone's messaging (fw_phone_signal.h). */
void fw_route_phone_send(struct fw_ctl_call *call);
void fw_route_phone_received(struct fw_ctl_call *call);
void fw_route_phone_fail_next(struct fw_ctl_call *call);
void fw_route_phone_group_create(struct fw_ctl_call *call);
void fw_route_phone_group_add(struct fw_ctl_call *call);
void fw_route_groups(struct fw_ctl_call *call);
void fw_route_phone_reinstall(struct fw_ctl_call *call);
void fw_route_phone_receipts(struct fw_ctl_call *call);
void fw_route_phone_receipt(struct fw_ctl_call *call);
void fw_route_phone_redeliver(struct fw_ctl_call *call);
void fw_route_phone_history(struct fw_ctl_call *call);
void fw_route_account_new(struct fw_ctl_call *call);

/* fw_media.c: the media host (fw_media.h). */
void fw_route_media_get(struct fw_ctl_call *call);
void fw_route_media_list(struct fw_ctl_call *call);

/* fw_call.c: calls (fw_call.h). */
void fw_route_phone_call(struct fw_ctl_call *call);
void fw_route_phone_call_end(struct fw_ctl_call *call);
void fw_route_phone_calls(struct fw_ctl_call *call);

#endif
