/* Version string of the WhatsApp protocol library, shown in logs. */
const char *wa_library_version = "wagate-wa 0.1";
