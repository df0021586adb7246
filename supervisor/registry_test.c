/* registry: insert, find by name and id, growth, removal. */
#include "registry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static int
count_cb(struct instance *inst, void *arg)
{
	(void)inst;
	(*(int *)arg)++;
	return 0;
}

static void
test_registry_many(void **state)
{
	struct registry *r = registry_new();
	char id[64], name[64];
	int i, n = 0;

	(void)state;
	for (i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		snprintf(name, sizeof(name), "name-%d", i);
		registry_add(r, instance_new(id, name, "TOKEN"));
	}
	assert_int_equal(registry_count(r), 1000);
	assert_non_null(registry_find(r, "name-0"));
	assert_string_equal(registry_find(r, "name-999")->id, "id-999");
	assert_string_equal(registry_find_id(r, "id-500")->name, "name-500");
	assert_null(registry_find(r, "name-1000"));
	assert_null(registry_find_id(r, "name-1"));
	registry_remove(r, registry_find(r, "name-500"));
	assert_null(registry_find(r, "name-500"));
	assert_null(registry_find_id(r, "id-500"));
	assert_int_equal(registry_count(r), 999);
	registry_foreach(r, count_cb, &n);
	assert_int_equal(n, 999);
	registry_free(r);
	registry_free(NULL);
}

static void
test_instance_defaults(void **state)
{
	struct instance *inst = instance_new("i", "n", "t");

	(void)state;
	assert_int_equal(inst->state, CONN_CLOSE);
	assert_string_equal(conn_state_name(inst->state), "close");
	assert_string_equal(inst->integration, "WHATSAPP-BAILEYS");
	assert_null(inst->settings.msg_call);	/* unset, as common/settings.h has it */
	instance_set_str(&inst->number, "5511");
	instance_set_str(&inst->number, NULL);
	assert_null(inst->number);
	instance_free(inst);
}

/* Appends each visited name to the buffer in arg. */
static int
names_cb(struct instance *inst, void *arg)
{
	strcat(arg, inst->name);
	return 0;
}

/* fetchInstances' order: created_us, then name, whatever the order of the adds; removal keeps it. */
static void
test_registry_order(void **state)
{
	static const struct { const char *name; int64_t us; } in[] = {
		{ "d", 30 }, { "b", 10 }, { "c", 20 }, { "a", 20 }, { "e", 5 }, { "f", 40 },
	};
	struct registry *r = registry_new();
	struct instance *inst;
	char order[16] = "";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		inst = instance_new(in[i].name, in[i].name, "T");
		inst->created_us = in[i].us;
		registry_add(r, inst);
	}
	registry_foreach(r, names_cb, order);
	assert_string_equal(order, "ebacdf");
	registry_remove(r, registry_find(r, "a"));
	registry_remove(r, registry_find(r, "f"));
	order[0] = '\0';
	registry_foreach(r, names_cb, order);
	assert_string_equal(order, "ebcd");
	registry_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_many),
		cmocka_unit_test(test_instance_defaults),
		cmocka_unit_test(test_registry_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
