/* wa_probe --pair --commands: the group side of the test companion, for tests/fakewa/group_e2e.py. Commands
 * (stdin, after the connection number; probe_msg.h hands every verb starting with "g" here):
 *   gcreate <subject> <user jid>[,...]     w:g2 create, iq id probe-gcreate
 *   gquery <group jid>                     w:g2 metadata query, iq id probe-gquery
 *   gjoined                                w:g2 participating, iq id probe-gjoined
 *   gadd|gremove <group jid> <user jid>[,...]   w:g2 participants change, iq id probe-gchange
 *   gsend <msg id> <group jid> <phash|-> <device jid,...|-> <text...>
 *           the companion's sender key for the group (made on first use) goes pairwise to the listed devices
 *           (sessions from key commands; pkmsg/msg in <participants>), the text as one skmsg
 * Lines (stdout, flushed):
 *   GROUP <conn#> <iq id> <group jid> subject=<s> creator=<jid> participants=<jid[!error]>,...
 *   GROUPS <conn#> <group jid>,...|-       GCHANGE <conn#> <add|remove> <jid>=<error|ok>,...
 *   GERROR <conn#> <iq id> <code>
 *   NOTIF <conn#> w:gp2 <group jid> <create|add|remove|...> actor=<jid> <participant jids,...|->
 *   GMSG <conn#> <group> <participant> <id> offline=<0|1> encs=<type,...>   (answered with a receipt)
 *   GTEXT <conn#> <group> <participant> <id> <text>     GDECRYPT-FAIL <conn#> <group> <participant> <id> <why>
 *   GSENT <conn#> <id> skdm=<n devices>    or     GSEND-FAIL <conn#> <id> <reason> */
#ifndef WAGATE_PROBE_GROUP_H
#define WAGATE_PROBE_GROUP_H

struct fw_sigstore;
struct wa_conn;
struct wa_node;

/* A node from the server: 1 if it was a group one (printed and answered), else 0. */
int probe_group_node(int idx, struct fw_sigstore *st, struct wa_conn *c, const struct wa_node *n);
/* Run one g... command line (without the connection number). */
void probe_group_command(int idx, struct fw_sigstore *st, struct wa_conn *c, char *line);

#endif
